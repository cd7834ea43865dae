"""Master-data files read into a bundle of execution.master_data (docs/master-data.md):
a JSON file with the sections stations, operations, routes and runs in the API's shapes,
or a folder of CSV files, one row per station, operation, spec, route step, run and
serial. Each item keeps where it came from, so a refusal names the file, row and field."""

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from execution.master_data import MasterDataRefused
from mes.api.parsers import json_problem

BOOLEAN_COLUMNS = {"trackedByMachine", "isRequired", "isActive"}
JSON_COLUMNS = {"spec", "alarm", "triggerRule"}
INTEGER_COLUMNS = {"version", "stepNo", "routeVersion"}
LIST_COLUMNS = {"allowedStations", "specs"}  # values separated by "|"
# file: the columns it needs.
CSV_FILES = {
    "stations.csv": ["code", "name", "stationType"],
    "operations.csv": ["code", "name"],
    "specs.csv": ["operationCode", "name", "dataType"],
    "route_steps.csv": ["routeCode", "version", "stepNo", "operationCode"],
    "runs.csv": ["runNo", "routeCode", "routeVersion"],
    "serials.csv": ["runNo", "sn"],
}


class FileRefused(Exception):
    """A file that cannot be read as a bundle: the message names the file, row and column."""


@dataclass
class ReadBundle:
    bundle: dict
    # Where each item, or part of one, came from: {"operations[0].specs[1]": "specs.csv row 3"}.
    places: dict = field(default_factory=dict)
    name: str = ""

    def where(self, refusal: MasterDataRefused) -> str:
        """The refusal's message, its item named by file and row where it came from one."""
        path = ".".join(part for part in (refusal.item, refusal.field) if part)
        best = max((key for key in self.places if _within(path, key)), key=len, default=None)
        if best is None:
            return f"{self.name}: {refusal.message}"
        rest = path[len(best) :].lstrip(".")
        text = refusal.message.split(": ", 1)[-1] if path else refusal.message
        return f"{self.places[best]}{', ' + rest if rest else ''}: {text}"


def _within(path: str, key: str) -> bool:
    return path == key or path.startswith(f"{key}.") or path.startswith(f"{key}[")


def read_bundle(path: Path) -> ReadBundle:
    """The bundle in `path`: a JSON file, or a folder of CSV files (CSV_FILES). What the
    database cannot store (a NUL character, numbers beyond range, nesting past the API's
    bound) is refused here, as the API's parser refuses it, never a database error."""
    read = _read_folder(path) if path.is_dir() else _read_file(path)
    problem = json_problem(read.bundle, settings.INGEST_MAX_JSON_DEPTH)
    if problem:
        raise FileRefused(f"{read.name or path.name}: {problem}")
    return read


def _read_file(path: Path) -> ReadBundle:
    try:
        bundle = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as error:
        raise FileRefused(f"{path}: cannot be read ({error}).") from None
    except json.JSONDecodeError as error:
        raise FileRefused(f"{path.name}: not JSON ({error}).") from None
    return ReadBundle(bundle, name=path.name)


def _read_folder(folder: Path) -> ReadBundle:
    found = {name: folder / name for name in CSV_FILES if (folder / name).exists()}
    if not found:
        raise FileRefused(f"{folder}: none of {', '.join(CSV_FILES)} is there.")
    rows = {name: list(_rows(found[name], CSV_FILES[name])) for name in found}
    read = ReadBundle({}, name=folder.name)
    stations = read.bundle.setdefault("stations", [])
    for place, row in rows.get("stations.csv", []):
        read.places[f"stations[{len(stations)}]"] = place
        stations.append(row)
    operations = _grouped(read, "operations", rows.get("operations.csv", []), ("code",))
    _attach(read, "operations", operations, "specs", rows.get("specs.csv", []), ("operationCode",))
    routes = _grouped(read, "routes", [], ("code", "version"))
    _attach(
        read, "routes", routes, "steps", rows.get("route_steps.csv", []), ("routeCode", "version"),
        create=lambda row: {"code": row["routeCode"], "version": row["version"]},
    )  # fmt: skip
    runs = _grouped(read, "runs", rows.get("runs.csv", []), ("runNo",))
    for place, row in rows.get("serials.csv", []):
        index = runs.get((row["runNo"],))
        if index is None:
            raise FileRefused(f"{place}, runNo: {row['runNo']!r} is not in runs.csv.")
        serials = read.bundle["runs"][index].setdefault("serials", [])
        read.places[f"runs[{index}].serials[{len(serials)}]"] = place
        serials.append(row["sn"])
    return read


def _grouped(read: ReadBundle, section: str, rows, key: tuple) -> dict:
    items = read.bundle.setdefault(section, [])
    index_of = {}
    for place, row in rows:
        value = tuple(row.get(name) for name in key)
        if value in index_of:
            raise FileRefused(f"{place}: {section} {'/'.join(map(str, value))} is given twice.")
        index_of[value] = len(items)
        read.places[f"{section}[{len(items)}]"] = place
        items.append(row)
    return index_of


def _attach(read, section, index_of, part, rows, key, create=None) -> None:
    """Each row as a `part` of the `section` item its `key` columns name (created from the
    row when `create` is given, else the item must be in its own file)."""
    items = read.bundle[section]
    for place, row in rows:
        value = tuple(row.pop(name, None) for name in key)
        if value not in index_of:
            if create is None:
                raise FileRefused(
                    f"{place}, {key[0]}: {value[0]!r} is not in {section}.csv."
                )  # fmt: skip
            index_of[value] = len(items)
            read.places[f"{section}[{len(items)}]"] = place
            items.append(create({**dict(zip(key, value, strict=True)), **row}))
        item = items[index_of[value]]
        parts = item.setdefault(part, [])
        read.places[f"{section}[{index_of[value]}].{part}[{len(parts)}]"] = place
        parts.append(row)


def _rows(path: Path, required: list[str]):
    """(place, row) for each row of a CSV file: empty cells left out, typed columns read."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in required if name not in (reader.fieldnames or [])]
            if missing:
                raise FileRefused(f"{path.name}: missing column(s) {', '.join(missing)}.")
            for number, row in enumerate(reader, start=2):
                place = f"{path.name} row {number}"
                yield place, _typed(place, row)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise FileRefused(f"{path.name}: cannot be read ({error}).") from None


def _typed(place: str, row: dict) -> dict:
    typed = {}
    for name, text in row.items():
        if name is None:
            raise FileRefused(f"{place}: more cells than columns.")
        text = (text or "").strip()
        if not text:
            continue
        try:
            typed[name] = _cell(name, text)
        except ValueError as error:
            raise FileRefused(f"{place}, {name}: {error}") from None
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
        return [part.strip() for part in text.split("|") if part.strip()]
    return text
