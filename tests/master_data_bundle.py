"""The example master data of docs/examples/master-data/ as tests read it: the JSON
bundle, fresh for each test (tests change it), and its folder of CSV files."""

import copy
import json
from functools import cache
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples" / "master-data"
JSON_BUNDLE = EXAMPLES / "demo-line.json"
CSV_FOLDER = EXAMPLES / "csv"


@cache
def _bundle() -> dict:
    return json.loads(JSON_BUNDLE.read_text())


def example_bundle() -> dict:
    """The example bundle: 5 stations, 5 operations with 12 specs, route ROUTE-SMT-EX v1
    of 5 steps, run RUN-EX-001 of 200 serials."""
    return copy.deepcopy(_bundle())


def section(name: str) -> list:
    return example_bundle()[name]
