"""Per-gateway rate limit (API.md: 429 THROTTLED); people signed in are not throttled."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from integration.models import GatewayKey


class GatewayKeyRateThrottle(SimpleRateThrottle):
    scope = "gateway"

    def get_rate(self):
        return settings.GATEWAY_THROTTLE_RATE

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, GatewayKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}
