"""Gateway API keys: `Authorization: Token <key>` or `Authorization: Api-Key <key>`.

A key that cannot be looked up is a 503 saying nothing was written (the request has
written nothing yet); a connection the server ended is replaced and the lookup made once
more first, since no health check runs before a request (mes/idle_connections.py).
"""

from django.db import DatabaseError, connection
from rest_framework import authentication, exceptions

from integration.gateways.keys import find_gateway_key, record_gateway_key_use
from mes.api.exceptions import DATABASE_RETRY_AFTER_SECONDS, ApiError
from mes.database_errors import PASSING, Cause, cause_of

KEY_SCHEMES = ("token", "api-key")


class GatewayKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() not in KEY_SCHEMES:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: expected 'Token <key>' or 'Api-Key <key>'."
            )
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        gateway_key = _looked_up(key)
        if gateway_key is None or not gateway_key.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        record_gateway_key_use(gateway_key)
        return gateway_key.user, gateway_key

    def authenticate_header(self, request):
        return 'Token realm="api", Api-Key realm="api"'


class KeyNotLookedUp(ApiError):
    """The database did not answer the key's lookup (503): nothing was written."""

    retry_after = DATABASE_RETRY_AFTER_SECONDS

    def __init__(self, cause: Cause):
        super().__init__(
            "SERVICE_UNAVAILABLE",
            f"The API key could not be checked ({cause.value}); nothing of this request "
            "was written. Send it again.",
            503,
            {"cause": cause.value, "written": "nothing"},
        )


def _looked_up(key: str):
    try:
        return find_gateway_key(key)
    except DatabaseError as error:
        cause = cause_of(error)
        if cause is not Cause.CONNECTION_LOST or connection.in_atomic_block:
            _refuse(error, cause)
    connection.close()  # the server ended the session: once more, on a new connection
    try:
        return find_gateway_key(key)
    except DatabaseError as error:
        _refuse(error, cause_of(error))


def _refuse(error: DatabaseError, cause: Cause):
    if cause not in PASSING:
        raise error  # not the database being away: a 500, logged with its traceback
    raise KeyNotLookedUp(cause) from error


# The OpenAPI description of this scheme (drf-spectacular finds it once imported).
from mes.api import schema as _schema  # noqa: E402, F401
