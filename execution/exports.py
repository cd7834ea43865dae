"""CSV export of collected values, streamed so that any number of rows fits in memory.

The rows are read with `.iterator()` in chunks, as plain columns, and sent
a few hundred lines at a time. A text cell that a spreadsheet would read as a formula (one
starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed
with `'`, so opening the file never runs what a device or operator sent.
Numbers are written as numbers: a negative reading stays a number.
"""

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC

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

# What each row reads, as plain columns: building a model instance with five related
# ones per row cost more than the query (bench/growth.py measures the export).
SELECTED = [
    "id",
    "collected_at",
    "spec__name",
    "spec__operation__code",
    "spec__data_type",
    "value_number",
    "value_boolean",
    "value_text",
    "value_json",
    "judge",
    "alarmed",
    "source",
    "track__unit__run__run_no",
    "track__unit__sn",
    "carrier_track__carrier__carrier_no",
    "track__station__code",
    "carrier_track__station__code",
    "track__step_no",
    "carrier_track__step_no",
    "meta",
    "source_ref",
    "limits",
]
# Rows per piece of the response: one write per piece, not per line.
ROWS_PER_PIECE = 500


def neutralise(cell):
    """A text cell that cannot start a spreadsheet formula; other cells unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_TRIGGERS):
        return "'" + cell
    return cell


def _value_cell(number, boolean, text, json_value):
    if number is not None:
        return number
    if boolean is not None:
        return "true" if boolean else "false"
    if text is not None:
        return text
    if json_value is not None:
        return json.dumps(json_value, ensure_ascii=False, sort_keys=True)
    return ""


def data_value_row(selected: tuple) -> list:
    """One CSV row from the SELECTED columns of a value."""
    (
        pk, collected_at, spec, operation, data_type, number, boolean, text, json_value,
        judge, alarmed, source, run_no, unit_sn, carrier_no, track_station, carrier_station,
        track_step, carrier_step, meta, source_ref, limits,
    ) = selected  # fmt: skip
    limits = limits or {}
    spec_limits = limits.get("spec") or {}
    alarm_limits = limits.get("alarm") or {}
    meta = meta or {}
    row = [
        pk,
        collected_at.astimezone(UTC).isoformat(),
        spec,
        operation,
        data_type,
        _value_cell(number, boolean, text, json_value),
        spec_limits.get("unit", ""),
        judge,
        "true" if alarmed else "false",
        spec_limits.get("min", ""),
        spec_limits.get("max", ""),
        alarm_limits.get("min", ""),
        alarm_limits.get("max", ""),
        source,
        run_no or "",
        unit_sn or "",
        carrier_no or "",
        track_station or carrier_station or "",
        track_step
        if track_step is not None
        else (carrier_step if carrier_step is not None else ""),
        meta.get("eventId") or "",
        meta.get("equipmentId") or "",
        source_ref,
        json.dumps(limits, ensure_ascii=False, sort_keys=True),
    ]
    return [neutralise(cell) for cell in row]


class _Lines:
    """A file-like object collecting csv.writer's lines until they are sent."""

    def __init__(self):
        self.lines = []

    def write(self, line):
        self.lines.append(line)

    def take(self) -> str:
        text, self.lines = "".join(self.lines), []
        return text


def stream_data_values_csv(queryset) -> Iterator[str]:
    """CSV text (with a UTF-8 byte-order mark first, for spreadsheets) of `queryset`'s values,
    in pieces of ROWS_PER_PIECE lines.

    The queryset keeps its order; it is read in chunks, never all at once.
    """
    lines = _Lines()
    writer = csv.writer(lines)
    writer.writerow(COLUMNS)
    yield "\ufeff" + lines.take()
    rows: Iterable[tuple] = queryset.values_list(*SELECTED).iterator(chunk_size=CHUNK_SIZE)
    for number, selected in enumerate(rows, start=1):
        writer.writerow(data_value_row(selected))
        if number % ROWS_PER_PIECE == 0:
            yield lines.take()
    if lines.lines:
        yield lines.take()
