"""A failed unit's disposition (docs/execution.md): after a FAIL track-out the unit waits
(OUT_FAILED) until quality staff send it to rework at a step of its route or scrap it.
Called by the back office's disposition page; the rules' shared checks are tracking.py's.
"""

from django.db import transaction
from django.utils import timezone

from execution.models import FailureDisposition, PassResult, Unit
from execution.reason_codes import reason_named
from execution.tracking import TrackingRefused, complete_run, locked_unit, route_step_numbers


def dispose_failed_unit(
    sn: str,
    *,
    disposition: str,
    note: str,
    decided_by,
    rework_step_no: int | None = None,
    reason: str | None = None,
) -> FailureDisposition:
    """Decide what becomes of a unit that failed a step (OUT_FAILED): REWORK queues it at
    `rework_step_no`, a step of its run's route, where its next track-in starts; SCRAP
    scraps it (and completes its run if no other unit is left). Who, when and why are
    kept with the failed pass; `reason` is a reason code of the plant's list
    (execution/reason_codes.py), needed once the list has an active code.

    Callers check the `execution.dispose_failed_unit` permission. Raises
    TrackingRefused (UNIT_NOT_FOUND, UNIT_NOT_FAILED, STEP_NOT_IN_ROUTE) or ValueError
    for an unknown disposition, an empty note or a missing or unknown reason code.
    """
    if disposition not in FailureDisposition.Disposition.values:
        raise ValueError(f"Unknown disposition {disposition!r}.")
    if not note or not note.strip():
        raise ValueError("Say why in the note.")
    reason_code = reason_named(reason)
    now = timezone.now()
    with transaction.atomic():
        unit = locked_unit(sn)
        if unit is None:
            raise TrackingRefused("UNIT_NOT_FOUND", f"Unit not found: {sn}")
        if unit.status != Unit.Status.OUT_FAILED:
            raise TrackingRefused(
                "UNIT_NOT_FAILED",
                f"Unit {sn} is {unit.get_status_display().lower()}, not failed: "
                "only a failed unit takes a disposition",
            )
        failed = unit.tracks.filter(result=PassResult.FAIL).order_by("-in_at", "-pk").first()
        run = unit.run
        if disposition == FailureDisposition.Disposition.REWORK:
            steps = route_step_numbers(run)
            if rework_step_no not in steps:
                raise TrackingRefused(
                    "STEP_NOT_IN_ROUTE",
                    f"Step {rework_step_no} is not a step of run {run}'s route "
                    f"(its steps: {', '.join(map(str, steps)) or 'none'})",
                )
            unit.status, unit.current_step_no = Unit.Status.REWORK, rework_step_no
        else:
            rework_step_no = None
            unit.status = Unit.Status.SCRAPPED
        unit.save(update_fields=["status", "current_step_no"])
        decision = FailureDisposition(
            unit=unit,
            track=failed,
            disposition=disposition,
            rework_step_no=rework_step_no,
            note=note.strip(),
            decided_by=decided_by,
            decided_at=now,
            reason=reason_code,
        )
        decision._history_user = decided_by  # the History page's "changed by"
        decision.save()
        if unit.status == Unit.Status.SCRAPPED and run is not None:
            complete_run(run, now)
    return decision
