"""A simulated SMT line driving units through a run over the HTTP API, as station
terminals and machine gateways would (`manage.py simulate_line`).

For each unit, step after step of its run's route: track in at the step's station
(`POST /api/stations/{code}/track-in`), ask what to collect
(`GET …/units/{sn}/data-specs`), send the machine's values as a device event
(`POST /api/integration/device-data`), and track out with the operator's values
(`POST …/track-out`), PASS, or FAIL with a defect for the units chosen to fail. The
answer of each track-out says where the unit goes: on to the next step, DONE, or it
stops (OUT_FAILED, ON_HOLD). Every call carries an eventId, so a retry is harmless.

Nothing here writes to the database: the server does, through its one path. The
line's layout (which station does each step) is read from the run's route.
"""

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from execution.models import DataSpec, Run, Station

DEVICE_DATA_PATH = "/api/integration/device-data"
STATIONS_PATH = "/api/stations"
# Where a unit stops on the line: the track-out answer's status.
STOPPED = {"OUT_FAILED", "ON_HOLD"}
SIMULATED_DEFECT = "SIM_DEFECT"


class LineError(Exception):
    """The run cannot be driven: not found, no route, or a step no station can do."""


@dataclass(frozen=True)
class LineStep:
    step_no: int
    station_code: str


def line_of(run_no: str) -> list[LineStep]:
    """The run's route, each step with the station that does it: its first allowed
    station, else the first station of its type (on the run's line, when it has one)."""
    run = Run.objects.filter(run_no=run_no).select_related("route_version").first()
    if run is None or run.route_version is None:
        raise LineError(f"Run {run_no} is not there or has no route: seed it first.")
    steps = []
    # allowed_stations: each step's stations, in one query.
    for step in run.route_version.steps.prefetch_related("allowed_stations").order_by("step_no"):
        allowed = sorted(step.allowed_stations.all(), key=lambda station: station.code)
        if not allowed:
            candidates = Station.objects.order_by("code")
            if step.station_type:
                candidates = candidates.filter(station_type=step.station_type)
            if run.line_code:
                candidates = candidates.filter(line_code__in=[run.line_code, ""])
            allowed = list(candidates[:1])
        if not allowed:
            raise LineError(f"No station can do step {step.step_no} of run {run_no}.")
        steps.append(LineStep(step.step_no, allowed[0].code))
    if not steps:
        raise LineError(f"Run {run_no}'s route has no steps.")
    return steps


def value_item(spec: dict, rng) -> dict:
    """A value of `spec` (as the data-specs answer describes it) inside its limits."""
    limits = spec.get("spec") or {}
    data_type = spec["dataType"]
    if data_type == DataSpec.DataType.NUMBER:
        low, high = limits.get("min"), limits.get("max")
        if low is not None and high is not None:
            centre = limits.get("target", (low + high) / 2)
            spread = (high - low) / 10
            number = min(high, max(low, rng.gauss(centre, spread)))
        elif high is not None:
            number = high * rng.uniform(0, 0.8)
        elif low is not None:
            number = low * rng.uniform(1, 1.5) if low > 0 else low + rng.uniform(0, 10)
        else:
            number = rng.uniform(0, 100)
        return {"specName": spec["name"], "valueNumber": round(number, 2)}
    if data_type == DataSpec.DataType.TEXT:
        allowed = limits.get("allowed") or ["OK"]
        return {"specName": spec["name"], "valueText": allowed[0]}
    if data_type == DataSpec.DataType.BOOLEAN:
        return {"specName": spec["name"], "valueBoolean": limits.get("expected", True)}
    return {"specName": spec["name"], "valueJson": {"simulated": True}}


class ApiClient:
    """JSON over HTTP with a key, as a gateway or a station terminal calls the MES."""

    def __init__(self, base_url: str, key: str, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """(HTTP status, decoded body); raises OSError when the server cannot be reached."""
        request = urllib.request.Request(
            self.base_url + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Token {self.key}"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, {"raw": raw[:200].decode(errors="replace")}


@dataclass
class UnitRun:
    """What became of one unit: its last status and every call's outcome."""

    sn: str
    status: str = ""
    stopped_at: int | None = None
    calls: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def _outcome(kind: str, status: int, body: dict) -> str:
    if status == 200:
        return f"{kind} 200"
    code = (body.get("error") or {}).get("code", "?") if isinstance(body, dict) else "?"
    return f"{kind} {code} ({status})"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def drive_unit(
    client: ApiClient,
    run_no: str,
    sn: str,
    steps: list[LineStep],
    rng,
    *,
    batch: str,
    fail_at: int | None = None,
    operator_id: str = "op-sim",
    pace=lambda: None,
) -> UnitRun:
    """Take unit `sn` through `steps` (FAIL at step `fail_at`), call by call; `pace` is
    called before each call (the command's rate)."""
    outcome = UnitRun(sn)

    def call(kind, method, path, body=None):
        pace()
        status, answer = client.call(method, path, body)
        outcome.calls[_outcome(kind, status, answer)] += 1
        if status != 200:
            outcome.errors.append(f"{kind} {sn} step {step.step_no}: HTTP {status} {answer}")
        return status, answer

    for step in steps:
        station = f"{STATIONS_PATH}/{step.station_code}"
        prefix = f"sim-{batch}-{sn}-{step.step_no}"
        unit = {"sn": sn, "runNo": run_no, "operatorId": operator_id}
        status, answer = call(
            "track-in", "POST", f"{station}/track-in", {**unit, "eventId": f"{prefix}-in"}
        )
        if status != 200:
            outcome.status, outcome.stopped_at = "REFUSED", step.step_no
            return outcome
        status, answer = call("data-specs", "GET", f"{station}/units/{sn}/data-specs")
        specs = answer.get("data", {}).get("specs", []) if status == 200 else []
        machine = [value_item(s, rng) for s in specs if s["method"] == DataSpec.Method.AUTO]
        manual = [value_item(s, rng) for s in specs if s["method"] != DataSpec.Method.AUTO]
        if machine:
            event = {
                "eventId": f"{prefix}-data",
                "eventTime": _now(),
                "source": "AUTO",
                "runNo": run_no,
                "unitSn": sn,
                "stationCode": step.station_code,
                "stepNo": step.step_no,
                "equipmentId": f"EQ-{step.station_code}",
                "data": machine,
                "meta": {"simulator": "line"},
            }
            call("device-data", "POST", DEVICE_DATA_PATH, event)
        out = {**unit, "eventId": f"{prefix}-out", "result": "PASS", "data": manual}
        if step.step_no == fail_at:
            location = f"R{rng.randint(1, 99)}"
            out.update(result="FAIL", defectCode=SIMULATED_DEFECT, defectLocation=location)
        status, answer = call("track-out", "POST", f"{station}/track-out", out)
        if status != 200:
            outcome.status, outcome.stopped_at = "REFUSED", step.step_no
            return outcome
        outcome.status = answer["data"]["status"]
        if outcome.status in STOPPED:
            outcome.stopped_at = step.step_no
            return outcome
    return outcome


def pacer(rate: float):
    """A function that sleeps so that calls go out at `rate` a second (0: no pause)."""
    interval = 1.0 / rate if rate > 0 else 0.0
    state = {"next": time.perf_counter()}

    def pace():
        if interval:
            time.sleep(max(0.0, state["next"] - time.perf_counter()))
            state["next"] = max(state["next"], time.perf_counter()) + interval

    return pace
