"""Metrics and logs as production has them: gunicorn -c gunicorn.conf.py, two workers.

A scrape adds up every worker's figures (each request counted once); a fresh
server exports, before it has counted anything, every series the Prometheus
rules and the Grafana dashboard query, at 0 (a gateway's from its first
request); the database's figures are at /metrics/database only. Every log line
is one JSON object with the worker's pid; a request's line has its request id,
the client's address (a trusted proxy's X-Forwarded-For, no one else's), and
for a 4xx or 5xx the error code its answer gives.
"""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.harness import make_event, seed
from mes.metrics import CAUSES, EVENT_OUTCOMES, INGESTION_VIEWS, STATUS_CLASSES
from tests.monitored_server import (
    TOKEN,
    matches,
    monitored_server,
    samples,
    shipped_selectors,
)
from tests.postgres import database_of_its_own, needs_postgresql

pytestmark = needs_postgresql("gunicorn's workers need a database of their own to share")

REQUESTS = 40
DATABASE_GAUGES = {
    "mes_messages_unresolved_failed",
    "mes_messages_conflicts",
    "mes_open_holds",
    "mes_oldest_open_hold_seconds",
}
# Labelled by gateway: known only once the gateway asks.
GATEWAY_METRICS = {"mes_device_events_total", "mes_throttled_requests_total"}


@pytest.fixture(scope="module")
def database():
    """A migrated, seeded database for the module's servers: 60 units, two gateways."""
    with database_of_its_own("mes_metrics") as (_name, url):
        yield url, seed(url, 1, 60, 2)


@pytest.fixture(scope="module")
def server(database, tmp_path_factory):
    """The repository's configuration, two workers, JSON logs to a file."""
    url, seeded = database
    with monitored_server(url, tmp_path_factory.mktemp("server")) as running:
        running.key, running.units = seeded["keys"][0], seeded["units"]
        yield running


@pytest.fixture(scope="module")
def edge_server(database, tmp_path_factory):
    """A second server on the same database: a low throttle (3 a minute per key and
    worker: the second gateway's key is the one to throttle) and 127.0.0.2 as its only
    trusted proxy, so that the tests' own 127.0.0.1 is an ordinary client."""
    url, seeded = database
    with monitored_server(
        url,
        tmp_path_factory.mktemp("edge"),
        GATEWAY_THROTTLE_RATE="3/min",
        FORWARDED_ALLOW_IPS="127.0.0.2",
    ) as running:
        running.keys = seeded["keys"]
        yield running


def post_event(server, event, request_id=None, key=None):
    headers = {"Content-Type": "application/json", "Authorization": f"Token {key or server.key}"}
    if request_id:
        headers["X-Request-ID"] = request_id
    return server.request("POST", "/api/integration/device-data", json.dumps(event), headers)


def sample(text: str, name: str, **labels) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    return sum(
        value
        for sample_name, sample_labels, value, *_ in samples(text)
        if sample_name == name and labels.items() <= sample_labels.items()
    )


def unmatched(selectors, exposition: str) -> set:
    """The selectors no sample of the scrape satisfies."""
    exported = samples(exposition)
    return {
        (name, matchers)
        for name, matchers in selectors
        if not any(s.name == name and matches(s.labels, matchers) for s in exported)
    }


# --- counting ----------------------------------------------------------------------------


def test_a_scrape_sees_each_request_once_whichever_worker_served_it(server):
    before = server.scrape()
    units = server.units

    def post(n):
        sn, run_no = units[n % len(units)]
        return post_event(server, make_event(f"evt-metrics-{n}", sn, run_no, n))[0]

    def workers_counted() -> int:
        return len({path.name for path in server.metrics.glob("counter_*.db")})

    # Until both workers have answered some (the kernel hands connections to whichever
    # accepts first), at most ten rounds.
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _round in range(10):
            statuses = list(pool.map(post, range(sent, sent + REQUESTS)))
            assert statuses == [200] * REQUESTS
            sent += REQUESTS
            if workers_counted() >= 2:
                break
    after = server.scrape()

    created = sample(after, "mes_device_events_total", result="created") - sample(
        before, "mes_device_events_total", result="created"
    )
    posted = {"view": "integration:device-data", "method": "POST", "status": "2xx"}
    answered = sample(after, "mes_http_responses_total", **posted) - sample(
        before, "mes_http_responses_total", **posted
    )
    # Both workers wrote figures of their own, which the scrape added up.
    assert workers_counted() >= 2
    assert (created, answered) == (sent, sent)


def test_metrics_are_for_the_token_holder_only(server):
    for path in ("/metrics", "/metrics/database"):
        assert server.request("GET", path)[0] == 404
        wrong = {"Authorization": "Bearer not-the-token"}
        assert server.request("GET", path, headers=wrong)[0] == 404
        assert server.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200


# --- every series the rules and the dashboard query, at 0 from the start -----------------


def test_a_fresh_server_exports_every_series_the_alerts_and_the_dashboard_query_at_0(
    edge_server,
):
    selectors = shipped_selectors()
    names = {name for name, _ in selectors}
    assert len(selectors) >= 15 and names >= DATABASE_GAUGES and names >= GATEWAY_METRICS
    fresh = edge_server.first_scrape  # the server's very first answer

    server_selectors = {s for s in selectors if s[0] not in DATABASE_GAUGES | GATEWAY_METRICS}
    assert unmatched(server_selectors, fresh) == set()
    database_selectors = {s for s in selectors if s[0] in DATABASE_GAUGES}
    assert unmatched(database_selectors, edge_server.scrape("/metrics/database")) == set()
    # Nothing counted yet: every series is there at 0.
    counted = [s for s in samples(fresh) if s.name.startswith("mes_") and s.value != 0]
    assert counted == []
    # Every label value the rules and panels sum or split by, not only one of them.
    for cause in CAUSES:
        assert f'mes_events_not_written_total{{cause="{cause}"}} 0.0' in fresh
        assert f'mes_ingestion_database_errors_total{{cause="{cause}"}} 0.0' in fresh
    for view in INGESTION_VIEWS:
        for status in STATUS_CLASSES:
            labels = {"method": "POST", "status": status, "view": view}
            assert any(
                s.name == "mes_http_responses_total" and s.labels == labels and s.value == 0
                for s in samples(fresh)
            ), labels
    assert "mes_throttled_requests_all_total 0.0" in fresh


def test_a_gateways_series_exist_at_0_from_its_first_request(edge_server):
    selectors = shipped_selectors()
    gateway_selectors = {s for s in selectors if s[0] in GATEWAY_METRICS}
    assert unmatched(gateway_selectors, edge_server.first_scrape) == gateway_selectors

    headers = {"Authorization": f"Token {edge_server.keys[0]}"}
    status, body, _ = edge_server.request("GET", "/api/integration/whoami", headers=headers)
    assert status == 200
    gateway = json.loads(body)["data"]["name"]
    text = edge_server.scrape()

    assert unmatched(gateway_selectors, text) == set()
    theirs = [s for s in samples(text) if s.labels.get("gateway") == gateway]
    outcomes = {
        (s.labels["result"], s.labels["error_code"])
        for s in theirs
        if s.name == "mes_device_events_total"
    }
    assert outcomes == set(EVENT_OUTCOMES)
    assert any(s.name == "mes_throttled_requests_total" for s in theirs)
    assert {s.value for s in theirs} == {0.0}


def test_the_database_figures_are_read_at_their_own_address_not_with_each_server(server):
    at_server = {s.name for s in samples(server.scrape())}
    at_database = {s.name for s in samples(server.scrape("/metrics/database"))}

    assert at_database >= DATABASE_GAUGES
    assert not DATABASE_GAUGES & at_server
    assert not {name for name in at_database if not name.startswith("mes_")}
    assert "mes_device_events_total" not in at_database


# --- log lines ----------------------------------------------------------------------------


def test_one_ingestion_request_is_one_json_line_with_its_request_id_and_event(server):
    sn, run_no = server.units[0]
    status, _body, headers = post_event(
        server, make_event("evt-logged", sn, run_no, 1), request_id="req-logged-1"
    )
    assert status == 200 and headers["X-Request-ID"] == "req-logged-1"
    line = server.line_of("req-logged-1")
    assert line["event"] == "request" and line["status"] == 200
    assert (line["event_id"], line["result"]) == ("evt-logged", "created")
    assert line["user"].startswith("gw-bench") and line["view"] == "integration:device-data"
    assert line["error_code"] is None and line["duration_ms"] > 0
    assert line["client_ip"] == "127.0.0.1"


def test_a_refused_event_is_logged_with_its_error_code(server):
    _sn, run_no = server.units[0]
    status, _body, headers = post_event(
        server, make_event("evt-nowhere", "SN-NOT-BUILT", run_no, 1)
    )
    assert status == 422
    line = server.line_of(headers["X-Request-ID"])
    assert (line["result"], line["error_code"], line["level"]) == (
        "failed",
        "UNIT_NOT_FOUND",
        "info",
    )


@pytest.mark.parametrize(
    ("method", "path", "content_type", "size", "with_key", "status", "code"),
    [
        ("POST", "/api/integration/device-data", "application/json", 2, False, 401,
         "NOT_AUTHENTICATED"),
        ("GET", "/api/nothing-here", None, 0, True, 404, "NOT_FOUND"),
        ("DELETE", "/api/integration/device-data", None, 0, True, 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/api/integration/device-data", "application/json", 2 * 1024 * 1024, True,
         413, "PAYLOAD_TOO_LARGE"),
        ("POST", "/api/integration/device-data", "text/plain", 2, True, 415,
         "UNSUPPORTED_MEDIA_TYPE"),
        # A back-office page answers in HTML: its line names the code the API gives a 404.
        ("GET", "/no-such-page", None, 0, False, 404, "NOT_FOUND"),
    ],
)  # fmt: skip
def test_an_error_answers_line_carries_its_error_code(
    server, method, path, content_type, size, with_key, status, code
):
    headers = {"X-Request-ID": f"req-error-{status}-{method}-{len(path)}"}
    if content_type:
        headers["Content-Type"] = content_type
    if with_key:
        headers["Authorization"] = f"Token {server.key}"
    answered, body, _ = server.request(method, path, b"x" * size, headers)

    assert answered == status
    if path.startswith("/api/"):
        assert json.loads(body)["error"]["code"] == code
    line = server.line_of(headers["X-Request-ID"])
    assert (line["status"], line["error_code"]) == (status, code)
    assert line["level"] == "info"


def test_a_throttled_requests_line_carries_throttled(edge_server):
    headers = {"Authorization": f"Token {edge_server.keys[1]}"}
    answers = []
    # 3 a minute per worker, two workers: one of them has had four within ten.
    for n in range(10):
        headers["X-Request-ID"] = f"req-throttled-{n}"
        status, body, _ = edge_server.request("GET", "/api/integration/whoami", headers=headers)
        answers.append((status, headers["X-Request-ID"]))
    throttled = [request_id for status, request_id in answers if status == 429]
    assert throttled

    for request_id in throttled:
        line = edge_server.line_of(request_id)
        assert (line["status"], line["error_code"]) == (429, "THROTTLED")
    text = edge_server.scrape()
    assert sample(text, "mes_throttled_requests_all_total") >= len(throttled)


@pytest.mark.parametrize(
    ("source", "forwarded_for", "logged"),
    [
        # The server trusts 127.0.0.2 only: what 127.0.0.1 says is not believed.
        ("127.0.0.1", "203.0.113.9", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
        # The trusted proxy's last hop is the client (the first was written by the client).
        ("127.0.0.2", "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        ("127.0.0.2", "2001:db8::7", "2001:db8::7"),
        # Through a chain of trusted proxies: the address the outermost one added.
        ("127.0.0.2", "198.51.100.1, 203.0.113.7, 127.0.0.2", "203.0.113.7"),
        ("127.0.0.2", None, "127.0.0.2"),
        ("127.0.0.2", "not-an-address", "127.0.0.2"),
    ],
)
def test_the_client_address_is_a_trusted_proxys_x_forwarded_for_or_the_peer(
    edge_server, source, forwarded_for, logged
):
    request_id = f"req-client-{source}-{forwarded_for}".replace(" ", "").replace(",", "_")
    headers = {"X-Request-ID": request_id}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    assert edge_server.request("GET", "/healthz", headers=headers, source=source)[0] == 200

    assert edge_server.line_of(request_id)["client_ip"] == logged


def test_every_line_is_a_json_object_with_the_pid_of_the_process_that_wrote_it(server):
    server.request("GET", "/api/nothing-here")
    lines = server.log_lines()
    assert lines
    assert all(isinstance(line.get("pid"), int) for line in lines)
    loggers = {line.get("logger") for line in lines}
    assert "gunicorn.error" in loggers and "mes.request" in loggers
    # The master's lines carry its pid; a worker says its own as it boots, and the request
    # lines are the workers'.
    started = [line for line in lines if line["event"].startswith("Starting gunicorn")]
    assert [line["pid"] for line in started] == [server.pid]
    booted = {
        line["pid"] for line in lines if line["event"] == f"Booting worker with pid: {line['pid']}"
    }
    assert len(booted) == 2 and server.pid not in booted
    requests = {line["pid"] for line in lines if line.get("logger") == "mes.request"}
    assert requests and requests <= booted
