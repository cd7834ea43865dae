"""gunicorn's logger, building the access line only when the access log is on.

Given a logging config (ours: mes/log_format.py), gunicorn formats every request's
access-log atoms even when the access logger has no handler to write them to: 2-3% of a
worker's time on single posts (py-spy on bench/cpu_per_event.py). mes.request logs each
answer already, so the access log is off unless GUNICORN_ACCESS_LOG turns it on
(docs/operations.md); tests/deploy/test_access_log.py checks both ways.
"""

from gunicorn.glogging import Logger


class AccessLogWhenOn(Logger):
    def access(self, resp, req, environ, request_time):
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)
