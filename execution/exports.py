"""CSV export of collected values, streamed so that any number of rows fits in memory.

The rows are read with `.iterator()` in chunks and each CSV line is sent as
it is written. A text cell that a spreadsheet would read as a formula (one
starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed
with `'`, so opening the file never runs what a device or operator sent.
Numbers are written as numbers: a negative reading stays a number.
"""

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC

from execution.models import DataValue

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000

COLUMNS = [
    "id",
    "collected_at",
    "spec",
    "operation",
    "data_type",
    "value",
    "unit",
    "judge",
    "alarmed",
    "spec_min",
    "spec_max",
    "alarm_min",
    "alarm_max",
    "source",
    "run_no",
    "unit_sn",
    "carrier_no",
    "station",
    "step_no",
    "event_id",
    "equipment_id",
    "source_ref",
    "limits",
]

# The columns the rows read, so the export runs one query per chunk, not one per row.
EXPORT_RELATED = [
    "spec__operation",
    "track__unit__run",
    "track__station",
    "carrier_track__carrier",
    "carrier_track__station",
]


def neutralise(cell):
    """A text cell that cannot start a spreadsheet formula; other cells unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_TRIGGERS):
        return "'" + cell
    return cell


def _value_cell(value: DataValue):
    if value.value_number is not None:
        return value.value_number
    if value.value_boolean is not None:
        return "true" if value.value_boolean else "false"
    if value.value_text is not None:
        return value.value_text
    if value.value_json is not None:
        return json.dumps(value.value_json, ensure_ascii=False, sort_keys=True)
    return ""


def data_value_row(value: DataValue) -> list:
    limits = value.limits or {}
    spec_limits = limits.get("spec") or {}
    alarm_limits = limits.get("alarm") or {}
    track, carrier_track = value.track, value.carrier_track
    place = track or carrier_track
    meta = value.meta or {}
    row = [
        value.pk,
        value.collected_at.astimezone(UTC).isoformat(),
        value.spec.name,
        value.spec.operation.code,
        value.spec.data_type,
        _value_cell(value),
        spec_limits.get("unit", ""),
        value.judge,
        "true" if value.alarmed else "false",
        spec_limits.get("min", ""),
        spec_limits.get("max", ""),
        alarm_limits.get("min", ""),
        alarm_limits.get("max", ""),
        value.source,
        track.unit.run.run_no if track and track.unit.run else "",
        track.unit.sn if track else "",
        carrier_track.carrier.carrier_no if carrier_track else "",
        place.station.code if place and place.station else "",
        place.step_no if place else "",
        meta.get("eventId") or "",
        meta.get("equipmentId") or "",
        value.source_ref,
        json.dumps(limits, ensure_ascii=False, sort_keys=True),
    ]
    return [neutralise(cell) for cell in row]


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, line):
        return line


def stream_data_values_csv(queryset) -> Iterator[str]:
    """CSV lines (with a UTF-8 byte-order mark first, for spreadsheets) of `queryset`'s values.

    The queryset keeps its order; it is read in chunks, never all at once.
    """
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(COLUMNS)
    rows: Iterable[DataValue] = queryset.select_related(*EXPORT_RELATED).iterator(
        chunk_size=CHUNK_SIZE
    )
    for value in rows:
        yield writer.writerow(data_value_row(value))
