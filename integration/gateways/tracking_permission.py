"""A gateway allowed to track units in and out: `execution.track_units`, given to its own
account (not to the `Gateways` group, which only ingests). A station's machine needs it
to track units through IPC-CFX (docs/cfx.md, "Tracking by the machine"), as a REST
station client does (docs/api.md, "Stations"). Running processes see a change within
30 s (their permissions are cached that long: mes/api/permissions.py)."""

from django.contrib.auth.models import Permission


def _track_units() -> Permission:
    return Permission.objects.get(content_type__app_label="execution", codename="track_units")


def allow_tracking(gateway) -> bool:
    """Give `gateway` the permission to track units; False if it had it already."""
    if gateway.user_permissions.filter(pk=_track_units().pk).exists():
        return False
    gateway.user_permissions.add(_track_units())
    return True


def withdraw_tracking(gateway) -> bool:
    """Take the permission to track units from `gateway`'s own account; False if it had
    none there (a group may still give it)."""
    if not gateway.user_permissions.filter(pk=_track_units().pk).exists():
        return False
    gateway.user_permissions.remove(_track_units())
    return True
