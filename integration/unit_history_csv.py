"""CSV of a unit's whole history, streamed: the rows of its page, every page of them.

Read a page of CSV_PAGE_ROWS rows at a time (integration.unit_history.whole_history),
so a unit with any number of values is sent in flat memory; text cells that a
spreadsheet would read as a formula are neutralised as in execution.exports.
"""

import csv
from collections.abc import Iterator
from datetime import UTC

from execution.exports import ROWS_PER_PIECE, _Lines, neutralise
from execution.unit_history import CSV_PAGE_ROWS, HistoryRow
from integration.unit_history import whole_history

COLUMNS = [
    "at",
    "kind",
    "id",
    "station",
    "step_no",
    "spec",
    "value",
    "judge",
    "alarmed",
    "limits_judged_against",
    "status",
    "error_code",
    "event_id",
    "by",
    "note",
]


def history_csv_row(row: HistoryRow) -> list:
    """One CSV line of a history row."""
    alarmed = "" if row.alarmed is None else ("true" if row.alarmed else "false")
    cells = [
        row.at.astimezone(UTC).isoformat(),
        row.kind,
        row.pk,
        row.station,
        "" if row.step_no is None else row.step_no,
        row.spec,
        row.value,
        row.judge,
        alarmed,
        row.limits,
        row.status,
        row.error_code,
        row.event_id,
        row.by,
        row.note,
    ]
    return [neutralise(cell) for cell in cells]


def stream_unit_history_csv(unit, user) -> Iterator[str]:
    """CSV text (UTF-8 byte-order mark first) of the unit's history as `user` may see it."""
    lines = _Lines()
    writer = csv.writer(lines)
    writer.writerow(COLUMNS)
    yield "\ufeff" + lines.take()
    for number, row in enumerate(whole_history(unit, user, CSV_PAGE_ROWS), start=1):
        writer.writerow(history_csv_row(row))
        if number % ROWS_PER_PIECE == 0:
            yield lines.take()
    if lines.lines:
        yield lines.take()
