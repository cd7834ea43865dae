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


def put_line(client) -> list[dict]:
    """The example line put item by item through the API, as a PLM and an ERP would:
    the answers' data."""
    answers = []

    def put(path, body):
        response = client.put(f"/api/master-data/{path}", body, format="json")
        assert response.status_code == 200, response.content
        answers.append(response.json()["data"])

    for station in section("stations"):
        put(f"stations/{station['code']}", station)
    for operation in section("operations"):
        put(f"operations/{operation['code']}", operation)
    route = section("routes")[0]
    put(f"routes/{route['code']}/versions/{route['version']}", {"steps": route["steps"]})
    run = section("runs")[0]
    put(f"runs/{run['runNo']}", run)
    return answers


def master_data_snapshot() -> dict:
    """Every field of the master data the example sets up, by business key: what two
    ways of setting it up must agree on."""
    from execution.models import DataSpec, RouteStep, Run, Station, Unit

    spec_fields = [
        "operation__code", "operation__name", "name", "data_type", "item_type", "method",
        "trigger_type", "trigger_rule", "spec", "alarm", "is_required", "is_active",
    ]  # fmt: skip
    steps = {}
    for step in RouteStep.objects.select_related("route_version", "operation").prefetch_related(
        "allowed_stations", "data_specs"
    ):
        key = f"{step.route_version.code} v{step.route_version.version_no} step {step.step_no}"
        steps[key] = {
            "operation": step.operation.code,
            "stationType": step.station_type,
            "stations": sorted(station.code for station in step.allowed_stations.all()),
            "specs": sorted(spec.name for spec in step.data_specs.all()),
        }
    return {
        "stations": list(
            Station.objects.order_by("code").values(
                "code", "name", "station_type", "line_code", "tracked_by_machine"
            )
        ),
        "specs": list(DataSpec.objects.order_by("operation__code", "name").values(*spec_fields)),
        "steps": steps,
        "runs": list(
            Run.objects.order_by("run_no").values(
                "run_no",
                "wo_no",
                "line_code",
                "status",
                "route_version__code",
                "route_version__version_no",
            )
        ),  # fmt: skip
        "units": list(Unit.objects.order_by("sn").values_list("sn", "run__run_no", "status")),
    }
