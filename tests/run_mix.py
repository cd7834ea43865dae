"""Ten units of the route line's run (tests/route_line.py), each left in a state the
run's figures count (execution/run_progress.py), moved there by the real track-in,
track-out, disposition and hold services. The counts each test expects are worked out
by hand in UNITS below.

| unit | what happened | status (step) | first pass |
| --- | --- | --- | --- |
| MIX-A, MIX-B | passed steps 10, 20, 30 | DONE | yes |
| MIX-C | failed 10, rework at 10, then passed 10, 20, 30 | DONE | no (a FAIL pass) |
| MIX-K | held after 20 (peak 260), hold closed with rework, passed 30 | DONE | no |
| MIX-D | failed 10, scrapped | SCRAPPED | — |
| MIX-E | planned, never tracked in | QUEUED (none) | — |
| MIX-F | passed 10 | QUEUED (20) | — |
| MIX-G | passed 10, in station at 20 | IN_STATION (20) | — |
| MIX-H | passed 10, held after 20 (peak 260): the open hold | ON_HOLD (30) | — |
| MIX-I | failed 10, waiting for a disposition | OUT_FAILED (10) | — |

Finished: 5 (A, B, C, K done; D scrapped). Started: 9 (all but E).
First-pass yield 2/5 (A, B); final yield 4/5.
"""

from execution.failure_dispositions import dispose_failed_unit
from execution.holds import close_hold
from execution.models import Hold, Unit
from execution.tracking import track_in, track_out
from tests.factories import UnitFactory, UserFactory
from tests.route_line import RouteLine, fail_at_first_step

VISUAL_OK = [{"spec_name": "Visual Check", "value_boolean": True}]
SERIALS = [f"MIX-{letter}" for letter in "ABCDEFGHIK"]
TOO_HOT = [{"spec_name": "Peak Temperature", "value_number": 260.0}]


def _pass(line: RouteLine, sn: str, step: int, data=None):
    station = {10: line.spi, 20: line.reflow, 30: line.inspection}[step]
    track_in(station_code=station.code, sn=sn, run_no=line.run.run_no)
    return track_out(
        station_code=station.code,
        sn=sn,
        run_no=line.run.run_no,
        result="PASS",
        event_id=f"{sn}-{step}-{Unit.objects.get(sn=sn).tracks.count()}",
        source_ref=f"track-out:{sn}-{step}",
        data=data or (VISUAL_OK if step == 30 else []),
    )


def build_run_mix(line: RouteLine) -> dict[str, Unit]:
    """The ten units of the table above, by serial number."""
    person = UserFactory(username="qe-mix")
    # Planned first, as a run's serials come from the ERP: the run completes only when
    # the last of them is finished.
    for sn in SERIALS:
        UnitFactory(sn=sn, run=line.run)
    for sn in ("MIX-A", "MIX-B"):
        for step in (10, 20, 30):
            _pass(line, sn, step)

    fail_at_first_step(line, "MIX-C")
    dispose_failed_unit(
        "MIX-C", disposition="REWORK", rework_step_no=10, note="reprint", decided_by=person
    )
    for step in (10, 20, 30):
        _pass(line, "MIX-C", step)

    _pass(line, "MIX-K", 10)
    held = _pass(line, "MIX-K", 20, data=TOO_HOT)
    close_hold(held.hold.hold_id, disposition="REWORK", note="re-flowed", closed_by=person)
    _pass(line, "MIX-K", 30)

    fail_at_first_step(line, "MIX-D")
    dispose_failed_unit("MIX-D", disposition="SCRAP", note="lifted pad", decided_by=person)

    _pass(line, "MIX-F", 10)
    _pass(line, "MIX-G", 10)
    track_in(station_code=line.reflow.code, sn="MIX-G", run_no=line.run.run_no)
    _pass(line, "MIX-H", 10)
    _pass(line, "MIX-H", 20, data=TOO_HOT)
    fail_at_first_step(line, "MIX-I")

    units = {unit.sn: unit for unit in Unit.objects.filter(run=line.run)}
    assert len(units) == 10
    assert Hold.objects.filter(unit__run=line.run, closed_at=None).count() == 1
    return units
