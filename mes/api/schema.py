"""The OpenAPI schema as the API really answers (docs/api.md).

- The gateway key scheme (`Authorization: Token <key>` or `Api-Key <key>`), which
  drf-spectacular cannot guess for a custom authenticator.
- The envelope: every JSON success is `{"ok": true, "data": …}`, every error
  `{"ok": false, "error": {"code", "message", "details"}}`, with the statuses of
  docs/api.md's table documented on every operation that can give them.

Clients generated from the schema, and schemathesis in CI, rely on both.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ERROR_SCHEMA = "ErrorEnvelope"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}

ERROR_ENVELOPE = {
    "type": "object",
    "description": "Every error under /api/ (docs/api.md).",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"type": "boolean", "enum": [False]},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "VALIDATION_ERROR"},
                "message": {"type": "string"},
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Field errors for VALIDATION_ERROR; messageId (and items) "
                    "for a 422; messageId and recordId for a 409.",
                },
            },
        },
    },
}

ERRORS = {
    "400": "VALIDATION_ERROR: malformed JSON, wrong shape or types, or a bad filter value.",
    "401": "NOT_AUTHENTICATED: no or bad credentials.",
    "403": "PERMISSION_DENIED: authenticated but not allowed.",
    "404": "NOT_FOUND: unknown id.",
    "409": "EVENT_ID_CONFLICT: the eventId was received before with a different event.",
    "413": "PAYLOAD_TOO_LARGE: the body is over the configured limit.",
    "415": "UNSUPPORTED_MEDIA_TYPE: the body is not declared application/json.",
    "422": "The event is well-formed but cannot be written (TRACK_NOT_FOUND, RUN_NOT_FOUND, "
    "SPEC_NOT_FOUND, VALUE_TYPE_MISMATCH, …); it is kept as a FAILED message.",
    "429": "THROTTLED: over the gateway key's rate.",
    "503": "SERVICE_UNAVAILABLE: the database cannot take the request now (unreachable, or a "
    "lock or statement timeout while an event was written). An ingestion answer says what was "
    "written in details.written: 'nothing', or 'unknown' when the connection was lost during "
    "the commit. Send again after Retry-After: a re-sent event is written once.",
}
RETRY_AFTER = {
    "Retry-After": {
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
        "description": "Seconds to wait before retrying.",
    }
}
ERROR_HEADERS = {
    "401": {
        "WWW-Authenticate": {
            "required": True,
            "schema": {"type": "string"},
            "description": "The accepted key schemes.",
        }
    },
    "429": RETRY_AFTER,
    "503": RETRY_AFTER,
}


class GatewayKeyScheme(OpenApiAuthenticationExtension):
    target_class = "integration.gateways.authentication.GatewayKeyAuthentication"
    name = "GatewayKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A gateway's API key, as `Token <key>` or `Api-Key <key>`.",
        }


def success_envelope(schema: dict) -> dict:
    return {
        "type": "object",
        "required": ["ok", "data"],
        "properties": {"ok": {"type": "boolean", "enum": [True]}, "data": schema},
    }


def error_statuses(path: str, method: str, operation: dict) -> set[str]:
    """The statuses an operation can answer besides its success (docs/api.md's table)."""
    statuses = set()
    if operation.get("security") != [{}]:
        # Credentials, permission, the per-key rate, and the database behind them.
        statuses |= {"401", "403", "429", "503"}
    if method in {"post", "put", "patch"}:
        statuses |= {"400", "413", "415"}
    if any(parameter.get("in") == "query" for parameter in operation.get("parameters", [])):
        statuses.add("400")
    if "{" in path:
        statuses.add("404")
    return statuses


def envelope_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: wrap answers in the envelope, add the errors."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_SCHEMA] = ERROR_ENVELOPE
    for path, path_item in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in path_item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status.startswith("2"):
                    for media_type, content in response.get("content", {}).items():
                        if "json" in media_type and "schema" in content:
                            content["schema"] = success_envelope(content["schema"])
            for status in error_statuses(path, method, operation) | {
                status for status in responses if status[0] in "45"
            }:
                response = responses.setdefault(status, {})
                described = response.get("description", "")
                if status in ERRORS and ERRORS[status].startswith(described):
                    response["description"] = ERRORS[status]
                elif not described:
                    response["description"] = "An error, in the envelope."
                response.setdefault("content", {"application/json": {"schema": ERROR_REF}})
                if status in ERROR_HEADERS:
                    response.setdefault("headers", {}).update(ERROR_HEADERS[status])
            operation["responses"] = dict(sorted(responses.items()))
    return result
