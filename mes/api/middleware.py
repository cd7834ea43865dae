"""Error answers that Django makes itself are JSON envelopes under /api/ and the health checks.

docs/api.md: no response under /api/, /healthz or /readyz is an HTML error page.
DRF's views answer in the envelope already; this catches what happens before
or outside them, which Django would answer with its HTML error pages: a Host
header not in ALLOWED_HOSTS (400, e.g. a gateway addressing the server by its
IP address), a request Django refuses as suspicious (400), or an error in a
middleware or a plain view (500). It must be the outermost middleware.
"""

from django.http import JsonResponse

from mes.api.exceptions import error_body

JSON_PATHS = ("/api/", "/healthz", "/readyz")
CODES = {
    400: "VALIDATION_ERROR",
    401: "NOT_AUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    503: "SERVICE_UNAVAILABLE",
}
MESSAGES = {
    400: "Bad request: a Host header the server does not serve, or a request it refuses.",
    500: "An unexpected error occurred; it has been logged.",
}
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class JsonErrorPagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(JSON_PATHS)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code
            answer = JsonResponse(
                error_body(
                    CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR"),
                    MESSAGES.get(status, f"{response.reason_phrase}."),
                ),
                status=status,
            )
            for name in KEPT_HEADERS:
                if name in response:
                    answer[name] = response[name]
            return answer
        return response
