"""A unit's verdict, for the top of its page: its status, how many of its values were
judged FAIL or alarmed, and its open hold (docs/unit-page.md).

Read from the unit's passes' keys (the values' track index) and the one-open-hold-per-unit
constraint's index: two small queries whatever the length of its history.
"""

from dataclasses import dataclass

from django.db.models import Count, Q

from execution.models import DataValue, Hold, Unit
from execution.unit_history import UnitScope

# Statuses that are a verdict in themselves, each with the word the page shows.
STATUS_WORDS = {
    Unit.Status.DONE: "DONE",
    Unit.Status.OUT_FAILED: "FAILED",
    Unit.Status.ON_HOLD: "ON HOLD",
    Unit.Status.SCRAPPED: "SCRAPPED",
    Unit.Status.REWORK: "IN REWORK",
    Unit.Status.IN_STATION: "IN STATION",
    Unit.Status.QUEUED: "QUEUED",
}


@dataclass
class Verdict:
    status: str
    word: str
    values: int | None  # None: the person may not view values
    failed_values: int | None
    alarmed_values: int | None
    open_hold: Hold | None

    @property
    def any_failed(self) -> bool:
        return bool(self.failed_values)


def unit_verdict(scope: UnitScope, user) -> Verdict:
    """The unit's status, its values' FAIL and alarm counts and its open hold, as `user`
    may see them."""
    unit = scope.unit
    values = failed = alarmed = None
    if user.has_perm("execution.view_datavalue"):
        counts = (
            DataValue.objects.filter(track_id__in=scope.track_ids).aggregate(
                values=Count("pk"),
                failed=Count("pk", filter=Q(judge=DataValue.Judge.FAIL)),
                alarmed=Count("pk", filter=Q(alarmed=True)),
            )
            if scope.track_ids
            else {"values": 0, "failed": 0, "alarmed": 0}
        )
        values, failed, alarmed = counts["values"], counts["failed"], counts["alarmed"]
    open_hold = None
    if user.has_perm("execution.view_hold"):
        # spec, first_value: the hold's line on the page.
        open_hold = (
            Hold.objects.filter(unit=unit, closed_at=None)
            .select_related("spec", "first_value")
            .first()
        )
    return Verdict(
        status=unit.status,
        word=STATUS_WORDS.get(unit.status, unit.status),
        values=values,
        failed_values=failed,
        alarmed_values=alarmed,
        open_hold=open_hold,
    )
