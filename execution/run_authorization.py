"""Authorizing a run: PREP → AUTHORIZED in the back office (docs/runs.md). The ERP may
also send a run AUTHORIZED through master data (docs/master-data.md), with the same
check that its route version has steps. From AUTHORIZED on, the MES moves it: the first
track-in makes it IN_PROGRESS, the last unit's finish COMPLETED (docs/execution.md).

The back office's button and list action call `authorize_run`; its forms never write a
run's status.
"""

import logging
from dataclasses import dataclass

from django.db import transaction

from execution.models import RouteStep, Run

AUTHORIZE_PERMISSION = "execution.authorize_run"

logger = logging.getLogger(__name__)


class AuthorizationRefused(Exception):
    """The run cannot be authorized; nothing was written. `code` names why
    (RUN_NOT_FOUND, RUN_NOT_IN_PREP, ROUTE_VERSION_NOT_READY)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Authorization:
    run: Run
    # False when the run was AUTHORIZED already: nothing was written.
    changed: bool


def authorize_run(run: Run | str, *, by) -> Authorization:
    """Authorize run `run` (a Run or its run number) on behalf of `by`: PREP →
    AUTHORIZED, under the run's row lock. A run already AUTHORIZED is left as it is
    (`changed` False): two people pressing the button at once both succeed, once.

    Refuses (AuthorizationRefused, nothing written) an unknown run (RUN_NOT_FOUND), a run
    in any other status (RUN_NOT_IN_PREP), and a run whose route version is missing or
    has no steps (ROUTE_VERSION_NOT_READY: its units could not be tracked in). Callers
    check the `execution.authorize_run` permission.
    """
    run_no = run.run_no if isinstance(run, Run) else run
    with transaction.atomic():
        locked = Run.objects.select_for_update().filter(run_no=run_no).first()
        if locked is None:
            raise AuthorizationRefused("RUN_NOT_FOUND", f"Run not found: {run_no}")
        if locked.status == Run.Status.AUTHORIZED:
            return Authorization(locked, changed=False)
        if locked.status != Run.Status.PREP:
            raise AuthorizationRefused(
                "RUN_NOT_IN_PREP",
                f"Run {run_no} is {locked.get_status_display().lower()}: only a run in "
                "preparation can be authorized",
            )
        if locked.route_version_id is None:
            raise AuthorizationRefused(
                "ROUTE_VERSION_NOT_READY", f"Run {run_no} has no route version: set one first"
            )
        if not RouteStep.objects.filter(route_version_id=locked.route_version_id).exists():
            raise AuthorizationRefused(
                "ROUTE_VERSION_NOT_READY",
                f"Run {run_no}'s route {locked.route_version} has no steps: add them first",
            )
        locked.status = Run.Status.AUTHORIZED
        locked.save(update_fields=["status"])
    logger.info("Run %s authorized by %s", run_no, getattr(by, "username", by))
    return Authorization(locked, changed=True)
