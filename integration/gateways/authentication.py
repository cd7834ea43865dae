"""Gateway API keys: `Authorization: Token <key>` or `Authorization: Api-Key <key>`."""

from rest_framework import authentication, exceptions

from integration.gateways.keys import find_gateway_key, record_gateway_key_use

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
        gateway_key = find_gateway_key(key)
        if gateway_key is None or not gateway_key.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        record_gateway_key_use(gateway_key)
        return gateway_key.user, gateway_key

    def authenticate_header(self, request):
        return 'Token realm="api", Api-Key realm="api"'


# The OpenAPI description of this scheme (drf-spectacular finds it once imported).
from mes.api import schema as _schema  # noqa: E402, F401
