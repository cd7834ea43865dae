"""CSV export of collected values, streamed so that any number of rows fits in memory.

The rows are read with `.iterator()` in chunks, as plain columns, and sent
a few hundred lines at a time. A text cell that a spreadsheet would read as a formula (one
starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed
with `'`, so opening the file never runs what a device or operator sent.
Analysis-ready (docs/quality.md "CSV of values"): one column per field, numbers in a
column of numbers (a negative reading stays a number), each limit its own column, times
in ISO 8601 UTC, the unit's serial number and run on every row of a unit's value.
"""

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC

from django.db.models import TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000

# The limits a value was judged against, one column each (docs/quality.md "CSV of values").
LIMIT_COLUMNS = [
    "unit",
    "spec_min",
    "spec_max",
    "spec_target",
    "spec_allowed",
    "spec_expected",
    "alarm_min",
    "alarm_max",
    "alarm_action",
]
# A number in `value_number`; text, true/false and JSON in `value_text`: a column holds
# one kind, so a spreadsheet or pandas reads `value_number` as numbers.
VALUE_COLUMNS = ["value_number", "value_text"]
# Separates the allowed texts of a TEXT spec in `spec_allowed`.
ALLOWED_SEPARATOR = "|"

COLUMNS = [
    "id",
    "collected_at",
    "received_at",
    "unit_sn",
    "run_no",
    "carrier_no",
    "station",
    "step_no",
    "spec",
    "operation",
    "data_type",
    *VALUE_COLUMNS,
    "judge",
    "alarmed",
    *LIMIT_COLUMNS,
    "source",
    "event_id",
    "equipment_id",
    "source_ref",
]

# What each row reads, as plain columns: building a model instance with five related
# ones per row, and decoding two JSON documents per row, cost more than the query
# (bench/growth.py measures the export).
SELECTED = [
    "id",
    "collected_at",
    "created_at",
    "spec__name",
    "spec__operation__code",
    "spec__data_type",
    "value_number",
    "value_boolean",
    "value_text",
    "value_json_text",
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
    "event_id",
    "equipment_id",
    "source_ref",
    "limits_text",
]
# Rows per piece of the response: one write per piece, not per line.
ROWS_PER_PIECE = 500
FIRST_CHARACTERS_OF_FORMULAS = frozenset(FORMULA_TRIGGERS)


def neutralise(cell):
    """A text cell that cannot start a spreadsheet formula; other cells unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_TRIGGERS):
        return "'" + cell
    return cell


def _text(cell) -> str:
    """A text column's cell: empty for NULL, and never the start of a formula."""
    if not cell:
        return ""
    return "'" + cell if cell[0] in FIRST_CHARACTERS_OF_FORMULAS else cell


def _number(cell):
    return "" if cell is None else cell


def _true_false(cell) -> str:
    return "" if cell is None else ("true" if cell else "false")


def utc(moment) -> str:
    """A date-time cell: ISO 8601 in UTC (2026-01-24T11:00:00+00:00); empty for none."""
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def limit_cells(limits: dict | None) -> list:
    """The LIMIT_COLUMNS of stored limits (`{"spec": …, "alarm": …}`): bounds and target
    as numbers, empty where the spec has none."""
    limits = limits or {}
    spec, alarm = limits.get("spec") or {}, limits.get("alarm") or {}
    allowed = spec.get("allowed")
    return [
        _text(str(spec.get("unit") or "")),
        _number(spec.get("min")),
        _number(spec.get("max")),
        _number(spec.get("target")),
        _text(ALLOWED_SEPARATOR.join(map(str, allowed))) if allowed else "",
        _true_false(spec.get("expected")),
        _number(alarm.get("min")),
        _number(alarm.get("max")),
        _text(alarm.get("action") or ""),
    ]


class LimitColumns:
    """The limit columns of a stored `limits` document, read once per distinct document:
    a spec's values share theirs until someone edits the spec."""

    MAX_REMEMBERED = 10_000

    def __init__(self):
        self.remembered: dict[str | None, list] = {}

    def __call__(self, text: str | None) -> list:
        if text not in self.remembered:
            if len(self.remembered) >= self.MAX_REMEMBERED:
                self.remembered.clear()
            self.remembered[text] = limit_cells(json.loads(text) if text else None)
        return self.remembered[text]


def value_cells(number, boolean, text, json_text) -> list:
    """The VALUE_COLUMNS of a stored value: a number in the first, anything else as text
    in the second (true/false, JSON compact and sorted)."""
    if number is not None:
        return [number, ""]
    if boolean is not None:
        return ["", _true_false(boolean)]
    if text is not None:
        return ["", _text(text)]
    if json_text is not None:
        return ["", _text(json.dumps(json.loads(json_text), ensure_ascii=False, sort_keys=True))]
    return ["", ""]


def data_value_row(selected: tuple, limit_columns: LimitColumns) -> list:
    """One CSV row (COLUMNS) from the SELECTED columns of a value."""
    (
        pk, collected_at, received_at, spec, operation, data_type, number, boolean, text,
        json_text, judge, alarmed, source, run_no, unit_sn, carrier_no, track_station,
        carrier_station, track_step, carrier_step, event_id, equipment_id, source_ref,
        limits_text,
    ) = selected  # fmt: skip
    step = track_step if track_step is not None else carrier_step
    return [
        pk,
        utc(collected_at),
        utc(received_at),
        _text(unit_sn),
        _text(run_no),
        _text(carrier_no),
        _text(track_station or carrier_station),
        "" if step is None else step,
        _text(spec),
        _text(operation),
        data_type,
        *value_cells(number, boolean, text, json_text),
        judge,
        _true_false(alarmed),
        *limit_columns(limits_text),
        source,
        _text(event_id),
        _text(equipment_id),
        _text(source_ref),
    ]


def export_queryset(queryset):
    """`queryset` with the SELECTED columns that are not plain fields."""
    return queryset.annotate(
        value_json_text=Cast("value_json", TextField()),
        limits_text=Cast("limits", TextField()),
        event_id=KT("meta__eventId"),
        equipment_id=KT("meta__equipmentId"),
    ).values_list(*SELECTED)


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
    rows: Iterable[tuple] = export_queryset(queryset).iterator(chunk_size=CHUNK_SIZE)
    limit_columns = LimitColumns()
    for number, selected in enumerate(rows, start=1):
        writer.writerow(data_value_row(selected, limit_columns))
        if number % ROWS_PER_PIECE == 0:
            yield lines.take()
    if lines.lines:
        yield lines.take()
