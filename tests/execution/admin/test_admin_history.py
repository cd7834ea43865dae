"""The change history of holds, failure dispositions and reason codes on each one's
History page (django-simple-history; docs/holds.md "History"), and the reason code the
disposition forms ask for once the plant keeps a list."""

import pytest
from django.urls import reverse

from execution.models import FailureDisposition, Hold, ReasonCode
from tests.execution.admin.test_admin_failure_dispositions import dispose_url, failed_unit
from tests.execution.admin.test_admin_holds import close_url, hold_of, page_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def hold(line, gateway):
    return hold_of(gateway)


def history_of(client, model: str, pk: int) -> str:
    response = client.get(reverse(f"admin:execution_{model}_history", args=[pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_holds_history_shows_the_rule_that_opened_it_and_the_person_who_closed_it(quality, hold):
    ReasonCode.objects.create(code="MEASUREMENT", name="Measurement error")
    quality.post(
        close_url(hold),
        {"disposition": "RELEASE", "note": "Thermocouple loose", "reason": "MEASUREMENT"},
    )

    records = list(Hold.history.filter(id=hold.pk).order_by("history_date"))
    assert [record.history_type for record in records] == ["+", "~"]
    assert records[0].history_user is None
    assert records[0].history_change_reason == "Opened by the HOLD alarm of its spec"
    assert records[1].history_user.username == "quality-staff"
    assert (records[1].disposition, records[1].reason.code) == ("RELEASE", "MEASUREMENT")
    page = history_of(quality, "hold", hold.pk)
    assert "Opened by the HOLD alarm of its spec" in page
    assert "quality-staff" in page and "Thermocouple loose" in page


def test_the_hold_form_asks_for_a_reason_code_once_the_list_has_one(quality, hold):
    assert 'name="reason"' not in quality.get(page_of(hold)).content.decode()
    ReasonCode.objects.create(code="MEASUREMENT", name="Measurement error")

    page = quality.get(page_of(hold)).content.decode()
    refused = quality.post(close_url(hold), {"disposition": "RELEASE", "note": "ok"}, follow=True)

    assert 'name="reason"' in page and "MEASUREMENT — Measurement error" in page
    assert "was not closed (reason: This field is required.)" in refused.content.decode()
    assert Hold.objects.get(pk=hold.pk).is_open


def test_a_code_retired_after_the_form_was_shown_is_refused_by_the_service(quality, hold):
    ReasonCode.objects.create(code="MEASUREMENT", name="Measurement error")
    ReasonCode.objects.create(code="OTHER", name="Other")
    form_was_shown_with = "MEASUREMENT"
    ReasonCode.objects.filter(code="MEASUREMENT").update(is_active=False)

    refused = quality.post(
        close_url(hold),
        {"disposition": "RELEASE", "note": "ok", "reason": form_was_shown_with},
        follow=True,
    )

    assert "was not closed" in refused.content.decode()
    assert Hold.objects.get(pk=hold.pk).is_open


def test_a_failed_units_disposition_has_a_history_with_who_decided(quality, route_line):
    unit = failed_unit(route_line)
    ReasonCode.objects.create(code="SOLDER", name="Solder defect")

    response = quality.post(
        dispose_url(unit), {"disposition": "SCRAP", "note": "Burnt", "reason": "SOLDER"}
    )

    assert response.status_code == 302
    decision = FailureDisposition.objects.get(unit=unit)
    assert decision.reason.code == "SOLDER"
    page = history_of(quality, "failuredisposition", decision.pk)
    assert "quality-staff" in page


def test_quality_staff_keep_the_list_and_a_codes_history_shows_its_changes(quality):
    added = quality.post(
        reverse("admin:execution_reasoncode_add"),
        {"code": "MATERIAL", "name": "Material", "description": "", "is_active": "on"},
    )
    assert added.status_code == 302
    code = ReasonCode.objects.get(code="MATERIAL")
    quality.post(
        reverse("admin:execution_reasoncode_change", args=[code.pk]),
        {"name": "Material from supplier", "description": "", "is_active": ""},
    )

    code.refresh_from_db()
    assert (code.code, code.name, code.is_active) == ("MATERIAL", "Material from supplier", False)
    page = history_of(quality, "reasoncode", code.pk)
    assert page.count("quality-staff") >= 2


def test_a_history_page_offers_no_way_back(quality, hold):
    quality.post(close_url(hold), {"disposition": "RELEASE", "note": "fine"})
    first = Hold.history.filter(id=hold.pk).order_by("history_date").first()

    page = quality.get(
        reverse("admin:execution_hold_simple_history", args=[hold.pk, first.history_id])
    )

    assert page.status_code in (200, 403)
    assert "Revert" not in page.content.decode()
    assert not Hold.objects.get(pk=hold.pk).is_open
