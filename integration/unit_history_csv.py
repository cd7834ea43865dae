"""CSV of a unit's whole history, streamed: the rows of its page, every page of them.

Read a page of CSV_PAGE_ROWS rows at a time (integration.unit_history.whole_history),
so a unit with any number of values is sent in flat memory; text cells that a
spreadsheet would read as a formula are neutralised as in execution.exports, and the
columns are those of the value export where they mean the same (execution.exports).
"""

import csv
from collections.abc import Iterator
from numbers import Real

from execution.exports import (
    LIMIT_COLUMNS,
    ROWS_PER_PIECE,
    VALUE_COLUMNS,
    _Lines,
    limit_cells,
    neutralise,
    utc,
)
from execution.unit_history import CSV_PAGE_ROWS, HistoryRow
from integration.unit_history import whole_history

# The unit's serial number and run on every row, each limit a column of its own, numbers
# apart from text (docs/unit-page.md).
COLUMNS = [
    "at",
    "device_at",
    "kind",
    "id",
    "unit_sn",
    "run_no",
    "station",
    "step_no",
    "spec",
    *VALUE_COLUMNS,
    "judge",
    "alarmed",
    *LIMIT_COLUMNS,
    "status",
    "error_code",
    "event_id",
    "by",
    "note",
]


def history_csv_row(row: HistoryRow, unit_sn: str, run_no: str) -> list:
    """One CSV line of a history row of the unit `unit_sn` of the run `run_no`."""
    alarmed = "" if row.alarmed is None else ("true" if row.alarmed else "false")
    is_number = isinstance(row.value, Real) and not isinstance(row.value, bool)
    limits = limit_cells(row.limits_judged) if row.limits_judged is not None else []
    cells = [
        utc(row.at),
        utc(row.device_at),
        row.kind,
        row.pk,
        unit_sn,
        run_no,
        row.station,
        "" if row.step_no is None else row.step_no,
        row.spec,
        row.value if is_number else "",
        "" if is_number else row.value,
        row.judge,
        alarmed,
        *(limits or [""] * len(LIMIT_COLUMNS)),
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
    run_no = unit.run.run_no if unit.run_id else ""
    for number, row in enumerate(whole_history(unit, user, CSV_PAGE_ROWS), start=1):
        writer.writerow(history_csv_row(row, unit.sn, run_no))
        if number % ROWS_PER_PIECE == 0:
            yield lines.take()
    if lines.lines:
        yield lines.take()
