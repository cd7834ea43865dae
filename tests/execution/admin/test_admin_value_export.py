"""The value list's CSV export is analysis-ready (execution/exports.py; docs/quality.md
"CSV of values"): one column per field, numbers apart from text, each limit its own
column, times in ISO 8601 UTC, a unit's serial number and run on every row."""

import csv
import io
from datetime import datetime, timedelta

from django.urls import reverse

from execution.exports import COLUMNS
from execution.models import DataSpec
from tests.factories import (
    BASE_TIME,
    CarrierTrackFactory,
    DataSpecFactory,
    DataValueFactory,
    TrackFactory,
    UnitFactory,
)

EXPORT_URL = reverse("admin:execution_datavalue_export")


def exported(client, query="") -> tuple[list[str], list[dict]]:
    response = client.get(EXPORT_URL + query)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def test_the_header_is_one_column_per_field_without_a_mixed_value_or_limits_cell(quality):
    header, rows = exported(quality)
    assert header == COLUMNS and rows == []
    assert "value" not in header and "limits" not in header
    for column in ("value_number", "value_text", "spec_target", "alarm_action", "received_at"):
        assert column in header


def test_a_negative_reading_is_a_number_in_the_number_column(quality):
    DataValueFactory(value_number=-5.5, judge="FAIL")
    [row] = exported(quality)[1]
    assert float(row["value_number"]) == -5.5
    assert row["value_text"] == ""


def test_a_text_value_is_in_the_text_column_and_the_number_column_stays_empty(quality):
    note = DataSpecFactory(name="Oven Note", data_type=DataSpec.DataType.TEXT, spec=None)
    DataValueFactory(spec=note, value_number=None, value_text="-12 looks like a number")
    DataValueFactory(spec=note, value_number=None, value_text="warm")
    rows = exported(quality)[1]
    assert sorted(row["value_text"] for row in rows) == ["'-12 looks like a number", "warm"]
    assert [row["value_number"] for row in rows] == ["", ""]


def test_every_value_of_a_unit_carries_its_serial_number_and_run(quality):
    first, second = UnitFactory(sn="SN-A"), UnitFactory(sn="SN-B")
    for unit in (first, second):
        track = TrackFactory(unit=unit)
        for minute in range(3):
            DataValueFactory(track=track, collected_at=BASE_TIME + timedelta(minutes=minute))
    rows = exported(quality)[1]
    assert len(rows) == 6
    expected = {"SN-A": first.run.run_no, "SN-B": second.run.run_no}
    assert {row["unit_sn"]: row["run_no"] for row in rows} == expected
    assert all(row["run_no"] == expected[row["unit_sn"]] for row in rows)


def test_a_carriers_value_names_its_carrier_and_no_unit(quality):
    carrier_track = CarrierTrackFactory()
    DataValueFactory(
        track=None, carrier_track=carrier_track, station=carrier_track.station, run=None
    )
    [row] = exported(quality)[1]
    assert row["carrier_no"] == carrier_track.carrier.carrier_no
    assert (row["unit_sn"], row["run_no"]) == ("", "")


def test_each_limit_is_a_column_of_numbers(quality):
    spec = DataSpecFactory(
        spec={"min": -1.5, "max": 2, "target": 0.25, "unit": "mm"},
        alarm={"min": -3, "max": 4, "action": "ALARM_ONLY"},
    )
    DataValueFactory(spec=spec, value_number=2.5, judge="FAIL")
    [row] = exported(quality)[1]
    limits = [float(row[name]) for name in ("spec_min", "spec_max", "spec_target")]
    alarms = [float(row[name]) for name in ("alarm_min", "alarm_max")]
    assert (limits, alarms) == ([-1.5, 2, 0.25], [-3, 4])
    assert (row["unit"], row["alarm_action"]) == ("mm", "ALARM_ONLY")
    assert (row["spec_allowed"], row["spec_expected"]) == ("", "")


def test_a_text_specs_allowed_texts_are_one_column(quality):
    spec = DataSpecFactory(data_type=DataSpec.DataType.TEXT, spec={"allowed": ["OK", "=bad"]})
    DataValueFactory(spec=spec, value_number=None, value_text="OK")
    [row] = exported(quality)[1]
    assert row["spec_allowed"] == "OK|=bad"
    assert row["spec_min"] == row["spec_target"] == ""


def test_times_are_iso_8601_in_utc(quality, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    DataValueFactory(collected_at=BASE_TIME)
    [row] = exported(quality)[1]
    collected = datetime.fromisoformat(row["collected_at"])
    assert collected == BASE_TIME and collected.utcoffset() == timedelta(0)
    assert datetime.fromisoformat(row["received_at"]).utcoffset() == timedelta(0)
