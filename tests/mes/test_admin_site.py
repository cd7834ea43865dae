"""What every back-office page shares: the product's name, a real "View site", one
date-time format with seconds and one dash for an empty cell (issue 14)."""

import re
from datetime import UTC, datetime

from django.urls import reverse

from execution.models import DataValue
from integration.models import IntegrationMessage
from mes.admin.site import moment

MOMENT = re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\b")


def test_pages_name_the_product_not_django(quality):
    page = quality.get(reverse("admin:index")).content.decode()

    assert "Django administration" not in page and "Django site admin" not in page
    assert "<title>Quality and integration | SMT MES</title>" in page
    assert "SMT MES back office" in page


def test_view_site_leads_to_the_api_documentation(quality, client):
    page = quality.get(reverse("admin:index")).content.decode()

    assert '<a href="/api/docs/">View site</a>' in page
    assert client.get("/api/docs/").status_code == 200


def test_a_moment_reads_with_seconds_in_the_sites_time_zone(settings):
    assert moment(datetime(2026, 11, 30, 14, 3, 27, 500, tzinfo=UTC)) == "2026-11-30 14:03:27"
    settings.TIME_ZONE = "Europe/Berlin"
    assert moment(datetime(2026, 11, 30, 14, 3, 27, tzinfo=UTC)) == "2026-11-30 15:03:27"
    assert moment(None) == "—"


def test_lists_show_date_times_with_seconds(quality, traffic):
    message = IntegrationMessage.objects.get(pk=traffic.success.pk)
    listed = quality.get(reverse("admin:integration_integrationmessage_changelist"))

    assert moment(message.created_at) in listed.content.decode()
    values = quality.get(reverse("admin:execution_datavalue_changelist")).content.decode()
    assert "2026-01-24 10:00:00" in values
    assert "a.m." not in values and "p.m." not in values


def test_detail_pages_show_date_times_with_seconds(quality, traffic):
    value = DataValue.objects.filter(source_ref="device-data:evt-hot").get()

    page = quality.get(reverse("admin:execution_datavalue_change", args=[value.pk]))

    assert moment(value.collected_at) in page.content.decode()
    assert moment(value.created_at) in page.content.decode()


def test_an_empty_cell_is_one_dash(quality, traffic):
    page = quality.get(
        reverse("admin:integration_integrationmessage_changelist") + "?status__exact=SUCCESS"
    ).content.decode()

    error_code_cell = re.search(r'<td class="field-error_code">([^<]*)</td>', page)
    assert error_code_cell.group(1) == "—"


def test_the_messages_list_leaves_out_the_columns_that_never_change(quality, traffic):
    page = quality.get(reverse("admin:integration_integrationmessage_changelist")).content.decode()

    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert "system" not in headers and "entity_type" not in headers
    assert headers[:4] == ["id", "created_at", "status_badge", "business_key"]
