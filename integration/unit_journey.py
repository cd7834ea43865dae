"""A unit's journey through its route, for the top of its page: where it is now, each
pass (in and out, station, step, result, defect, inspection override, and who: the
operator and the account that sent the track-in and the track-out), and the decisions
on its failed passes (docs/unit-page.md).

Who sent a call comes from its track-in/out record (integration.TrackingRecord, read by
the unit's passes): a call sent without an eventId leaves no record, so its pass names
the operator only.
"""

from dataclasses import dataclass

from execution.models import FailureDisposition, RouteStep, Track
from execution.unit_history import UnitScope, failure_dispositions, pass_outcome
from integration.models import TrackingRecord
from integration.unit_history import tracking_records

TRACK_IN, TRACK_OUT = TrackingRecord.Kind.TRACK_IN, TrackingRecord.Kind.TRACK_OUT


@dataclass
class PassRow:
    """One pass of the unit, as its page's journey table shows it."""

    track: Track
    sent_in_by: str
    sent_out_by: str
    outcome: str


@dataclass
class Journey:
    current_step: RouteStep | None
    passes: list[PassRow]
    dispositions: list[FailureDisposition]


def unit_passes(scope: UnitScope) -> list[PassRow]:
    """The unit's passes, oldest first, each with the senders of its track-in and
    track-out where their records name them."""
    senders: dict[tuple[int, str], str] = {}
    for record in tracking_records(scope):
        if record.sent_by is not None:
            senders.setdefault((record.track_id, record.kind), record.sent_by.username)
    return [
        PassRow(
            track=track,
            sent_in_by=senders.get((track.pk, TRACK_IN), ""),
            sent_out_by=senders.get((track.pk, TRACK_OUT), ""),
            outcome=pass_outcome(track),
        )
        for track in scope.tracks.values()
    ]


def unit_journey(scope: UnitScope, steps: list[RouteStep], user) -> Journey:
    """What the unit's page shows above its history, as `user` may see it."""
    unit = scope.unit
    current = next((step for step in steps if step.step_no == unit.current_step_no), None)
    passes = unit_passes(scope) if user.has_perm("execution.view_track") else []
    dispositions = (
        failure_dispositions(unit) if user.has_perm("execution.view_failuredisposition") else []
    )
    return Journey(current_step=current, passes=passes, dispositions=dispositions)
