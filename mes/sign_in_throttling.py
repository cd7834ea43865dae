"""The project's side of admin sign-in throttling (django-axes, configured in settings).

Every failed sign-in is logged with the user name tried and the client's address (from
the trusted proxy only: mes/client_address.py), and a lockout once more when it starts
(axes' own lines, which say the same in prose, are left out: mes/settings.py);
a locked-out sign-in gets a page in the back office's look saying what happened and
what to do (HTTP 429). Who may unlock: docs/operations.md, "The admin's sign-in".
"""

import structlog
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.shortcuts import render

from mes.client_address import client_address

logger = structlog.get_logger("mes.sign_in")


@receiver(user_login_failed)
def log_failed_sign_in(sender, credentials, request=None, **kwargs):
    """One line per wrong password (or refused attempt while locked out)."""
    logger.warning(
        "sign-in failed",
        username=credentials.get("username", ""),
        client_address=client_address(request) if request is not None else None,
        path=request.path if request is not None else None,
    )


@receiver(user_locked_out)
def log_lockout(sender, request, username, ip_address, **kwargs):
    """The moment a user and address are locked out (axes says so again on each refused
    attempt after it; those are logged as failures)."""
    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return
    logger.warning(
        "sign-in locked out",
        username=username,
        client_address=ip_address,
        failure_limit=settings.AXES_FAILURE_LIMIT,
        cooloff_minutes=cooloff_minutes(),
    )


def cooloff_minutes() -> int | None:
    """How long a lockout lasts, in minutes; None: until someone unlocks it."""
    cooloff = settings.AXES_COOLOFF_TIME
    return None if cooloff is None else int(cooloff.total_seconds() // 60)


def lockout_response(request, original_response=None, credentials=None):
    """The page of a sign-in refused because its user and address are locked out."""
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in refused for now",
        "username": (credentials or {}).get("username", ""),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": cooloff_minutes(),
    }
    return render(
        request, "admin/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE
    )
