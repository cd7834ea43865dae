"""Holds in the back office and the read API (docs/holds.md): the list, a hold's
page with the values behind it, the disposition form (release_hold only), the dashboard's
open holds and `GET /api/integration/holds`."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from execution.models import Hold, Unit
from integration.ingestion.service import receive_device_event
from tests.conftest import make_event
from tests.factories import TrackFactory, UnitFactory, person_in_role

HOLDS_API = "/api/integration/holds"


def hold_of(gateway, event_id="evt-hot", value=260, **overrides) -> Hold:
    event = make_event(
        eventId=event_id, data=[{"specName": "Peak Temperature", "valueNumber": value}], **overrides
    )
    outcome = receive_device_event(event, sent_by=gateway)
    return Hold.objects.get(pk=outcome.hold.hold_id)


def page_of(hold):
    return reverse("admin:execution_hold_change", args=[hold.pk])


def close_url(hold):
    return reverse("admin:execution_hold_close", args=[hold.pk])


@pytest.fixture
def hold(line, gateway):
    return hold_of(gateway)


def test_quality_staff_see_open_holds_in_the_list_with_a_link_to_the_unit(quality, hold):
    response = quality.get(reverse("admin:execution_hold_changelist") + "?open=yes")

    body = response.content.decode()
    assert response.status_code == 200
    assert reverse("admin:execution_unit_page", args=[hold.unit_id]) in body
    assert "SN-0001" in body and "Peak Temperature" in body and "open" in body


def test_a_holds_page_shows_the_values_behind_it_and_the_disposition_form(quality, hold, gateway):
    hold_of(gateway, "evt-hot-2", 231, eventTime="2026-01-24T10:30:00Z")

    response = quality.get(page_of(hold))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="disposition-form"' in body
    assert "Collected values (2)" in body
    assert "260" in body and "231" in body
    assert "alarm 235 – 255 (HOLD)" in body


def test_a_holds_page_names_the_rule_value_and_event_that_opened_it(quality, hold):
    body = quality.get(page_of(hold)).content.decode()

    assert "Opened by:" not in body  # a rule opens a hold, not a person
    assert "Opened by the rule:" in body and "Peak Temperature (OP-REFLOW)" in body
    assert "On the value:" in body and "260.0" in body and "(device time)" in body
    assert reverse("admin:execution_datavalue_change", args=[hold.first_value_id]) in body
    assert "Of the event (eventId):" in body and "evt-hot" in body


def test_a_holds_buttons_say_what_they_do(quality, hold):
    body = quality.get(page_of(hold)).content.decode()

    assert 'class="closelink"' not in body  # the admin's grey "Close" (back to the list)
    assert 'value="Close this hold with this disposition"' in body
    back = body.index('id="back-to-holds"')
    assert body.index('id="disposition-form"') < back
    assert reverse("admin:execution_hold_changelist") in body[back:]
    assert "Back to holds" in body[back:]


def test_quality_staff_close_a_hold_and_the_unit_follows_the_disposition(quality, hold):
    response = quality.post(close_url(hold), {"disposition": "REWORK", "note": "Reflowed again"})

    assert response.status_code == 302
    assert response["Location"] == page_of(hold)
    hold.refresh_from_db()
    assert (hold.disposition, hold.note, hold.closed_by.username) == (
        "REWORK",
        "Reflowed again",
        "quality-staff",
    )
    assert Unit.objects.get(pk=hold.unit_id).status == Unit.Status.REWORK
    page = quality.get(page_of(hold)).content.decode()
    assert "closed: rework" in page
    assert 'id="disposition-form"' not in page


def test_a_disposition_without_a_note_is_refused_with_the_reason(quality, hold):
    response = quality.post(close_url(hold), {"disposition": "RELEASE", "note": "   "}, follow=True)

    assert response.status_code == 200
    assert f"Hold {hold.pk} was not closed (note: This field is required.)" in (
        response.content.decode()
    )
    hold.refresh_from_db()
    assert hold.is_open


def test_closing_a_hold_closed_a_moment_ago_says_so_and_changes_nothing(quality, hold):
    quality.post(close_url(hold), {"disposition": "SCRAP", "note": "burnt"})

    response = quality.post(
        close_url(hold), {"disposition": "RELEASE", "note": "fine"}, follow=True
    )

    assert "was closed at" in response.content.decode()
    assert Unit.objects.get(pk=hold.unit_id).status == Unit.Status.SCRAPPED


@pytest.mark.parametrize("role", ["integration admin", "gateway"])
def test_people_without_release_hold_cannot_close_a_hold(client, hold, role):
    client.force_login(person_in_role(role))

    response = client.post(close_url(hold), {"disposition": "RELEASE", "note": "ok"})

    assert response.status_code in (302, 403)
    if response.status_code == 302:  # not staff: the admin's login page
        assert "/login/" in response["Location"]
    hold.refresh_from_db()
    assert hold.is_open
    assert Unit.objects.get(pk=hold.unit_id).status == Unit.Status.ON_HOLD


def test_integration_admins_see_a_hold_without_the_disposition_form(integration, hold):
    response = integration.get(page_of(hold))

    assert response.status_code == 200
    assert 'id="disposition-form"' not in response.content.decode()


def test_nobody_edits_or_deletes_a_hold_in_the_admin(client, hold):
    client.force_login(person_in_role("superuser"))

    assert client.post(page_of(hold), {"note": "changed"}).status_code == 403
    delete = reverse("admin:execution_hold_delete", args=[hold.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Hold.objects.filter(pk=hold.pk, note="").exists()


def test_the_dashboard_lists_open_holds_oldest_first_linking_to_their_units(quality, line, gateway):
    first = hold_of(gateway, "evt-a")
    other = UnitFactory(sn="SN-0002", run=line.run)
    TrackFactory(unit=other, step_no=40, station=line.station)
    second = hold_of(gateway, "evt-b", unitSn="SN-0002")

    body = quality.get(reverse("admin:index")).content.decode()

    assert "Open holds: 2" in body
    section = body[body.index('id="dashboard-holds"') :]
    assert section.index(">SN-0001<") < section.index(">SN-0002<")
    for hold in (first, second):
        assert reverse("admin:execution_unit_page", args=[hold.unit_id]) in section


# --- GET /api/integration/holds ---------------------------------------------------------------


def api_as(role):
    client = APIClient()
    client.force_authenticate(person_in_role(role))
    return client


def test_the_holds_api_lists_open_holds_with_their_cause(line, gateway, hold):
    response = api_as("quality staff").get(HOLDS_API, {"open": "true"})

    assert response.status_code == 200
    [item] = response.json()["data"]["items"]
    assert item["id"] == str(hold.pk)
    assert item["unitSn"] == "SN-0001" and item["runNo"] == "RUN-2026-001"
    assert item["specName"] == "Peak Temperature" and item["eventId"] == "evt-hot"
    assert item["isOpen"] is True and item["valueCount"] == 1
    assert item["limits"]["alarm"]["action"] == "HOLD"
    assert item["disposition"] == "" and item["closedBy"] is None


def test_the_holds_api_filters_by_open_unit_run_spec_and_date(line, gateway, quality, hold):
    quality.post(close_url(hold), {"disposition": "RELEASE", "note": "ok"})
    reopened = hold_of(gateway, "evt-again", eventTime="2026-01-24T10:40:00Z")
    client = api_as("integration admin")

    def ids(**params):
        response = client.get(HOLDS_API, params)
        assert response.status_code == 200, response.json()
        return [item["id"] for item in response.json()["data"]["items"]]

    assert ids(open="true") == [str(reopened.pk)]
    assert ids(open="false") == [str(hold.pk)]
    assert ids(unitSn="SN-0001") == [str(reopened.pk), str(hold.pk)]
    assert ids(unitSn="SN-9999") == []
    assert ids(runNo="RUN-2026-001", specId=str(line.peak.pk)) == [str(reopened.pk), str(hold.pk)]
    assert ids(openedFrom=reopened.opened_at.isoformat()) == [str(reopened.pk)]


def test_the_holds_api_refuses_gateways_and_bad_dates(hold):
    assert api_as("gateway").get(HOLDS_API).status_code == 403
    response = api_as("quality staff").get(HOLDS_API, {"openedFrom": "yesterday"})
    assert response.status_code == 400


# --- the unit's form cannot go around a hold --------------------------------------------------


def unit_form(unit, **changes):
    return {"sn": unit.sn, "run": unit.run_id or "", "status": unit.status, **changes}


def test_the_unit_form_cannot_free_a_held_unit(integration, hold):
    unit = Unit.objects.get(pk=hold.unit_id)
    url = reverse("admin:execution_unit_change", args=[unit.pk])

    response = integration.post(url, unit_form(unit, status="QUEUED"))

    assert response.status_code == 302
    assert Unit.objects.get(pk=unit.pk).status == Unit.Status.ON_HOLD
    assert Hold.objects.get(pk=hold.pk).is_open


def test_a_unit_form_opened_before_the_hold_cannot_write_the_old_status_back(
    integration, line, gateway
):
    unit = Unit.objects.get(pk=line.unit.pk)
    stale = unit_form(unit)  # the form as it was read, status QUEUED
    hold_of(gateway)

    integration.post(reverse("admin:execution_unit_change", args=[unit.pk]), stale)

    assert Unit.objects.get(pk=unit.pk).status == Unit.Status.ON_HOLD


def test_nobody_puts_a_unit_on_hold_by_hand(integration, line):
    url = reverse("admin:execution_unit_change", args=[line.unit.pk])

    response = integration.post(url, unit_form(line.unit, status="ON_HOLD"))

    assert response.status_code == 200  # the form again, with the error
    assert "Select a valid choice" in response.content.decode()
    assert Unit.objects.get(pk=line.unit.pk).status == Unit.Status.QUEUED
