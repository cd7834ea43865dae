"""The unit's page as a timeline (issue 26): rows in the order the MES received them with
the device's time beside, each row's details folded under it, and the unit's verdict
(status, FAIL values, open hold) at the top."""

import re
from datetime import timedelta

from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from execution.holds import close_hold
from execution.models import Hold, Unit
from execution.unit_history import Cursor, Kind
from execution.unit_links import unit_page_url
from integration.admin import unit_page_admin
from integration.ingestion.service import receive_device_event
from integration.unit_history import whole_history
from tests.factories import DataValueFactory, UserFactory, reflow_event


def iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_gateway_clock_ahead_does_not_list_the_hold_above_the_value_that_opened_it(
    quality, line, gateway
):
    # The gateway's clock is 40 s fast: its event says it happened in the future.
    ahead = timezone.now() + timedelta(seconds=40)
    receive_device_event(reflow_event("evt-hot", 260, eventTime=iso(ahead)), sent_by=gateway)
    hold = Hold.objects.get(unit=line.unit)

    rows = quality.get(unit_page_url(line.unit)).context["page"].rows

    kinds = [row.kind for row in rows]
    assert kinds.index(Kind.VALUE) < kinds.index(Kind.HOLD_OPENED)
    value = next(row for row in rows if row.kind == Kind.VALUE)
    assert value.device_at == ahead.replace(microsecond=0)  # kept, beside
    assert value.at < ahead and abs(value.at - hold.opened_at) < timedelta(seconds=1)
    assert [row.key for row in rows] == sorted(row.key for row in rows)


def test_each_row_has_a_received_clock_and_the_devices_time_labelled_beside_it(
    quality, line, gateway, traffic
):
    html = quality.get(unit_page_url(line.unit)).content.decode()

    rows = re.findall(r'<li class="mes-history-row.*?</li>', html, re.S)
    assert rows, "no timeline rows"
    for row in rows:
        assert row.count('class="mes-received"') == 1
        assert '<span class="mes-clock-label">received</span>' in row
    hot = next(row for row in rows if "mes-row-fail" in row)
    assert '<span class="mes-clock-label">device</span>' in hot
    assert "2026-01-24 11:00:00" in hot  # the event's own time


def test_a_rows_details_are_folded_under_it_without_columns_off_screen(
    quality, line, gateway, traffic
):
    response = quality.get(unit_page_url(line.unit))
    html = response.content.decode()

    assert "<table" not in html.split('id="unit-history-module"')[1]
    conflict = next(r for r in response.context["page"].rows if r.status == "CONFLICT")
    row = re.search(
        rf'<li class="mes-history-row[^"]*"[^>]*>(?:(?!</li>).)*message #{conflict.pk}<.*?</li>',
        html,
        re.S,
    ).group(0)
    summary, details = row.split("</summary>")
    assert "EVENT_ID_CONFLICT" in summary  # why it was refused, in the row's line
    assert "<details>" in row and "<dt>eventId</dt><dd>evt-0001</dd>" in details
    assert "<dt>By</dt><dd>gw-reflow-1</dd>" in details


def test_a_rework_note_is_under_its_row_in_full(quality, line, gateway, traffic):
    note = "Thermocouple TC-3 re-seated; the board goes back to step 40 for a second reflow. " * 2
    close_hold(Hold.objects.get().pk, disposition="REWORK", note=note.strip(), closed_by=None)

    html = quality.get(unit_page_url(line.unit)).content.decode()

    closed = re.search(r'<li class="mes-history-row mes-kind-HOLD_CLOSED.*?</li>', html, re.S)
    assert f'<dd class="mes-row-note-full">{note.strip()}</dd>' in closed.group(0)


def test_the_verdict_names_the_status_the_failed_values_and_the_open_hold(
    quality, line, gateway, traffic
):
    hold = Hold.objects.get()

    response = quality.get(unit_page_url(line.unit))

    verdict = response.context["verdict"]
    assert (verdict.word, verdict.values, verdict.failed_values) == ("ON HOLD", 2, 1)
    assert verdict.open_hold == hold
    html = response.content.decode()
    top = html.split('id="unit-verdict"')[1].split('id="unit-header"')[0]
    assert "ON HOLD" in top and "1 of its 2 value(s) judged FAIL, 1 alarmed" in top
    assert reverse("admin:execution_hold_change", args=[hold.pk]) in top
    # First on the page: before the header, the passes and the history.
    assert html.index('id="unit-verdict"') < html.index('id="unit-header"')


def test_a_done_unit_without_a_fail_says_so_and_has_no_hold(quality, line):
    DataValueFactory.create_batch(3, track=line.track, spec=line.conveyor, value_number=80)
    Unit.objects.filter(pk=line.unit.pk).update(status=Unit.Status.DONE)

    response = quality.get(unit_page_url(line.unit))

    verdict = response.context["verdict"]
    assert (verdict.word, verdict.failed_values, verdict.open_hold) == ("DONE", 0, None)
    assert "no value judged FAIL (of 3)" in response.content.decode()


def test_a_unit_without_values_says_none_was_collected(quality, line):
    html = quality.get(unit_page_url(line.unit)).content.decode()

    assert "QUEUED" in html and "no value collected yet" in html


def test_the_verdict_leaves_out_what_the_person_may_not_view(client, line, gateway, traffic):
    person = UserFactory(username="unit-viewer", is_staff=True)
    person.user_permissions.add(Permission.objects.get(codename="view_unit"))
    client.force_login(person)

    response = client.get(unit_page_url(line.unit))

    verdict = response.context["verdict"]
    assert (verdict.word, verdict.values, verdict.open_hold) == ("ON HOLD", None, None)
    assert 'id="unit-open-hold"' not in response.content.decode()


def test_a_cursor_names_a_whole_second_and_an_older_one_still_reads():
    moment = timezone.now().replace(microsecond=123456)

    parsed = Cursor.parse(f"{moment.isoformat()}~3~7")

    assert parsed == Cursor(moment.replace(microsecond=0), 3, 7)


def test_pages_of_mixed_kinds_in_one_second_repeat_and_skip_nothing(
    quality, line, gateway, traffic, monkeypatch
):
    for n in range(4):
        receive_device_event(reflow_event(f"evt-page-{n}", 245), sent_by=gateway)
    monkeypatch.setattr(unit_page_admin, "PAGE_ROWS", 3)

    seen, url = [], unit_page_url(line.unit)
    while url:
        response = quality.get(url)
        seen += [row.key for row in response.context["page"].rows]
        url = response.context["next_url"]

    everything = [row.key for row in whole_history(line.unit, response.wsgi_request.user, 1_000)]
    assert seen == everything == sorted(everything)
    kinds = {Kind.values[key.rank] for key in seen}
    assert {Kind.TRACK_IN, Kind.MESSAGE, Kind.RECORD, Kind.VALUE, Kind.HOLD_OPENED} <= kinds
