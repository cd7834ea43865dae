"""Per-gateway rate limit (docs/api.md: 429 THROTTLED); people signed in are not throttled.

The rate is `settings.GATEWAY_THROTTLE_RATE` (default 60,000 a minute per key),
read on every request. The count lives in Django's default cache: per process
with the default local-memory cache, shared by every worker and app server
when CACHE_URL names a Redis server.

DRF's SimpleRateThrottle keeps one timestamp per request in a list that it
reads and writes back whole: at 60,000 a minute that is half a megabyte
(de)serialised on every request, and two workers reading and writing it at
once lose each other's requests. This throttle keeps two integers per key
instead, a sliding-window counter: the count of the current fixed window,
incremented atomically (Redis INCR; a lock in the local-memory cache), plus
the previous window's count weighted by how much of it still overlaps the
last `duration` seconds. Constant work per request, whatever the rate.

If the cache cannot be reached, requests are let through (and logged): the
limit protects the service, it must not stop data from being received.
"""

import math

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from integration.models import GatewayKey
from mes.api.cache_outage import report_cache_outage
from mes.metrics import count_throttled, gateway_seen


class GatewayKeyRateThrottle(SimpleRateThrottle):
    scope = "gateway"
    cache_format = "throttle:%(scope)s:%(ident)s"

    def get_rate(self):
        return settings.GATEWAY_THROTTLE_RATE

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, GatewayKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        base_key = self.get_cache_key(request, view)
        if base_key is None:
            return True
        gateway = getattr(getattr(request, "user", None), "username", "") or ""
        gateway_seen(gateway)  # its series at 0 before its first 429 (mes/metrics.py)
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.elapsed = self.now - window * self.duration
        current_key = f"{base_key}:{window}"
        try:
            self.current = self._increment(current_key)
            self.previous = self.cache.get(f"{base_key}:{window - 1}", 0)
            if self._estimate() <= self.num_requests:
                return True
            # A refused request does not count against the key.
            self.cache.decr(current_key)
            self.current -= 1
        except Exception:  # the cache is down: let the request through, say so in the log
            report_cache_outage()
            return True
        count_throttled(gateway)
        return False

    def _increment(self, key: str) -> int:
        """The window's count after this request; the first request creates it."""
        try:
            return self.cache.incr(key)
        except ValueError:  # no count yet in this window
            # Kept for two windows: as the current window, then as the previous one.
            if self.cache.add(key, 1, timeout=2 * self.duration):
                return 1
            return self.cache.incr(key)  # another worker created it first

    def _estimate(self) -> float:
        """Requests in the last `duration` seconds: the previous window's count
        weighted by the part of it still inside that span, plus this window's."""
        overlap = max(0.0, (self.duration - self.elapsed) / self.duration)
        return self.previous * overlap + self.current

    def wait(self):
        """Seconds until one more request would be let through (the Retry-After)."""
        room = self.num_requests - 1  # the counts may be at most this before a request
        if self.current <= room:
            # This window has room once enough of the previous one has slid out.
            if self.previous <= 0:
                return 1
            needed_overlap = (room - self.current) / self.previous
            slide_until = self.duration * (1 - needed_overlap)
            return max(1, math.ceil(slide_until - self.elapsed))
        # This window is full: wait for the next, until enough of this one slides out.
        needed_overlap = room / self.current if self.current else 0
        slide_until = self.duration * (1 - needed_overlap)
        return max(1, math.ceil(self.duration - self.elapsed + slide_until))
