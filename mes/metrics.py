"""Prometheus metrics: what the MES counts, `/metrics` (this server's figures) and
`/metrics/database` (the database's), where Prometheus reads them.

Under gunicorn each worker is a process of its own: prometheus-client's
multiprocess mode keeps every worker's figures in files under
PROMETHEUS_MULTIPROC_DIR, which gunicorn.conf.py sets, empties at start, and
cleans of a dead worker's gauges; `/metrics` adds them up, so a scrape sees
every request once whichever worker served it (tests/mes/test_metrics.py). Without
that variable (`manage.py runserver`, tests) the figures are this process's.

Every labelled series the alert rules and the dashboard read exists at 0 before its
first increment (its known label values at import, a gateway's at its first request):
a series that appears with its first increment is invisible to `rate()` and
`increase()`, which would read 0 for a short incident.

The figures that describe the database, not this server (what needs attention,
open holds), are at `/metrics/database`, for Prometheus to read once through the
load balancer: scraped from every app server they would be doubled.

METRICS_ENABLED=0 turns counting off (`make bench` measures the cost both ways).
Neither address is public: each answers a request from an address in
METRICS_ALLOWED_IPS, or one carrying `Authorization: Bearer <METRICS_TOKEN>`;
anyone else gets 404. With neither set, nobody.

Names and labels are the contract of deploy/grafana and deploy/prometheus
(docs/operations.md: monitoring): labels stay few and bounded (results,
error codes, causes, gateways, views), never an eventId.
"""

import hmac
import ipaddress
import os
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotFound
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from mes.database_errors import Cause

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # gunicorn.conf.py makes it; a command run with the variable set must not fail for it.
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

DEVICE_EVENTS = Counter(
    "mes_device_events",
    "Device events received, by result (created, duplicate, conflict, failed), error code "
    "and gateway.",
    ["result", "error_code", "gateway"],
)
DATABASE_ERRORS = Counter(
    "mes_ingestion_database_errors",
    "Database errors met while writing device events, by cause (retried or not).",
    ["cause"],
)
EVENTS_NOT_WRITTEN = Counter(
    "mes_events_not_written",
    "Events answered 503 SERVICE_UNAVAILABLE (nothing or maybe written), by cause.",
    ["cause"],
)
GROUP_SIZE = Histogram(
    "mes_group_commit_events",
    "Events written together by one group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
# The MQTT consumer's connections ended by the broker or the network, by reason; each
# consumer serves its own figures (MQTT_METRICS_ADDRESS, docs/mqtt.md). Every reason at 0
# from the start: a takeover must show in increase() the first time.
MQTT_DISCONNECT_REASONS = (
    "session_taken_over",
    "administrative_action",
    "server_shutting_down",
    "connection_lost",
    "other",
)
MQTT_DISCONNECTS = Counter(
    "mes_mqtt_disconnects",
    "MQTT consumer connections ended by the broker or the network, by reason "
    "(session_taken_over: another connection with the consumer's client id).",
    ["reason"],
)
for _reason in MQTT_DISCONNECT_REASONS:
    MQTT_DISCONNECTS.labels(_reason)
REQUESTS = Histogram(
    "mes_http_request_duration_seconds",
    "Time to answer an HTTP request, by view and method.",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RESPONSES = Counter(
    "mes_http_responses",
    "HTTP answers, by view, method and status class (2xx, 4xx, 5xx).",
    ["view", "method", "status"],
)
THROTTLED = Counter(
    "mes_throttled_requests", "Requests refused 429 THROTTLED, by gateway.", ["gateway"]
)
# The same, every gateway together: unlabelled, so it exists at 0 from the start even for a
# gateway throttled on its first request to this server (e.g. re-sending its backlog).
THROTTLED_ALL = Counter(
    "mes_throttled_requests_all", "Requests refused 429 THROTTLED, every gateway together."
)

# --- the known label values, at 0 from the start -------------------------------------

CAUSES = tuple(cause.name.lower() for cause in Cause)
# The views the rules and the dashboard single out (tests check they resolve).
INGESTION_VIEWS = ("integration:device-data", "integration:device-data-batch")
STATUS_CLASSES = ("2xx", "4xx", "5xx")
# 422: docs/api.md's table (tests/mes/test_metrics_series.py checks the two agree).
REFUSAL_CODES = (
    "TRACK_NOT_FOUND",
    "TRACK_MISMATCH",
    "CARRIER_TRACK_NOT_FOUND",
    "RUN_NOT_FOUND",
    "STATION_NOT_FOUND",
    "UNIT_NOT_FOUND",
    "UNIT_NOT_IN_RUN",
    "OPERATION_NOT_FOUND",
    "OPERATION_MISMATCH",
    "OPERATION_REQUIRED",
    "SPEC_NOT_FOUND",
    "SPEC_NOT_BOUND",
    "SPEC_OPERATION_MISMATCH",
    "SPEC_METHOD_MISMATCH",
    "VALUE_TYPE_MISMATCH",
)
# (result, error code) of an event, as count_events labels it.
EVENT_OUTCOMES = (
    ("created", ""),
    ("duplicate", ""),
    ("conflict", "EVENT_ID_CONFLICT"),
    ("failed", "VALIDATION_ERROR"),
    ("failed", "SERVICE_UNAVAILABLE"),
    ("failed", "INTERNAL_ERROR"),
    *(("failed", code) for code in REFUSAL_CODES),
)

for _cause in CAUSES:
    DATABASE_ERRORS.labels(_cause)
    EVENTS_NOT_WRITTEN.labels(_cause)
for _view in INGESTION_VIEWS:
    REQUESTS.labels(_view, "POST")
    for _status in STATUS_CLASSES:
        RESPONSES.labels(_view, "POST", _status)

# Gateways are known only once they ask: each one's series are made at its first request
# to this process (a set lookup a request after that).
_gateways_seen: set[str] = set()


def gateway_seen(gateway: str) -> None:
    """Make a gateway's series, at 0, before anything of it is counted (the throttle
    calls it on each of the gateway's requests, before deciding)."""
    if gateway in _gateways_seen or not settings.METRICS_ENABLED:
        return
    THROTTLED.labels(gateway)
    for result, code in EVENT_OUTCOMES:
        DEVICE_EVENTS.labels(result, code, gateway)
    _gateways_seen.add(gateway)


def count_throttled(gateway: str) -> None:
    """Count a request refused 429, by its gateway and in the total."""
    if not settings.METRICS_ENABLED:
        return
    THROTTLED.labels(gateway).inc()
    THROTTLED_ALL.inc()


def error_code_of(error) -> str:
    """The API's code for an attempt's error ("" for none): a malformed event's is
    VALIDATION_ERROR, as its answer says."""
    if error is None:
        return ""
    return getattr(error, "code", None) or "VALIDATION_ERROR"


def count_events(attempts) -> None:
    """Count received events by result, error code and gateway (integration.ingestion)."""
    if not settings.METRICS_ENABLED:
        return
    for attempt in attempts:
        code = error_code_of(attempt.error)
        sender = getattr(attempt.sent_by, "username", "") or ""
        DEVICE_EVENTS.labels((attempt.status or "FAILED").lower(), code, sender).inc()
        cause = getattr(attempt.error, "cause", None)
        if cause is not None and code == "SERVICE_UNAVAILABLE":
            EVENTS_NOT_WRITTEN.labels(cause.name.lower()).inc()


def count_mqtt_disconnect(reason: str) -> None:
    """Count an MQTT consumer connection that ended against its will (one of
    MQTT_DISCONNECT_REASONS)."""
    if settings.METRICS_ENABLED:
        MQTT_DISCONNECTS.labels(reason).inc()


def scrape() -> bytes:
    """This server's figures, every worker's added up (`/metrics`)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)
    else:
        workers = REGISTRY
    return generate_latest(workers)


def may_scrape(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    # Through a proxy every request comes from the proxy's address: not an identity.
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address  # ::ffff:10.1.2.3
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def metrics_view(request):
    """This server's metrics in Prometheus's text format, for those allowed to scrape."""
    if not may_scrape(request):
        return HttpResponseNotFound("Not found.", content_type="text/plain")
    return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
