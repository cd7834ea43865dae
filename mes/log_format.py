"""Log lines as JSON objects (LOG_FORMAT=json, production) or readable text (console).

One configuration for the app's own lines (structlog), Django's and gunicorn's
(the standard library's loggers, through structlog's formatter), so a log
search sees one format. Every line carries the process id (`pid`: which gunicorn
worker, or the master), and the request's `request_id` while one is being answered
(mes/request_log.py binds it). Imported by mes/settings.py and by
gunicorn.conf.py, hence no Django here.
"""

import logging.config
import os

import structlog

FORMATS = ("json", "console")


def log_format(debug: bool = False) -> str:
    chosen = os.environ.get("LOG_FORMAT", "").strip().lower() or ("console" if debug else "json")
    if chosen not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be json or console, not {chosen!r}")
    return chosen


def add_pid(_logger, _method, event_dict: dict) -> dict:
    """The process's id: a worker's lines can be told apart, and matched with gunicorn's
    about that worker (a timeout, a SIGKILL)."""
    event_dict.setdefault("pid", os.getpid())
    return event_dict


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_pid,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def logging_config(chosen: str, level: str = "INFO", *, access_log: bool = False) -> dict:
    """A logging.config dict: every logger to stderr in the chosen format. gunicorn's
    access log only with `access_log`: mes.request already logs each answer once."""
    if chosen == "json":
        rendering = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        rendering = [structlog.dev.ConsoleRenderer(colors=False)]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
                + rendering,
                "foreign_pre_chain": _shared_processors(),
            }
        },
        "filters": {"with_traceback": {"()": "mes.log_format.WithTraceback"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # mes.request logs every answer once; Django would log each 4xx and 5xx again.
            # Its lines with a traceback (a crash) stay.
            "django.request": {"level": "ERROR", "filters": ["with_traceback"]},
            "django.server": {"level": "WARNING"},
            "gunicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            "gunicorn.access": {
                "handlers": ["stderr"] if access_log else [],
                "level": level,
                "propagate": False,
            },
            # Python's warnings (logging.captureWarnings) in the same format.
            "py.warnings": {"level": "WARNING"},
        },
    }


class WithTraceback(logging.Filter):
    """Only records that carry an exception's traceback."""

    def filter(self, record):
        return record.exc_info is not None


def configure(chosen: str, level: str = "INFO", *, access_log: bool = False) -> dict:
    """Set up structlog for the chosen format; returns the logging dict for Django."""
    logging.captureWarnings(True)
    structlog.configure(
        processors=_shared_processors() + [structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return logging_config(chosen, level, access_log=access_log)


def apply(chosen: str, level: str = "INFO") -> None:
    """configure() and apply it now (gunicorn's master, before Django is loaded)."""
    logging.config.dictConfig(configure(chosen, level))
