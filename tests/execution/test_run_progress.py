"""A run's figures (execution/run_progress.py): its units by status and by route step,
its first-pass and final yields over its finished units, and its units' open holds,
counted on a run built by the real services (tests/run_mix.py), in a fixed number of
queries."""

from fractions import Fraction

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from execution.models import Run, Unit
from execution.run_progress import Yield, run_progress
from tests.factories import RunFactory, UnitFactory
from tests.run_mix import build_run_mix

pytestmark = pytest.mark.django_db


@pytest.fixture
def mix(route_line):
    return build_run_mix(route_line)


def test_units_are_counted_by_status(route_line, mix):
    progress = run_progress(route_line.run)

    counts = {status: units for status, _label, units in progress.by_status}
    assert counts == {
        "QUEUED": 2,
        "IN_STATION": 1,
        "OUT_FAILED": 1,
        "DONE": 4,
        "ON_HOLD": 1,
        "REWORK": 0,
        "SCRAPPED": 1,
    }
    assert progress.units == 10
    assert (progress.started, progress.finished) == (9, 5)


def test_units_on_their_way_are_counted_at_their_step(route_line, mix):
    progress = run_progress(route_line.run)

    table = {row.step_no: dict(row.cells) for row in progress.steps}
    assert [row.step.operation.code for row in progress.steps] == [
        "OP-TRK-PRINT",
        "OP-TRK-REFLOW",
        "OP-TRK-INSPECT",
    ]
    assert table[10] == {"QUEUED": 0, "IN_STATION": 0, "OUT_FAILED": 1, "ON_HOLD": 0, "REWORK": 0}
    assert table[20] == {"QUEUED": 1, "IN_STATION": 1, "OUT_FAILED": 0, "ON_HOLD": 0, "REWORK": 0}
    assert table[30] == {"QUEUED": 0, "IN_STATION": 0, "OUT_FAILED": 0, "ON_HOLD": 1, "REWORK": 0}
    assert progress.not_started == 1  # MIX-E


def test_first_pass_yield_counts_done_units_that_never_failed_nor_were_reworked(route_line, mix):
    progress = run_progress(route_line.run)

    # A and B of 5 finished; C failed once, K was reworked from a hold, D scrapped.
    assert progress.first_pass.ratio == Fraction(2, 5)
    assert progress.first_pass.percent == "40.0 %"


def test_final_yield_counts_every_done_unit_of_the_finished_ones(route_line, mix):
    progress = run_progress(route_line.run)

    assert progress.final.ratio == Fraction(4, 5)
    assert progress.final.percent == "80.0 %"


def finished_by_hand(run, done: int, scrapped: int = 0) -> None:
    """Units set DONE or SCRAPPED in the unit form, never tracked in."""
    for n in range(done):
        UnitFactory(sn=f"HAND-DONE-{n}", run=run, status=Unit.Status.DONE)
    for n in range(scrapped):
        UnitFactory(sn=f"HAND-SCRAP-{n}", run=run, status=Unit.Status.SCRAPPED)


def test_units_finished_by_hand_without_a_pass_count_in_neither_yield(route_line, mix):
    finished_by_hand(route_line.run, done=2, scrapped=1)

    progress = run_progress(route_line.run)

    # The mix's figures, unchanged: 5 finished of 9 started, 2 and 4 of them good.
    assert (progress.started, progress.finished) == (9, 5)
    assert (progress.first_pass, progress.final) == (Yield(2, 5), Yield(4, 5))
    # Shown apart, and still in the units by status.
    assert progress.finished_without_pass == 3
    counts = {status: units for status, _label, units in progress.by_status}
    assert (counts["DONE"], counts["SCRAPPED"], progress.units) == (6, 2, 13)


def test_a_run_whose_only_finished_units_were_set_by_hand_has_no_yield(route_line):
    finished_by_hand(route_line.run, done=3)

    progress = run_progress(route_line.run)

    assert (progress.started, progress.finished, progress.finished_without_pass) == (0, 0, 3)
    assert (progress.first_pass, progress.final) == (Yield(0, 0), Yield(0, 0))
    assert progress.first_pass.percent == "—"


def test_a_run_with_no_finished_unit_has_no_yield_not_zero(route_line):
    UnitFactory(sn="PLANNED-1", run=route_line.run)

    progress = run_progress(route_line.run)

    assert (progress.first_pass, progress.final) == (Yield(0, 0), Yield(0, 0))
    assert progress.first_pass.ratio is None and progress.first_pass.percent == "—"


def test_the_open_holds_of_its_units_are_listed(route_line, mix):
    progress = run_progress(route_line.run)

    assert [hold.unit.sn for hold in progress.open_holds] == ["MIX-H"]
    assert progress.open_hold_count == 1


def test_a_unit_at_a_step_the_route_no_longer_has_is_still_counted(route_line):
    UnitFactory(sn="ODD-1", run=route_line.run, status=Unit.Status.QUEUED, current_step_no=15)

    progress = run_progress(route_line.run)

    odd = [row for row in progress.steps if row.step is None]
    assert [(row.step_no, row.counts) for row in odd] == [(15, {"QUEUED": 1})]


def test_a_run_without_a_route_version_has_no_steps(db):
    run = RunFactory(route_version=None, status=Run.Status.PREP)
    UnitFactory(sn="NO-ROUTE-1", run=run)

    progress = run_progress(run)

    assert progress.steps == [] and progress.not_started == 1


def test_the_figures_take_the_same_few_queries_for_ten_units_as_for_one(route_line, mix):
    with CaptureQueriesContext(connection) as ten:
        run_progress(route_line.run)
    other = RunFactory(route_version=route_line.run.route_version)
    UnitFactory(sn="ONE-1", run=other)
    with CaptureQueriesContext(connection) as one:
        run_progress(other)

    assert len(ten) == len(one) == 3
