"""Health checks for load balancers and orchestrators."""

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from mes.api.exceptions import error_body


def require_get(view):
    """Other methods get a 405 in the JSON envelope, like the rest of the API."""

    def checked(request):
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse(
                error_body("METHOD_NOT_ALLOWED", f"Method {request.method} not allowed."),
                status=405,
            )
            response["Allow"] = "GET, HEAD"
            return response
        return view(request)

    checked.__doc__ = view.__doc__
    return checked


@never_cache
@require_get
def healthz(request):
    """The process is up."""
    return JsonResponse({"ok": True, "data": {"status": "up"}})


@never_cache
@require_get
def readyz(request):
    """The database answers; 503 otherwise, so traffic goes elsewhere."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        response = JsonResponse(
            error_body("SERVICE_UNAVAILABLE", "The database is unavailable."), status=503
        )
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"ok": True, "data": {"status": "ready", "database": "up"}})
