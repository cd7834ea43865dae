"""Where a run's units are and how well they came through (docs/runs.md): its units by
status and by route step, its first-pass and final yields, and its units' open holds.
Read-only, for the run's page in the back office; a fixed number of queries whatever the
run's size (one grouped count of its units, its route's steps, its open holds).

Yields count finished units only: started (at least one track) and DONE or SCRAPPED. A
unit still on its way has no verdict yet, and counts neither for nor against; a unit set
DONE or SCRAPPED by hand without ever being tracked in was not judged by the line, and is
counted apart (`finished_without_pass`), in neither yield.
- final yield = units finished DONE ÷ units finished;
- first-pass yield = units finished DONE that never failed a pass and were never sent to
  rework ÷ units finished.
"""

from dataclasses import dataclass, field
from fractions import Fraction

from django.db.models import Count, Exists, OuterRef, Q

from execution.models import Hold, PassResult, RouteStep, Run, Track, Unit

# The statuses of a unit still on its way, each a column of the units-by-step table.
AT_STEP = (
    Unit.Status.QUEUED,
    Unit.Status.IN_STATION,
    Unit.Status.OUT_FAILED,
    Unit.Status.ON_HOLD,
    Unit.Status.REWORK,
)
FINISHED = (Unit.Status.DONE, Unit.Status.SCRAPPED)
OPEN_HOLDS_SHOWN = 50


@dataclass
class Yield:
    """units ÷ of; `ratio` None when no unit is finished (shown "—", not 0 %)."""

    units: int
    of: int

    @property
    def ratio(self) -> Fraction | None:
        return Fraction(self.units, self.of) if self.of else None

    @property
    def percent(self) -> str:
        return "—" if not self.of else f"{100 * self.units / self.of:.1f} %"


@dataclass
class StepRow:
    """A route step (or, with `step` None, units at a step number no longer in the route)
    and how many of the run's units are at it in each status of AT_STEP."""

    step_no: int
    step: RouteStep | None
    counts: dict[str, int]

    @property
    def cells(self) -> list[tuple[str, int]]:
        return [(status, self.counts.get(status, 0)) for status in AT_STEP]


@dataclass
class RunProgress:
    run: Run
    by_status: list[tuple[str, str, int]]  # (status, label, units), every status
    steps: list[StepRow]
    not_started: int  # units planned in the run, never tracked in
    started: int  # units with at least one track
    finished: int  # started units DONE or SCRAPPED: the yields' denominator
    finished_without_pass: int  # DONE or SCRAPPED without a track (set by hand)
    first_pass: Yield
    final: Yield
    open_holds: list[Hold] = field(default_factory=list)
    open_hold_count: int = 0

    @property
    def units(self) -> int:
        return sum(units for _status, _label, units in self.by_status)


def run_progress(run: Run) -> RunProgress:
    """The run's units by status and step, its yields and its units' open holds."""
    tracks = Track.objects.filter(unit=OuterRef("pk"))
    started_q = Q(Exists(tracks))
    reworked_hold = Hold.objects.filter(unit=OuterRef("pk"), disposition=Hold.Disposition.REWORK)
    # One row per (step, status): the counts of both tables and the yields' numerators.
    # A FAIL pass covers a failure's rework (it answers one) and a hold closed with
    # rework while in station (it closes the pass FAIL); a hold closed with rework after
    # the track-out leaves no FAIL pass, hence its own test.
    rows = (
        Unit.objects.filter(run=run)
        .values("current_step_no", "status")
        .annotate(
            units=Count("pk"),
            started=Count("pk", filter=started_q),
            # A unit set DONE by hand without a pass is no verdict of the line's.
            done=Count("pk", filter=Q(status=Unit.Status.DONE) & started_q),
            finished=Count("pk", filter=Q(status__in=FINISHED) & started_q),
            first_pass=Count(
                "pk",
                filter=Q(status=Unit.Status.DONE)
                & started_q
                & ~Q(Exists(tracks.filter(result=PassResult.FAIL)))
                & ~Q(Exists(reworked_hold)),
            ),
        )
        .order_by()
    )
    by_status = dict.fromkeys(Unit.Status.values, 0)
    at_step: dict[int, dict[str, int]] = {}
    not_started = started = done = finished = first_pass = 0
    for row in rows:
        status, units = row["status"], row["units"]
        by_status[status] += units
        started += row["started"]
        done += row["done"]
        finished += row["finished"]
        first_pass += row["first_pass"]
        if status in AT_STEP:
            if row["current_step_no"] is None:
                not_started += units
            else:
                counts = at_step.setdefault(row["current_step_no"], {})
                counts[status] = counts.get(status, 0) + units

    route_steps = (
        list(
            RouteStep.objects.filter(route_version_id=run.route_version_id)
            .select_related("operation")
            .order_by("step_no")
        )
        if run.route_version_id
        else []
    )
    steps = [StepRow(step.step_no, step, at_step.pop(step.step_no, {})) for step in route_steps]
    # Units at a step number the route no longer has (a version edited before it was
    # fixed, or a unit's step typed by hand): shown, so no unit goes uncounted.
    steps += [StepRow(step_no, None, counts) for step_no, counts in sorted(at_step.items())]

    holds = Hold.objects.filter(unit__run=run, closed_at=None)
    shown = list(
        holds.select_related("unit", "spec").order_by("opened_at", "pk")[:OPEN_HOLDS_SHOWN]
    )
    return RunProgress(
        run=run,
        by_status=[(status, label, by_status[status]) for status, label in Unit.Status.choices],
        steps=steps,
        not_started=not_started,
        started=started,
        finished=finished,
        finished_without_pass=sum(by_status[status] for status in FINISHED) - finished,
        first_pass=Yield(first_pass, finished),
        final=Yield(done, finished),
        open_holds=shown,
        open_hold_count=len(shown) if len(shown) < OPEN_HOLDS_SHOWN else holds.count(),
    )
