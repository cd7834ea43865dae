"""A run's end: COMPLETED once every unit of it is DONE or SCRAPPED (docs/execution.md).
Called by the last track-out, a failed unit's scrap and a hold's scrap, after they lock
their unit."""

from execution.models import Run, Unit


def complete_run_if_finished(run_id: int, now) -> bool:
    """Mark the run COMPLETED (`completed_at`) if no unit of it is left to finish; whether
    it did. Its row is locked after the unit's (the one order of locks), so the last two
    units finishing at once cannot each see the other unfinished."""
    locked = Run.objects.select_for_update(no_key=True).filter(pk=run_id).first()
    if locked is None or locked.status == Run.Status.COMPLETED:
        return False
    unfinished = (
        Unit.objects.filter(run_id=run_id)
        .exclude(status__in=(Unit.Status.DONE, Unit.Status.SCRAPPED))
        .exists()
    )
    if unfinished:
        return False
    Run.objects.filter(pk=run_id).update(status=Run.Status.COMPLETED, completed_at=now)
    return True
