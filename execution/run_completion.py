"""When a run is finished (docs/execution.md): COMPLETED, with `completed_at`, once every
unit of it is DONE or SCRAPPED. Called wherever a unit may end so: its last track-out, a
failed unit's scrap, and the close of a hold (release to DONE, or scrap)."""

from execution.models import Run, Unit

FINISHED = (Unit.Status.DONE, Unit.Status.SCRAPPED)


def complete_run_if_finished(run_id: int | None, now) -> bool:
    """Complete the run if no unit of it is left unfinished; in the caller's transaction,
    after it locked the unit. Returns whether the run is completed now.

    The run's row is locked (after the unit's: the one order of locks), so the last two
    units finishing at once cannot each see the other unfinished. FOR UPDATE, the strong
    lock: a track-in holds the run FOR KEY SHARE until it commits (tracking_rows.hold_run),
    so a unit being tracked into the run is seen here, or sees the run COMPLETED.
    """
    if run_id is None:
        return False
    locked = Run.objects.select_for_update().filter(pk=run_id).first()
    if locked is None or locked.status == Run.Status.COMPLETED:
        return locked is not None
    if Unit.objects.filter(run_id=run_id).exclude(status__in=FINISHED).exists():
        return False
    Run.objects.filter(pk=run_id).update(status=Run.Status.COMPLETED, completed_at=now)
    return True
