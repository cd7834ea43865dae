"""Collected values in the back office: the value list, its CSV export, records, units, runs
and tracks (issue 4: DeviceDataRecord, DataValue, Track/Run/Unit).
"""

import csv
import io
import re

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from execution.exports import neutralise
from execution.models import DataSpec, DataValue
from integration.ingestion.service import receive_device_event
from integration.models import DeviceDataRecord
from tests.factories import (
    CarrierTrackFactory,
    DataSpecFactory,
    TrackFactory,
    UnitFactory,
    person_in_role,
    reflow_event,
)

VALUES_URL = reverse("admin:execution_datavalue_changelist")
EXPORT_URL = reverse("admin:execution_datavalue_export")
RECORDS_URL = reverse("admin:integration_devicedatarecord_changelist")


def listed(client, url, query="") -> list[int]:
    response = client.get(url + query)
    assert response.status_code == 200, response.get("Location")
    return [row.pk for row in response.context["cl"].result_list]


def exported(client, query="") -> list[dict]:
    response = client.get(EXPORT_URL + query)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="data-values-')
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def value_of(record: DeviceDataRecord) -> DataValue:
    return DataValue.objects.get(source_ref=record.business_key)


@pytest.fixture
def note_spec(line):
    """A TEXT spec bound to the reflow step, for free text from the machine."""
    spec = DataSpecFactory(
        operation=line.operation, name="Oven Note", data_type=DataSpec.DataType.TEXT
    )
    line.step.data_specs.add(spec)
    return spec


def send_note(gateway, event_id, text, **overrides):
    return receive_device_event(
        reflow_event(event_id, data=[{"specName": "Oven Note", "valueText": text}], **overrides),
        sent_by=gateway,
    )


# --- the value list ----------------------------------------------------------------------------


def test_value_list_shows_the_stored_judge_alarm_and_limits(quality, traffic):
    page = quality.get(VALUES_URL).content.decode()
    assert 'mes-badge mes-badge-FAIL">FAIL<' in page
    assert 'mes-badge mes-badge-ALARM">alarm<' in page
    # The limits are the value's tooltip in the list, not a column of their own.
    assert 'title="Limits judged against: 240 – 250 C; target 245; alarm 235 – 255 (HOLD)"' in (
        page
    )
    assert "field-limits_display" not in page


def test_value_list_leads_with_when_which_unit_and_where(quality, traffic):
    page = quality.get(VALUES_URL).content.decode()

    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert headers[:3] == ["collected_at", "unit_sn", "station"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?judge__exact=FAIL", ["evt-hot"]),
        ("?judge__exact=PASS", ["evt-0001"]),
        ("?alarmed__exact=1", ["evt-hot"]),
        ("?alarmed__exact=0", ["evt-0001"]),
        ("?source__exact=AUTO", ["evt-hot", "evt-0001"]),
        ("?source__exact=MANUAL", []),
        ("?station=REFLOW-01", ["evt-hot", "evt-0001"]),
        ("?collectedFrom=2026-01-24T10:30:00Z", ["evt-hot"]),
        ("?collectedTo=2026-01-24T10:00:00Z", ["evt-0001"]),
        ("?collectedFrom=2026-01-24&collectedTo=2026-01-24", ["evt-hot", "evt-0001"]),
        ("?collectedFrom=2026-01-25", []),
        ("?unitSn=SN-0001", ["evt-hot", "evt-0001"]),
        ("?unitSn=SN-000", []),
        ("?runNo=RUN-2026-001", ["evt-hot", "evt-0001"]),
        ("?sourceRef=device-data:evt-hot", ["evt-hot"]),
        ("?q=SN-0001", ["evt-hot", "evt-0001"]),
        ("?q=RUN-2026", ["evt-hot", "evt-0001"]),
        ("?q=SN-9999", []),
    ],
)
def test_value_list_filters_and_search(quality, traffic, query, expected):
    rows = DataValue.objects.in_bulk(listed(quality, VALUES_URL, query))
    events = [rows[pk].meta["eventId"] for pk in listed(quality, VALUES_URL, query)]
    assert events == expected


def test_value_list_filters_by_spec(quality, traffic, line):
    assert len(listed(quality, VALUES_URL, f"?spec__id__exact={line.peak.pk}")) == 2
    assert listed(quality, VALUES_URL, f"?spec__id__exact={line.conveyor.pk}") == []


def test_station_filter_finds_values_of_carrier_tracks_too(quality, line, gateway):
    carrier_track = CarrierTrackFactory(station=line.station, step_no=40)
    receive_device_event(
        {
            "eventId": "evt-carrier",
            "eventTime": "2026-01-24T12:00:00Z",
            "source": "AUTO",
            "carrierTrackId": carrier_track.pk,
            "data": [{"specId": line.peak.pk, "valueNumber": 244}],
        },
        sent_by=gateway,
    )
    [pk] = listed(quality, VALUES_URL, "?station=REFLOW-01")
    assert DataValue.objects.get(pk=pk).carrier_track == carrier_track


def test_a_value_keeps_showing_the_limits_it_was_judged_against_after_the_spec_changes(
    quality, traffic, line
):
    line.peak.spec = {"min": 100, "max": 300}
    line.peak.save()
    hot = value_of(traffic.hot_record)

    page = quality.get(reverse("admin:execution_datavalue_change", args=[hot.pk])).content.decode()

    assert hot.judge == "FAIL"
    assert "240 – 250 C; target 245; alarm 235 – 255 (HOLD)" in page
    assert "&quot;max&quot;: 250" in page
    assert 'mes-badge-FAIL">FAIL<' in page


def test_a_value_links_to_the_record_it_was_received_in(quality, traffic):
    hot = value_of(traffic.hot_record)
    page = quality.get(reverse("admin:execution_datavalue_change", args=[hot.pk])).content.decode()
    assert f'href="{RECORDS_URL}?eventId=evt-hot"' in page


# --- the CSV export ----------------------------------------------------------------------------


@pytest.fixture
def many_values(line, gateway, note_spec):
    for index in range(12):
        value = 238 + index  # 238 and 239 FAIL, 240–249 PASS
        receive_device_event(
            reflow_event(f"evt-{index:02d}", value, eventTime=f"2026-01-24T10:{index:02d}:00Z"),
            sent_by=gateway,
        )
    send_note(gateway, "evt-formula", '=HYPERLINK("http://evil","click")')


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?judge__exact=FAIL",
        "?judge__exact=PASS&o=4",
        "?collectedFrom=2026-01-24T10:05:00Z&collectedTo=2026-01-24T10:09:00Z",
        "?q=SN-0001&o=-1",
    ],
)
def test_csv_export_has_the_same_rows_in_the_same_order_as_the_filtered_list(
    quality, many_values, query
):
    rows = exported(quality, query)
    assert [int(row["id"]) for row in rows] == listed(quality, VALUES_URL, query)
    assert rows  # the filter matched something


def test_csv_export_includes_every_matching_row_not_only_the_first_page(
    quality, line, gateway, settings
):
    track = line.track
    # More rows than the list shows on one page (100).
    DataValue.objects.bulk_create(
        DataValue(
            spec=line.peak,
            track=track,
            collected_at="2026-01-24T10:00:00Z",
            value_number=245,
            limits=line.peak.limits,
            judge="PASS",
            source="AUTO",
            source_ref=f"device-data:bulk-{index}",
        )
        for index in range(130)
    )
    response = quality.get(VALUES_URL)
    assert len(response.context["cl"].result_list) == 100
    assert len(exported(quality)) == 130


def test_csv_export_neutralises_cells_that_a_spreadsheet_would_run_as_formulas(
    quality, line, gateway, note_spec
):
    for index, text in enumerate(["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "plain"]):
        send_note(gateway, f"evt-note-{index}", text, eventTime=f"2026-01-24T10:0{index}:00Z")
    receive_device_event(reflow_event("evt-cold", -5.5), sent_by=gateway)

    rows = {row["event_id"]: row for row in exported(quality)}

    assert rows["evt-note-0"]["value_text"] == "'=1+2"
    assert rows["evt-note-1"]["value_text"] == "'+SUM(A1)"
    assert rows["evt-note-2"]["value_text"] == "'-2+3"
    assert rows["evt-note-3"]["value_text"] == "'@cmd"
    assert rows["evt-note-4"]["value_text"] == "'\tx"
    assert rows["evt-note-5"]["value_text"] == "'\rx"
    assert rows["evt-note-6"]["value_text"] == "plain"
    # A negative reading is a number, not a formula: it stays as it is.
    assert rows["evt-cold"]["value_number"] == "-5.5"
    assert rows["evt-cold"]["judge"] == "FAIL"


def test_neutralise_leaves_numbers_and_harmless_text_alone():
    assert neutralise(-3.5) == -3.5
    assert neutralise("OK") == "OK"
    assert neutralise("=A1") == "'=A1"


def test_csv_export_columns_carry_the_context_and_stored_limits(quality, traffic):
    [row] = exported(quality, "?judge__exact=FAIL")
    assert row["spec"] == "Peak Temperature" and row["operation"] == "OP-REFLOW"
    assert row["value_number"] == "260.0" and row["unit"] == "C"
    assert (row["spec_min"], row["spec_max"], row["spec_target"]) == ("240", "250", "245")
    assert (row["alarm_min"], row["alarm_max"], row["alarm_action"]) == ("235", "255", "HOLD")
    assert row["alarmed"] == "true"
    assert (row["run_no"], row["unit_sn"], row["station"], row["step_no"]) == (
        "RUN-2026-001",
        "SN-0001",
        "REFLOW-01",
        "40",
    )
    assert row["event_id"] == "evt-hot" and row["collected_at"] == "2026-01-24T11:00:00+00:00"


def test_csv_export_writes_booleans_limits_and_formula_like_context_safely(quality, line, gateway):
    receive_device_event(
        reflow_event(
            "=evt-bool",
            source="MANUAL",
            operatorId="op-7",
            equipmentId="@oven",
            data=[{"specName": "Visual Check", "valueBoolean": False}],
        ),
        sent_by=gateway,
    )
    [row] = exported(quality)
    assert (row["value_number"], row["value_text"], row["judge"]) == ("", "false", "FAIL")
    assert row["event_id"] == "'=evt-bool" and row["equipment_id"] == "'@oven"
    assert row["source_ref"] == "device-data:=evt-bool"
    assert row["spec_expected"] == "true"
    assert (row["spec_min"], row["unit"], row["alarm_action"]) == ("", "", "")


def test_csv_export_reads_rows_in_chunks_with_a_fixed_number_of_queries(quality, line, gateway):
    def export_queries(count):
        DataValue.objects.all().delete()
        for index in range(count):
            receive_device_event(reflow_event(f"evt-q{count}-{index}", 245), sent_by=gateway)
        with CaptureQueriesContext(connection) as queries:
            rows = exported(quality)
        assert len(rows) == count
        return len(queries)

    assert export_queries(3) == export_queries(25)


def test_a_bad_filter_value_in_the_export_leads_back_to_the_list_with_an_error(quality, traffic):
    response = quality.get(EXPORT_URL + "?collectedFrom=soon")
    assert response.status_code == 302
    assert response["Location"] == VALUES_URL + "?collectedFrom=soon"


def test_the_value_list_offers_the_export_of_its_current_filters(quality, traffic):
    page = quality.get(VALUES_URL + "?judge__exact=FAIL").content.decode()
    assert f'href="{EXPORT_URL}?judge__exact=FAIL"' in page
    assert "Export CSV (1 row)" in page


# --- records -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?eventId=evt-hot", ["evt-hot"]),
        ("?eventId=evt", []),
        ("?runNo=RUN-2026-001", ["evt-hot", "evt-0001"]),
        ("?unitSn=SN-0001", ["evt-hot", "evt-0001"]),
        ("?stationCode=REFLOW-01", ["evt-hot", "evt-0001"]),
        ("?stationCode=AOI-01", []),
        ("?stepNo=40", ["evt-hot", "evt-0001"]),
        ("?stepNo=41", []),
        ("?source__exact=AUTO", ["evt-hot", "evt-0001"]),
        ("?eventFrom=2026-01-24T10:30:00Z", ["evt-hot"]),
        ("?eventTo=2026-01-24T10:00:00%2B00:00", ["evt-0001"]),
        ("?duplicated=yes", ["evt-0001"]),
        ("?duplicated=no", ["evt-hot"]),
        ("?q=evt-hot", ["evt-hot"]),
        ("?q=evt-h", []),  # searches match whole keys, from their index
        ("?q=SN-0001", ["evt-hot", "evt-0001"]),
        ("?q=RUN-2026-001", ["evt-hot", "evt-0001"]),
    ],
)
def test_record_list_filters_like_the_replaced_system(quality, traffic, query, expected):
    records = DeviceDataRecord.objects.in_bulk(listed(quality, RECORDS_URL, query))
    assert [records[pk].event_id for pk in listed(quality, RECORDS_URL, query)] == expected


@pytest.mark.parametrize("query", ["?stepNo=forty", "?stepNo=-1", "?eventFrom=yesterday"])
def test_record_list_refuses_unparsable_filter_values(quality, traffic, query):
    response = quality.get(RECORDS_URL + query)
    assert response.status_code == 200
    assert response.context["cl"].unreadable_filters
    assert len(response.context["cl"].result_list) == 0


@pytest.mark.parametrize(
    "query",
    [
        "?eventFrom=0253-11-14T05:38:04%2B23:57",  # an offset PostgreSQL refuses
        "?eventTo=0001-01-01T00:00:00%2B23:59",  # before the year 1 in UTC
        "?eventTo=9999-12-31",  # the day after is past the last year
        "?stepNo=99999999999999999999",  # beyond the column's integers
    ],
)
def test_record_list_answers_extreme_filter_values_without_a_server_error(quality, traffic, query):
    response = quality.get(RECORDS_URL + query)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) in (0, 2)


def test_record_list_shows_the_duplicate_count(quality, traffic):
    response = quality.get(RECORDS_URL + "?eventId=evt-0001")
    assert response.context["cl"].result_list[0].duplicate_count == 1
    assert '<td class="field-duplicate_count">1</td>' in response.content.decode()


def test_record_page_lists_its_values_with_fail_and_alarm_rows_marked(quality, traffic):
    url = reverse("admin:integration_devicedatarecord_change", args=[traffic.hot_record.pk])
    page = quality.get(url).content.decode()

    hot = value_of(traffic.hot_record)
    assert 'id="collected-values"' in page
    assert 'class="mes-value-row mes-row-fail mes-row-alarmed"' in page
    assert reverse("admin:execution_datavalue_change", args=[hot.pk]) in page
    assert f"{VALUES_URL}?sourceRef=device-data%3Aevt-hot" in page


def test_record_page_lists_every_message_of_its_event_id(quality, traffic):
    url = reverse("admin:integration_devicedatarecord_change", args=[traffic.record.pk])
    response = quality.get(url)
    page = response.content.decode()

    for message in (traffic.success, traffic.duplicate, traffic.conflict):
        assert reverse("admin:integration_integrationmessage_change", args=[message.pk]) in page
    assert "3 message(s) for this eventId" in page
    assert "?businessKey=device-data%3Aevt-0001" in page


def test_record_page_shows_the_data_as_received(quality, traffic):
    url = reverse("admin:integration_devicedatarecord_change", args=[traffic.record.pk])
    page = quality.get(url).content.decode()
    assert "&quot;specName&quot;: &quot;Peak Temperature&quot;" in page
    assert "&quot;raw&quot;: &quot;payload&quot;" in page


# --- tracks, units and runs --------------------------------------------------------------------


def test_track_page_shows_its_values_read_only(quality, traffic):
    url = reverse("admin:execution_track_change", args=[traffic.record.track_id])
    response = quality.get(url)
    page = response.content.decode()

    [inline] = response.context["inline_admin_formsets"]
    assert inline.formset.queryset.count() == 2
    assert not inline.has_change_permission and not inline.has_add_permission
    assert 'mes-badge-FAIL">FAIL<' in page and 'mes-badge-PASS">PASS<' in page


def test_integration_admin_can_still_save_a_track_that_has_values(client, traffic):
    client.force_login(person_in_role("integration admin"))
    track = traffic.record.track
    url = reverse("admin:execution_track_change", args=[track.pk])
    response = client.post(
        url,
        {
            "unit": track.unit_id,
            "step_no": 40,
            "station": track.station_id,
            "source": "AUTO",
            "in_at_0": "2026-01-24",
            "in_at_1": "10:00:00",
            "defect_code": "REVIEWED",
            "defect_location": "",
            "data_values-TOTAL_FORMS": "2",
            "data_values-INITIAL_FORMS": "2",
            "data_values-MIN_NUM_FORMS": "0",
            "data_values-MAX_NUM_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["errors"]
    track.refresh_from_db()
    assert track.defect_code == "REVIEWED"
    assert DataValue.objects.filter(track=track).count() == 2


def test_unit_form_shows_the_values_collected_on_the_unit(integration, traffic, line, gateway):
    other_unit = UnitFactory(sn="SN-OTHER", run=line.run)
    TrackFactory(unit=other_unit, step_no=40, station=line.station)
    receive_device_event(reflow_event("evt-other", 241, unitSn="SN-OTHER"), sent_by=gateway)

    # The form, as editors see it (people who only view units get the unit's page).
    response = integration.get(reverse("admin:execution_unit_change", args=[line.unit.pk]))

    table = response.context["value_table"]
    assert {value.meta["eventId"] for value in table.rows} == {"evt-0001", "evt-hot"}
    assert table.total == 2
    assert f"{VALUES_URL}?unitSn=SN-0001" in response.content.decode()


def test_run_page_shows_the_values_of_all_its_units(quality, traffic, line, gateway):
    other_unit = UnitFactory(sn="SN-OTHER", run=line.run)
    TrackFactory(unit=other_unit, step_no=40, station=line.station)
    receive_device_event(reflow_event("evt-other", 241, unitSn="SN-OTHER"), sent_by=gateway)

    response = quality.get(reverse("admin:execution_run_change", args=[line.run.pk]))

    table = response.context["value_table"]
    assert {value.meta["eventId"] for value in table.rows} == {"evt-0001", "evt-hot", "evt-other"}
    assert 'class="mes-value-row mes-row-fail mes-row-alarmed"' in response.content.decode()
    assert f"{VALUES_URL}?runNo=RUN-2026-001" in response.content.decode()


# --- query counts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "page_url",
    [
        lambda line: VALUES_URL,
        lambda line: RECORDS_URL,
        lambda line: reverse("admin:integration_integrationmessage_changelist"),
        lambda line: reverse("admin:execution_unit_page", args=[line.unit.pk]),
        lambda line: reverse("admin:execution_track_change", args=[line.track.pk]),
    ],
    ids=["values", "records", "messages", "unit page", "track page"],
)
def test_back_office_pages_read_a_fixed_number_of_queries_however_many_rows(
    quality, line, gateway, page_url
):
    def queries_with(count):
        for index in range(count):
            receive_device_event(
                reflow_event(f"evt-n{count}-{index}", 239 + index), sent_by=gateway
            )
        url = page_url(line)
        quality.get(url)  # fills the per-process caches (content types)
        with CaptureQueriesContext(connection) as queries:
            response = quality.get(url)
        assert response.status_code == 200
        return len(queries)

    assert queries_with(2) == queries_with(20)


def test_csv_export_leaves_the_unit_empty_when_the_spec_names_none(quality, line, gateway):
    line.peak.spec = {"min": 240, "max": 250, "unit": None}
    line.peak.save()
    receive_device_event(reflow_event("evt-no-unit", 245), sent_by=gateway)
    [row] = exported(quality)
    assert row["unit"] == "" and row["spec_min"] == "240"
