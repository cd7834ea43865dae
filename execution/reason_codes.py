"""The plant's reason codes for closing a hold and disposing of a failed unit
(docs/holds.md "Reason codes"): which one a disposition names, checked here for both
services (execution/holds.py close_hold, execution/tracking.py dispose_failed_unit)."""

from execution.models import ReasonCode


class ReasonCodeRefused(ValueError):
    """A disposition without the reason code it needs, or with one it may not name."""


def reason_named(code: str | None) -> ReasonCode | None:
    """The active reason code `code`; None when none is given and the plant keeps no
    active codes. Raises ReasonCodeRefused (a ValueError), worded for the person
    deciding, when a code is needed and missing, unknown or retired."""
    code = (code or "").strip()
    if not code:
        if ReasonCode.objects.filter(is_active=True).exists():
            raise ReasonCodeRefused("Choose a reason code.")
        return None
    reason = ReasonCode.objects.filter(code=code).first()
    if reason is None:
        raise ReasonCodeRefused(f"Unknown reason code {code!r}.")
    if not reason.is_active:
        raise ReasonCodeRefused(f"Reason code {code!r} is retired: choose an active one.")
    return reason


def active_reason_choices() -> list[tuple[str, str]]:
    """The active codes as a form's choices, in code order."""
    return [(reason.code, str(reason)) for reason in ReasonCode.objects.filter(is_active=True)]
