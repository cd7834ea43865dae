"""Django permissions for the API, checked per method, with each user's set cached briefly."""

from django.core.cache import cache
from rest_framework import permissions

from mes.api.cache_outage import report_cache_outage


class ReadOrIngestPermission(permissions.DjangoModelPermissions):
    """POST needs the ingest permission, GET the view permission of the view's model."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        # A method the view does not offer is a 405 for everyone, not a 403.
        if request.method not in view.allowed_methods:
            return True
        queryset = view.get_queryset() if hasattr(view, "get_queryset") else view.queryset
        return all(has_permission(user, perm) for perm in self.get_required_permissions(
            request.method, queryset.model
        ))  # fmt: skip


PERMISSIONS_CACHE_SECONDS = 30


def has_permission(user, permission: str) -> bool:
    """Django's permission check, with the user's permissions cached for 30 s.

    A busy gateway would otherwise pay two queries per event for them. A change
    of groups takes effect within 30 s; revoking a key is immediate, since keys
    are checked on every request.
    """
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    key = f"permissions:{user.pk}"
    try:
        permissions = cache.get(key)
    except Exception:  # the cache is down: ask the database, as Django does
        report_cache_outage()
        return user.has_perm(permission)
    if permissions is None:
        permissions = frozenset(user.get_all_permissions())
        try:
            cache.set(key, permissions, PERMISSIONS_CACHE_SECONDS)
        except Exception:  # the answer stands; only the caching failed
            report_cache_outage()
    return permission in permissions
