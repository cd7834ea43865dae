"""Health checks for load balancers and orchestrators."""

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request):
    """The process is up."""
    return JsonResponse({"ok": True, "data": {"status": "up"}})


@never_cache
@require_GET
def readyz(request):
    """The database answers; 503 otherwise, so traffic goes elsewhere."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        response = JsonResponse(
            {
                "ok": False,
                "error": {"code": "SERVICE_UNAVAILABLE", "message": "The database is unavailable."},
            },
            status=503,
        )
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"ok": True, "data": {"status": "ready", "database": "up"}})
