"""The dashboard on the admin index: each figure counts what its link lists (issue 4)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from execution.models import DataValue
from integration.dashboard import build_dashboard
from integration.ingestion.service import receive_device_event
from integration.models import IntegrationMessage
from tests.factories import UserFactory, person_in_role, reflow_event

INDEX = reverse("admin:index")


@pytest.fixture
def quality_user(db):
    return person_in_role("quality staff")


@pytest.fixture
def quality(client, quality_user):
    client.force_login(quality_user)
    return client


def every_figure(dashboard):
    for _status, figures in dashboard.messages_by_status:
        yield from figures
    yield from dashboard.attention
    for _label, figures in dashboard.values:
        yield from figures


def listed_count(client, url) -> int:
    response = client.get(url)
    assert response.status_code == 200, (url, response.get("Location"))
    return response.context["cl"].result_count


def test_every_figure_counts_what_its_link_lists(quality, quality_user, traffic):
    dashboard = build_dashboard(quality_user)

    figures = list(every_figure(dashboard))
    assert len(figures) == 4 * 2 + 2 + 3 * 2
    for figure in figures:
        assert listed_count(quality, figure.url) == figure.count, figure


def test_figures_report_the_traffic_by_status_and_judgement(quality_user, traffic):
    dashboard = build_dashboard(quality_user)

    by_status = {
        status: [f.count for f in figures] for status, figures in dashboard.messages_by_status
    }
    assert by_status == {
        "SUCCESS": [2, 2],
        "DUPLICATE": [1, 1],
        "CONFLICT": [1, 1],
        "FAILED": [1, 1],
    }
    assert [figure.count for figure in dashboard.attention] == [1, 1]
    # evt-hot's value (260) is out of spec and alarmed: received now, whatever its event time.
    assert {label: [f.count for f in figures] for label, figures in dashboard.values} == {
        "Out of spec (FAIL)": [1, 1],
        "Alarmed": [1, 1],
        "Out of spec, not held": [0, 0],  # its HOLD alarm held its unit
    }


def test_an_alarmed_value_received_now_with_an_old_event_time_is_counted(
    quality, quality_user, gateway, line
):
    old = (timezone.now() - timedelta(days=30)).isoformat()
    receive_device_event(reflow_event("evt-buffered", 260, eventTime=old), sent_by=gateway)

    figures = dict(build_dashboard(quality_user).values)

    assert [f.count for f in figures["Alarmed"]] == [1, 1]
    for figure in figures["Alarmed"]:
        assert listed_count(quality, figure.url) == 1


def test_value_figures_count_values_received_in_each_window(quality, quality_user, line, gateway):
    now = timezone.now()
    for index, (age, value) in enumerate(
        [(timedelta(hours=1), 260), (timedelta(days=2), 239), (timedelta(days=9), 260)]
    ):
        receive_device_event(reflow_event(f"evt-age-{index}", value), sent_by=gateway)
        DataValue.objects.filter(source_ref=f"device-data:evt-age-{index}").update(
            created_at=now - age
        )

    dashboard = build_dashboard(quality_user)

    figures = dict(dashboard.values)
    assert [f.count for f in figures["Out of spec (FAIL)"]] == [1, 2]
    assert [f.count for f in figures["Alarmed"]] == [1, 1]
    for figure in figures["Out of spec (FAIL)"] + figures["Alarmed"]:
        assert listed_count(quality, figure.url) == figure.count


def test_the_values_card_says_it_counts_by_receipt(quality, traffic):
    page = quality.get(INDEX).content.decode()

    assert "Values received" in page
    assert "by the time the MES received them" in page


def test_messages_older_than_the_window_are_not_counted(quality_user, traffic):
    IntegrationMessage.objects.filter(pk=traffic.failed.pk).update(
        created_at=timezone.now() - timedelta(days=3)
    )

    dashboard = build_dashboard(quality_user)

    assert [f.count for f in dict(dashboard.messages_by_status)["FAILED"]] == [0, 1]
    assert dashboard.attention[0].count == 1  # still unresolved, whatever its age


def test_the_index_shows_the_figures_and_the_latest_events(quality, traffic):
    response = quality.get(INDEX)
    page = response.content.decode()

    assert 'aria-label="Quality dashboard"' in page
    failed_url = reverse("admin:integration_integrationmessage_changelist")
    assert f'href="{failed_url}?status__exact=FAILED&amp;resolved=no&amp;acknowledged=no"' in page
    assert "FAILED messages not yet resolved" in page
    record_url = reverse("admin:integration_devicedatarecord_change", args=[traffic.hot_record.pk])
    assert f'href="{record_url}">evt-hot</a>' in page
    # The model list is still there below the figures.
    assert reverse("admin:execution_dataspec_changelist") in page


def test_the_index_renders_in_a_bounded_number_of_queries(
    quality, traffic, django_assert_max_num_queries
):
    # One count per figure: 27 since the values out of spec and not held (two windows).
    with django_assert_max_num_queries(27):
        page = quality.get(INDEX).content.decode()

    # The bounded queries are the ones that show the figures and the latest events.
    assert 'aria-label="Quality dashboard"' in page
    assert "FAILED messages not yet resolved" in page
    assert "evt-hot" in page


def test_staff_without_permissions_see_no_figures(client, traffic):
    client.force_login(UserFactory(username="newcomer", is_staff=True))

    page = client.get(INDEX).content.decode()

    assert 'aria-label="Quality dashboard"' not in page
    assert "evt-hot" not in page


def test_the_dashboard_shows_only_the_sections_a_person_may_view(db, traffic):
    records_only = UserFactory(username="records-only", is_staff=True)
    records_only.user_permissions.add(Permission.objects.get(codename="view_devicedatarecord"))

    dashboard = build_dashboard(records_only)

    assert dashboard.messages_by_status == [] and dashboard.attention == []
    assert dashboard.values == []
    assert [record.event_id for record in dashboard.latest_records] == ["evt-hot", "evt-0001"]
