"""Master data as tables (docs/master-data.md): one row per station, operation, spec, route
step, run and serial, as in the CSV files of `manage.py import_master_data` and the
admin's CSV and XLSX imports. Rows become a bundle of `import_bundle`; each item keeps
the row it came from, so a refusal names the table, row and column.

A table may come without the table of its parents: specs of an operation, or serials of
a run, that is already in the database. The parent's other fields are then read from the
database, so that an import of specs alone, or serials alone, changes nothing else."""

import json
from dataclasses import dataclass, field

from execution.master_data.errors import MasterDataRefused
from execution.models import Operation, Run

BOOLEAN_COLUMNS = {"trackedByMachine", "isRequired", "isActive"}
JSON_COLUMNS = {"spec", "alarm", "triggerRule"}
INTEGER_COLUMNS = {"version", "stepNo", "routeVersion"}
LIST_COLUMNS = {"allowedStations", "specs"}  # values separated by "|"
LIST_SEPARATOR = "|"
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

    def locate(self, refusal: MasterDataRefused) -> tuple[Place | None, str]:
        """The row a refusal's item came from, and the field within it."""
        path = ".".join(part for part in (refusal.item, refusal.field) if part)
        best = max((key for key in self.places if _within(path, key)), key=len, default=None)
        if best is None:
            return None, path
        return self.places[best], path[len(best) :].lstrip(".") or self.cells.get(best, "")

    def where(self, refusal: MasterDataRefused) -> str:
        """The refusal's message, its item named by table and row where it came from one."""
        place, rest = self.locate(refusal)
        if place is None:
            return f"{self.name}: {refusal.message}" if self.name else refusal.message
        return f"{place}{', ' + rest if rest else ''}: {reason(refusal)}"

    def rows_of(self, section: str, index: int) -> list[Place]:
        """The rows that make item `index` of `section`."""
        prefix = f"{section}[{index}]"
        return sorted(
            {place for key, place in self.places.items() if _within(key, prefix)},
            key=lambda place: (place.label, place.row),
        )


def reason(refusal: MasterDataRefused) -> str:
    """A refusal's message without the item and field it begins with."""
    path = ".".join(part for part in (refusal.item, refusal.field) if part)
    return refusal.message.split(": ", 1)[-1] if path else refusal.message


def _within(path: str, key: str) -> bool:
    return path == key or path.startswith(f"{key}.") or path.startswith(f"{key}[")


def read_rows(table: str, label: str, headers, rows) -> list[tuple[Place, dict]]:
    """(place, row) for each row of `table` under `headers`: empty cells left out, typed
    columns read. Cells may be text (CSV) or a spreadsheet's numbers and booleans."""
    headers = [str(header).strip() if header is not None else "" for header in headers or []]
    missing = [name for name in TABLES[table][0] if name not in headers]
    if missing:
        raise TableRefused(f"missing column(s) {', '.join(missing)}.", place=label)
    read = []
    for number, cells in enumerate(rows, start=2):
        place = Place(label, number)
        cells = list(cells)
        if len(cells) > len(headers) and any(_text(cell) for cell in cells[len(headers) :]):
            raise TableRefused("more cells than columns.", place=place)
        row = _typed(place, dict(zip(headers, cells, strict=False)))
        if row:  # a spreadsheet's empty rows are no rows
            read.append((place, row))
    return read


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
            typed[name] = _cell(name, text)
        except ValueError as error:
            raise TableRefused(str(error), place=place, column=name) from None
    return typed


def _cell(name: str, text: str):
    if name in BOOLEAN_COLUMNS:
        if text.lower() not in ("true", "false"):
            raise ValueError(f"must be true or false, not {text!r}.")
        return text.lower() == "true"
    if name in JSON_COLUMNS:
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON ({error}).") from None
    if name in INTEGER_COLUMNS:
        if not text.isdigit():
            raise ValueError(f"must be a whole number, not {text!r}.")
        return int(text)
    if name in LIST_COLUMNS:
        return [part.strip() for part in text.split(LIST_SEPARATOR) if part.strip()]
    return text


def bundle_from_tables(tables: dict[str, list[tuple[Place, dict]]], name: str = "") -> TabledBundle:
    """The bundle the tables' rows describe. Specs join their operation and route steps
    their route version; serials join their run. An operation or run named by rows but
    not given in its own table is taken as the database has it (TableRefused if it has
    none)."""
    read = TabledBundle(name=name)
    stations = read.bundle.setdefault("stations", [])
    for place, row in tables.get("stations", []):
        read.places[f"stations[{len(stations)}]"] = place
        stations.append(row)
    operations = _grouped(read, "operations", tables.get("operations", []), ("code",))
    _attach(
        read, "operations", operations, "specs", tables.get("specs", []), ("operationCode",),
        create=lambda place, row: _operation_in_database(place, row["operationCode"]),
    )  # fmt: skip
    routes = _grouped(read, "routes", [], ("code", "version"))
    _attach(
        read, "routes", routes, "steps", tables.get("route_steps", []), ("routeCode", "version"),
        create=lambda place, row: {"code": row["routeCode"], "version": row["version"]},
    )  # fmt: skip
    runs = _grouped(read, "runs", tables.get("runs", []), ("runNo",))
    _attach(
        read, "runs", runs, "serials", tables.get("serials", []), ("runNo",),
        create=lambda place, row: _run_in_database(place, row["runNo"]), value="sn",
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
        found = tuple(row.pop(name, None) for name in key)
        if None in found:
            column = key[found.index(None)]
            raise TableRefused("is required.", place=place, column=column)
        if found not in index_of:
            index_of[found] = len(items)
            read.places[f"{section}[{len(items)}]"] = place
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


def _operation_in_database(place: Place, code: str) -> dict:
    operation = Operation.objects.filter(code=code).first()
    if operation is None:
        raise TableRefused(
            f"{code!r} is neither in the operations table nor in the database.",
            place=place,
            column="operationCode",
        )
    return {"code": operation.code, "name": operation.name}


def _run_in_database(place: Place, run_no: str) -> dict:
    run = Run.objects.select_related("route_version").filter(run_no=run_no).first()
    if run is None or run.route_version is None:
        raise TableRefused(
            f"{run_no!r} is neither in the runs table nor a run with a route in the database.",
            place=place,
            column="runNo",
        )
    item = {
        "runNo": run.run_no,
        "woNo": run.wo_no,
        "routeCode": run.route_version.code,
        "routeVersion": run.route_version.version_no,
        "lineCode": run.line_code,
    }
    if run.status in (Run.Status.PREP, Run.Status.AUTHORIZED):
        item["status"] = run.status  # a started run's status is the MES's, not the call's
    return item
