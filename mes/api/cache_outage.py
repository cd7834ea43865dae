"""One warning a minute per process while Django's cache cannot be reached.

The API degrades rather than fails without its cache: the gateway throttle lets
requests through and permissions are read from the database. The log says so
once a minute, not once per request.
"""

import logging
import time

logger = logging.getLogger("mes.api")
WARNING_INTERVAL_SECONDS = 60
_last_warning = 0.0


def report_cache_outage() -> None:
    """Log that the cache is unavailable, at most once a minute per process."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= WARNING_INTERVAL_SECONDS or not _last_warning:
        _last_warning = now
        logger.warning(
            "Django's cache unavailable: gateway throttle skipped, "
            "permissions read from the database",
            exc_info=True,
        )
