"""Master data as tables (docs/master-data.md): one row per station, operation, spec, route
step, run and serial, as in the CSV files of `manage.py import_master_data` and the
admin's CSV and XLSX imports. Rows become a bundle of `import_bundle`; each item keeps
the row it came from, so a refusal names the table, row and column.

A table may come without the table of its parents: specs of an operation, or serials of
a run, that is already in the database. The parent is then named by its key alone, and
the service keeps its other fields as they are (an operation's name, a run's route, work
order, line and status), under its lock: an import of specs alone, or serials alone,
changes nothing else."""

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings

from execution.master_data.errors import MasterDataRefused
from mes.api.parsers import json_problem

BOOLEAN_COLUMNS = {"trackedByMachine", "isRequired", "isActive"}
JSON_COLUMNS = {"spec", "alarm", "triggerRule"}
INTEGER_COLUMNS = {"version", "stepNo", "routeVersion"}
LIST_COLUMNS = {"allowedStations", "specs"}  # values separated by "|"
LIST_SEPARATOR = "|"
# A spreadsheet's number is exact up to 2**53; a longer one in a text column (a serial
# typed as a number) has already lost digits.
EXACT_NUMBER = 2**53
# The item a place's key belongs to: "runs[0]" of "runs[0].serials[5]".
ITEM_KEY = re.compile(r"^[a-z_]+\[\d+\]")
# table: the columns it needs, then the others it reads, in the order exports write them.
TABLES = {
    "stations": (["code", "name", "stationType"], ["lineCode", "trackedByMachine"]),
    "operations": (["code", "name"], []),
    "specs": (
        ["operationCode", "name", "dataType"],
        ["itemType", "method", "triggerType", "triggerRule", "isRequired", "isActive"]
        + ["spec", "alarm"],
    ),
    "route_steps": (
        ["routeCode", "version", "stepNo", "operationCode"],
        ["stationType", "allowedStations", "specs"],
    ),
    "runs": (["runNo", "routeCode", "routeVersion"], ["woNo", "lineCode", "status"]),
    "serials": (["runNo", "sn"], []),
}


def columns(table: str) -> list[str]:
    """Every column of `table`, the needed ones first."""
    required, others = TABLES[table]
    return required + others


@dataclass(frozen=True)
class Place:
    """A row of a table: `label` is the file's name ("specs.csv") or the table's."""

    label: str
    row: int  # as a spreadsheet counts: the header is row 1

    def __str__(self) -> str:
        return f"{self.label} row {self.row}"


class TableRefused(Exception):
    """A table that cannot be read as master data, naming its row and column."""

    def __init__(self, message: str, *, place: Place | str = "", column: str = ""):
        self.place = place
        self.column = column
        self.reason = message
        where = ", ".join(str(part) for part in (place, column) if part)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass
class TabledBundle:
    """A bundle and the row each of its items, or parts of one, came from:
    {"operations[0].specs[1]": Place("specs.csv", 3)}."""

    bundle: dict = field(default_factory=dict)
    places: dict = field(default_factory=dict)
    name: str = ""
    # Parts that are one cell of their row: {"runs[0].serials[1]": "sn"}.
    cells: dict = field(default_factory=dict)
    # Items named by another table's key column: {"operations[0]": "operationCode"}.
    parent_columns: dict = field(default_factory=dict)

    def locate(self, refusal: MasterDataRefused) -> tuple[Place | None, str]:
        """The row a refusal's item came from, and the field within it."""
        path = ".".join(part for part in (refusal.item, refusal.field) if part)
        best = max((key for key in self.places if _within(path, key)), key=len, default=None)
        if best is None:
            return None, path
        rest = path[len(best) :].lstrip(".")
        if best in self.parent_columns and rest and not any(mark in rest for mark in ".["):
            return self.places[best], self.parent_columns[best]
        return self.places[best], rest or self.cells.get(best, "")

    def where(self, refusal: MasterDataRefused) -> str:
        """The refusal's message, its item named by table and row where it came from one."""
        place, rest = self.locate(refusal)
        if place is None:
            return f"{self.name}: {refusal.message}" if self.name else refusal.message
        return f"{place}{', ' + rest if rest else ''}: {reason(refusal)}"

    def rows_by_item(self) -> dict[str, set[Place]]:
        """{"runs[0]": the rows that make that item}, in one pass over the places."""
        rows = defaultdict(set)
        for key, place in self.places.items():
            rows[ITEM_KEY.match(key).group(0)].add(place)
        return rows


def reason(refusal: MasterDataRefused) -> str:
    """A refusal's message without the item and field it begins with."""
    path = ".".join(part for part in (refusal.item, refusal.field) if part)
    return refusal.message.split(": ", 1)[-1] if path else refusal.message


def _within(path: str, key: str) -> bool:
    return path == key or path.startswith(f"{key}.") or path.startswith(f"{key}[")


def read_rows(table: str, label: str, headers, rows) -> list[tuple[Place, dict]]:
    """(place, row) for each row of `table` under `headers`: empty cells left out, typed
    columns read. Cells may be text (CSV) or a spreadsheet's numbers and booleans. An
    unknown or repeated column is refused (a misspelt header would silently blank its
    field), as is a cell under no column."""
    headers = [_text(header).lstrip("\ufeff") for header in headers or []]
    named = [header for header in headers if header]
    known = columns(table)
    unknown = sorted({header for header in named if header not in known})
    if unknown:
        raise TableRefused(
            f"unknown column(s) {', '.join(unknown)}; the {table} table has {', '.join(known)}.",
            place=label,
        )
    twice = sorted({header for header in named if named.count(header) > 1})
    if twice:
        raise TableRefused(f"column(s) {', '.join(twice)} given twice.", place=label)
    missing = [name for name in TABLES[table][0] if name not in headers]
    if missing:
        raise TableRefused(f"missing column(s) {', '.join(missing)}.", place=label)
    read = []
    for number, cells in enumerate(rows, start=2):
        place = Place(label, number)
        cells = list(cells)
        stray = [
            cell
            for index, cell in enumerate(cells)
            if _text(cell) and (index >= len(headers) or not headers[index])
        ]
        if stray:
            raise TableRefused(f"a cell under no column ({_text(stray[0])!r}).", place=place)
        row = _typed(place, dict(zip(headers, cells, strict=False)))
        if row:  # a spreadsheet's empty rows are no rows
            read.append((place, row))
    return read


# A spreadsheet takes a cell starting with one of these for a formula: exported text
# starting so gets a "'" before it (docs/master-data.md), which the import takes away.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell):
    """A text cell as a CSV export writes it: never read as a formula."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return f"'{cell}"
    return cell


def padded(records: list[list]) -> tuple[list, list[list]]:
    """A file's records as headers and rows of one width (a short row padded with empty
    cells, a long one kept, the headers padded with unnamed columns)."""
    width = max(len(record) for record in records)
    headers, *rows = ([*record, *[""] * (width - len(record))] for record in records)
    return headers, rows


def _text(cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # a spreadsheet's 1.0 for a version or step number
    return str(cell).strip()


def _typed(place: Place, row: dict) -> dict:
    typed = {}
    for name, cell in row.items():
        text = _text(cell)
        if not name or not text:
            continue
        try:
            if isinstance(cell, int | float) and not isinstance(cell, bool):
                _exact(name, cell)
            typed[name] = _cell(name, text)
        except ValueError as error:
            raise TableRefused(str(error), place=place, column=name) from None
    return typed


def _exact(name: str, number) -> None:
    if abs(number) >= EXACT_NUMBER and name not in INTEGER_COLUMNS:
        raise ValueError(
            f"the number {number!r} may have lost digits in the spreadsheet: "
            "format the column as text."
        )


def _cell(name: str, text: str):
    if name in BOOLEAN_COLUMNS:
        if text.lower() not in ("true", "false"):
            raise ValueError(f"must be true or false, not {text!r}.")
        return text.lower() == "true"
    if name in JSON_COLUMNS:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON ({error}).") from None
        except RecursionError:
            raise ValueError("not JSON: nested too deep.") from None
        # What the database cannot store, refused as the API's parser refuses it.
        problem = json_problem(value, settings.INGEST_MAX_JSON_DEPTH)
        if problem:
            raise ValueError(problem)
        return value
    if name in INTEGER_COLUMNS:
        if not text.isdigit():
            raise ValueError(f"must be a whole number, not {text!r}.")
        return int(text)
    if name in LIST_COLUMNS:
        return [part.strip() for part in text.split(LIST_SEPARATOR) if part.strip()]
    if "\x00" in text:
        raise ValueError("holds a NUL character.")
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]  # as neutralised() exported it
    return text


def bundle_from_tables(tables: dict[str, list[tuple[Place, dict]]], name: str = "") -> TabledBundle:
    """The bundle the tables' rows describe. Specs join their operation and route steps
    their route version; serials join their run. An operation or run named by rows but
    not given in its own table is named by its key alone: the service keeps the rest
    as it is, or refuses if there is none."""
    read = TabledBundle(name=name)
    _grouped(read, "stations", tables.get("stations", []), ("code",))
    operations = _grouped(read, "operations", tables.get("operations", []), ("code",))
    _attach(
        read, "operations", operations, "specs", tables.get("specs", []), ("operationCode",),
        create=lambda place, row: {"code": row["operationCode"]},
    )  # fmt: skip
    routes = _grouped(read, "routes", [], ("code", "version"))
    _attach(
        read, "routes", routes, "steps", tables.get("route_steps", []), ("routeCode", "version"),
        create=lambda place, row: {"code": row["routeCode"], "version": row["version"]},
    )  # fmt: skip
    runs = _grouped(read, "runs", tables.get("runs", []), ("runNo",))
    _attach(
        read, "runs", runs, "serials", tables.get("serials", []), ("runNo",),
        create=lambda place, row: {"runNo": row["runNo"]}, value="sn",
    )  # fmt: skip
    return read


def _grouped(read: TabledBundle, section: str, rows, key: tuple) -> dict:
    items = read.bundle.setdefault(section, [])
    index_of = {}
    for place, row in rows:
        value = tuple(row.get(name) for name in key)
        if value in index_of:
            given = read.places[f"{section}[{index_of[value]}]"]
            raise TableRefused(
                f"{section} {'/'.join(map(str, value))} is also in row {given.row}.", place=place
            )
        index_of[value] = len(items)
        read.places[f"{section}[{len(items)}]"] = place
        items.append(row)
    return index_of


def _attach(read, section, index_of, part, rows, key, *, create, value=None) -> None:
    """Each row as a `part` of the `section` item its `key` columns name (the item made by
    `create` when no row of its own table gives it). `value`: the one column a part is."""
    items = read.bundle[section]
    for place, row in rows:
        found = tuple(row.get(name) for name in key)
        row = {name: value for name, value in row.items() if name not in key}
        if None in found:
            column = key[found.index(None)]
            raise TableRefused("is required.", place=place, column=column)
        if found not in index_of:
            index_of[found] = len(items)
            read.places[f"{section}[{len(items)}]"] = place
            # Named by its key alone: a refusal of its own fields points at the key.
            read.parent_columns[f"{section}[{len(items)}]"] = key[0]
            items.append(create(place, {**dict(zip(key, found, strict=True)), **row}))
        item = items[index_of[found]]
        parts = item.setdefault(part, [])
        read.places[f"{section}[{index_of[found]}].{part}[{len(parts)}]"] = place
        if value is None:
            parts.append(row)
        elif value not in row:
            raise TableRefused("is required.", place=place, column=value)
        else:
            read.cells[f"{section}[{index_of[found]}].{part}[{len(parts)}]"] = value
            parts.append(row[value])
