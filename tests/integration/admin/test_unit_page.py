"""The unit's page: its header, its history in time order, message counts, CSV, paging,
who may see it, the search from the admin index, and the links to it from other lists."""

import csv
import io
from datetime import datetime, timedelta

import pytest

from execution.holds import close_hold
from execution.models import Hold, Unit
from execution.unit_history import Cursor, Kind, unit_scope
from execution.unit_links import unit_by_sn_url, unit_link, unit_page_url
from integration.admin import unit_page_admin
from integration.ingestion.errors import EventRefused
from integration.ingestion.service import receive_device_event
from integration.unit_history import history_page, whole_history
from integration.unit_history_csv import COLUMNS
from tests.factories import (
    BASE_TIME,
    DataValueFactory,
    TrackFactory,
    UnitFactory,
    UserFactory,
    person_in_role,
    reflow_event,
)

EVERY_KIND = {
    Kind.TRACK_IN,
    Kind.TRACK_OUT,
    Kind.RECORD,
    Kind.VALUE,
    Kind.MESSAGE,
    Kind.HOLD_OPENED,
    Kind.HOLD_CLOSED,
}


@pytest.fixture
def unit_story(line, gateway, traffic):
    """SN-0001's story: received traffic (a record sent twice and once with another value,
    a FAIL that opened a hold), a refused event of its own, its pass left, the hold closed."""
    try:
        receive_device_event(
            reflow_event(
                "evt-unbound",
                data=[{"specName": "Time Above Liquidus", "valueNumber": 60}],
            ),
            sent_by=gateway,
        )
    except EventRefused as refusal:
        refused = refusal.failed_message
    line.track.out_at = BASE_TIME + timedelta(hours=2)
    line.track.result = "PASS"
    line.track.save()
    hold = Hold.objects.get(unit=line.unit)
    close_hold(
        hold.pk,
        disposition=Hold.Disposition.RELEASE,
        note="Oven profile re-checked",
        closed_by=person_in_role("superuser"),
    )
    traffic.refused = refused
    traffic.hold = hold
    return traffic


def page_url(unit, **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return unit_page_url(unit) + (f"?{query}" if query else "")


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


# --- what the page shows --------------------------------------------------------------------


def test_unit_page_shows_serial_status_run_and_route_steps(quality, line):
    line.unit.status = Unit.Status.ON_HOLD
    line.unit.save()

    response = quality.get(page_url(line.unit))

    assert response.status_code == 200
    html = response.content.decode()
    assert "SN-0001" in html
    assert '<span class="mes-badge mes-badge-ON_HOLD">ON HOLD</span>' in html
    assert "RUN-2026-001" in html
    assert str(line.step.route_version) in html
    assert "step 40: OP-REFLOW" in html


def test_history_has_every_kind_of_row_in_time_order(quality, unit_story, line):
    rows = quality.get(page_url(line.unit)).context["page"].rows

    assert {row.kind for row in rows} == EVERY_KIND
    assert [row.key for row in rows] == sorted(row.key for row in rows)


def test_every_value_record_and_message_row_links_to_its_own_page(quality, unit_story, line):
    response = quality.get(page_url(line.unit))
    rows = response.context["page"].rows
    html = response.content.decode()

    linked = {
        Kind.VALUE: "execution/datavalue",
        Kind.RECORD: "integration/devicedatarecord",
        Kind.MESSAGE: "integration/integrationmessage",
        Kind.TRACK_IN: "execution/track",
    }
    checked = set()
    for row in rows:
        if row.kind in linked:
            assert row.url == f"/admin/{linked[row.kind]}/{row.pk}/change/"
            assert f'href="{row.url}"' in html
            checked.add(row.kind)
    assert checked == set(linked)  # every kind of linked row was there and checked


def test_value_rows_show_judgement_alarm_and_the_limits_judged_against(quality, unit_story, line):
    rows = quality.get(page_url(line.unit)).context["page"].rows

    hot = next(row for row in rows if row.kind == Kind.VALUE and row.event_id == "evt-hot")
    assert (hot.value, hot.judge, hot.alarmed) == (260.0, "FAIL", True)
    assert hot.limits == "240 – 250 C; target 245; alarm 235 – 255 (HOLD)"
    assert (hot.station, hot.step_no) == ("REFLOW-01", 40)


def test_hold_rows_show_what_opened_it_and_who_closed_it_with_which_disposition(
    quality, unit_story, line
):
    rows = quality.get(page_url(line.unit)).context["page"].rows

    opened = next(row for row in rows if row.kind == Kind.HOLD_OPENED)
    closed = next(row for row in rows if row.kind == Kind.HOLD_CLOSED)
    assert (opened.spec, opened.event_id) == ("Peak Temperature", "evt-hot")
    assert (closed.status, closed.by, closed.note) == ("RELEASE", "root", "Oven profile re-checked")


def test_messages_are_counted_by_status_including_the_units_unresolved_failed_one(
    quality, unit_story, line
):
    response = quality.get(page_url(line.unit))

    counts = response.context["counts"]
    # SN-LATE's FAILED message names another unit: not counted.
    assert (counts.failed, counts.conflict, counts.duplicate, counts.total) == (1, 1, 1, 5)
    failed = next(row for row in response.context["page"].rows if row.status == "FAILED")
    assert (failed.pk, failed.error_code) == (unit_story.refused.pk, "SPEC_NOT_BOUND")
    assert 'data-count="failed">1<' in response.content.decode()


def test_a_resolved_failed_message_is_found_through_its_record(quality, line, gateway):
    with pytest.raises(EventRefused):
        receive_device_event(reflow_event("evt-later", unitSn="SN-NEW"), sent_by=gateway)
    UnitFactory(sn="SN-NEW", run=line.run)
    TrackFactory(unit=Unit.objects.get(sn="SN-NEW"), step_no=40, station=line.station)
    receive_device_event(reflow_event("evt-later", unitSn="SN-NEW"), sent_by=gateway)

    unit = Unit.objects.get(sn="SN-NEW")
    response = quality.get(page_url(unit))

    statuses = [row.status for row in response.context["page"].rows if row.kind == Kind.MESSAGE]
    assert statuses == ["FAILED", "SUCCESS"]
    assert response.context["counts"].failed == 1


def test_a_unit_without_history_says_so(quality):
    unit = UnitFactory(sn="SN-QUIET")

    response = quality.get(page_url(unit))

    assert response.context["page"].rows == []
    assert "Nothing has happened to this unit yet." in response.content.decode()


# --- bounded: queries and rows ----------------------------------------------------------------


def test_page_queries_stay_bounded_however_many_values_the_unit_has(
    quality, unit_story, line, django_assert_max_num_queries
):
    DataValueFactory.create_batch(300, track=line.track, spec=line.conveyor, value_number=80)

    with django_assert_max_num_queries(20):
        response = quality.get(page_url(line.unit))

    assert response.status_code == 200


def test_a_long_history_is_paged_with_no_row_repeated_or_skipped(quality, line, monkeypatch):
    # Values at one instant: the pages' cursor must still tell them apart.
    DataValueFactory.create_batch(12, track=line.track, spec=line.conveyor)
    monkeypatch.setattr(unit_page_admin, "PAGE_ROWS", 5)

    seen, url = [], page_url(line.unit)
    while url:
        response = quality.get(url)
        assert len(response.context["page"].rows) <= 5
        seen += [row.key for row in response.context["page"].rows]
        url = response.context["next_url"]

    user = response.wsgi_request.user
    everything = [row.key for row in whole_history(line.unit, user, 1_000)]
    assert seen == everything
    assert len(seen) == 13  # the pass's entry and twelve values


def test_history_page_function_returns_the_next_cursor_only_when_rows_remain(line):
    DataValueFactory.create_batch(3, track=line.track, spec=line.conveyor)
    user = person_in_role("superuser")

    first = history_page(unit_scope(line.unit), user, None, 4)
    assert first.next_cursor is None
    short = history_page(unit_scope(line.unit), user, None, 2)
    assert short.next_cursor == Cursor.parse(str(short.next_cursor))
    rest = history_page(unit_scope(line.unit), user, short.next_cursor, 2)
    assert [row.key for row in short.rows + rest.rows] == [row.key for row in first.rows]


def test_an_unreadable_cursor_shows_the_first_page(quality, line):
    response = quality.get(page_url(line.unit, **{"from": "yesterday"}))

    assert response.status_code == 200
    assert [row.kind for row in response.context["page"].rows] == [Kind.TRACK_IN]


# --- CSV --------------------------------------------------------------------------------------


def test_csv_is_the_whole_history_with_its_headers(quality, unit_story, line):
    page_rows = quality.get(page_url(line.unit)).context["page"].rows

    response = quality.get(unit_page_url(line.unit).replace("/page/", "/page.csv"))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="unit-SN-0001-history.csv"'
    assert "no-store" in response["Cache-Control"]
    header, *rows = csv_rows(response)
    assert header == COLUMNS
    assert [(row[2], int(row[3])) for row in rows] == [(r.kind, r.pk) for r in page_rows]
    named = [dict(zip(header, row, strict=True)) for row in rows]
    hot = next(row for row in named if row["kind"] == "VALUE" and row["event_id"] == "evt-hot")
    assert (hot["value_number"], hot["judge"], hot["alarmed"]) == ("260.0", "FAIL", "true")
    assert (hot["spec_min"], hot["spec_max"], hot["spec_target"], hot["unit"]) == (
        "240",
        "250",
        "245",
        "C",
    )
    assert (hot["alarm_min"], hot["alarm_max"], hot["alarm_action"]) == ("235", "255", "HOLD")


def test_csv_names_the_unit_and_run_on_every_row_and_keeps_numbers_apart(quality, unit_story, line):
    header, *rows = csv_rows(quality.get(unit_page_url(line.unit).replace("/page/", "/page.csv")))
    named = [dict(zip(header, row, strict=True)) for row in rows]
    assert len(named) > 5
    assert {(row["unit_sn"], row["run_no"]) for row in named} == {("SN-0001", "RUN-2026-001")}
    values = [row for row in named if row["kind"] == "VALUE"]
    assert values and all(float(row["value_number"]) > 0 for row in values)
    assert all(row["value_text"] == "" for row in values)
    assert all(datetime.fromisoformat(row["at"]).utcoffset() == timedelta(0) for row in named)


def test_csv_cells_never_start_a_spreadsheet_formula(quality, line):
    line.track.operator_id = "=HYPERLINK(1)"
    line.track.save()

    header, *rows = csv_rows(quality.get(unit_page_url(line.unit).replace("/page/", "/page.csv")))

    assert dict(zip(header, rows[0], strict=True))["by"] == "'=HYPERLINK(1)"


# --- who may see it -----------------------------------------------------------------------------


def test_staff_without_permission_to_view_units_are_refused(client, line):
    client.force_login(UserFactory(username="clerk", is_staff=True))

    for url in [
        page_url(line.unit),
        unit_page_url(line.unit).replace("/page/", "/page.csv"),
        unit_by_sn_url("SN-0001"),
        "/admin/execution/unit/find/?sn=SN-0001",
    ]:
        assert client.get(url).status_code == 403, url


def test_people_who_may_only_view_units_get_the_unit_page_from_its_change_view(quality, line):
    response = quality.get(f"/admin/execution/unit/{line.unit.pk}/change/")

    assert response.status_code == 302
    assert response["Location"] == unit_page_url(line.unit)


def test_people_who_edit_units_keep_the_form_with_a_link_to_the_unit_page(integration, line):
    response = integration.get(f"/admin/execution/unit/{line.unit.pk}/change/")

    assert response.status_code == 200
    assert f'href="{unit_page_url(line.unit)}" id="unit-page-link"' in response.content.decode()


def test_an_unknown_unit_id_is_not_found(quality, db):
    assert quality.get("/admin/execution/unit/999999/page/").status_code == 404
    assert quality.get("/admin/execution/unit/abc/page/").status_code == 404


# --- search from the admin index ------------------------------------------------------------------


def test_admin_index_has_the_unit_search_box(quality):
    html = quality.get("/admin/").content.decode()

    assert 'action="/admin/execution/unit/find/"' in html
    assert 'name="sn"' in html


def test_search_box_opens_the_unit_page_on_an_exact_serial(quality, line):
    response = quality.get("/admin/execution/unit/find/?sn=%20SN-0001%20")

    assert response.status_code == 302
    assert response["Location"] == unit_page_url(line.unit)


def test_search_box_lists_units_starting_with_a_partial_serial(quality, line):
    UnitFactory(sn="SN-0002", run=line.run)
    UnitFactory(sn="XSN-0003")

    response = quality.get("/admin/execution/unit/find/?sn=SN-000")
    assert response["Location"] == "/admin/execution/unit/?q=SN-000"
    listed = quality.get(response["Location"]).context["cl"].result_list

    assert sorted(unit.sn for unit in listed) == ["SN-0001", "SN-0002"]


def test_unit_list_search_matches_the_beginning_of_a_run_number(quality, line):
    UnitFactory(sn="SN-OTHER")

    listed = quality.get("/admin/execution/unit/?q=RUN-2026").context["cl"].result_list

    assert [unit.sn for unit in listed] == ["SN-0001"]


# --- links to the unit's page ---------------------------------------------------------------------


def test_by_serial_link_redirects_to_the_unit_page(quality, line):
    response = quality.get(unit_by_sn_url("SN-0001"))

    assert response.status_code == 302
    assert response["Location"] == unit_page_url(line.unit)


def test_by_serial_link_to_an_unknown_unit_lists_the_search_and_says_so(quality, db):
    response = quality.get(unit_by_sn_url("SN-LATE"), follow=True)

    assert response.redirect_chain[-1][0] == "/admin/execution/unit/?q=SN-LATE"
    assert "No unit has the serial number SN-LATE." in response.content.decode()


def test_unit_link_helper_links_a_unit_directly_and_a_serial_through_the_redirect(line):
    assert unit_link(line.unit) == (
        f'<a class="mes-unit-link" href="{unit_page_url(line.unit)}">SN-0001</a>'
    )
    assert 'href="/admin/execution/unit/by-sn/SN-9/"' in unit_link("SN-9")
    assert unit_link("") == unit_link(None) == "—"


@pytest.mark.parametrize(
    "list_url",
    [
        "/admin/execution/datavalue/",
        "/admin/integration/devicedatarecord/",
        "/admin/integration/integrationmessage/",
    ],
)
def test_value_record_and_message_lists_link_each_row_to_its_unit(quality, unit_story, list_url):
    html = quality.get(list_url).content.decode()

    assert 'class="mes-unit-link"' in html
    assert "SN-0001</a>" in html


def test_a_failed_messages_page_links_the_unit_its_payload_names(quality, unit_story):
    url = f"/admin/integration/integrationmessage/{unit_story.failed.pk}/change/"

    html = quality.get(url).content.decode()

    assert 'href="/admin/execution/unit/by-sn/SN-LATE/"' in html


def test_a_records_and_a_values_page_link_their_unit(quality, unit_story, line):
    record = quality.get(f"/admin/integration/devicedatarecord/{unit_story.record.pk}/change/")
    value_id = unit_story.record.track.data_values.values_list("pk", flat=True).first()
    value = quality.get(f"/admin/execution/datavalue/{value_id}/change/")

    assert 'href="/admin/execution/unit/by-sn/SN-0001/"' in record.content.decode()
    assert f'href="{unit_page_url(line.unit)}"' in value.content.decode()


def test_message_list_links_units_without_a_query_per_row(
    quality, unit_story, django_assert_max_num_queries
):
    for number in range(20):
        receive_device_event(reflow_event(f"evt-more-{number}"), sent_by=unit_story.record.sent_by)
    with django_assert_max_num_queries(15):
        response = quality.get("/admin/integration/integrationmessage/")

    assert response.content.decode().count('class="mes-unit-link"') >= 20
