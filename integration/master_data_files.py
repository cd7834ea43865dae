"""Master-data files read into a bundle of execution.master_data (docs/master-data.md):
a JSON file with the sections stations, operations, routes and runs in the API's shapes,
or a folder of CSV files, one per table of execution/master_data/tables.py. Each item
keeps where it came from, so a refusal names the file, row and column."""

import csv
import json
from pathlib import Path

from django.conf import settings

from execution.master_data.tables import (
    TABLES,
    TabledBundle,
    TableRefused,
    bundle_from_tables,
    read_rows,
)
from mes.api.parsers import json_problem

CSV_FILES = {f"{table}.csv": table for table in TABLES}


def read_bundle(path: Path) -> TabledBundle:
    """The bundle in `path`: a JSON file, or a folder of CSV files (CSV_FILES). What the
    database cannot store (a NUL character, numbers beyond range, nesting past the API's
    bound) is refused here, as the API's parser refuses it, never a database error.
    Raises TableRefused."""
    read = _read_folder(path) if path.is_dir() else _read_file(path)
    problem = json_problem(read.bundle, settings.INGEST_MAX_JSON_DEPTH)
    if problem:
        raise TableRefused(problem, place=read.name or path.name)
    return read


def _read_file(path: Path) -> TabledBundle:
    try:
        bundle = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as error:
        raise TableRefused(f"cannot be read ({error}).", place=str(path)) from None
    except json.JSONDecodeError as error:
        raise TableRefused(f"not JSON ({error}).", place=path.name) from None
    return TabledBundle(bundle, name=path.name)


def _read_folder(folder: Path) -> TabledBundle:
    found = {name: folder / name for name in CSV_FILES if (folder / name).exists()}
    if not found:
        raise TableRefused(f"none of {', '.join(CSV_FILES)} is there.", place=str(folder))
    tables = {CSV_FILES[name]: _csv_rows(file, CSV_FILES[name]) for name, file in found.items()}
    return bundle_from_tables(tables, name=folder.name)


def _csv_rows(path: Path, table: str):
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            headers = next(reader, [])
            return read_rows(table, path.name, headers, reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise TableRefused(f"cannot be read ({error}).", place=path.name) from None
