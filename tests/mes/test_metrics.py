"""Metrics and logs as production has them: gunicorn -c gunicorn.conf.py, two workers.

A scrape adds up every worker's figures (each request counted once), every log
line is one JSON object, an ingestion request is one line with its request id,
gateway, eventId and result, and every metric the Grafana dashboard and the
Prometheus rules query is one /metrics exports.
"""

import http.client
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

from bench.ingest import free_port, make_event, seed
from tests.postgres import database_of_its_own, needs_postgresql

pytestmark = needs_postgresql("gunicorn's workers need a database of their own to share")

ROOT = Path(settings.BASE_DIR)
TOKEN = "a-scrape-token-for-tests"
REQUESTS = 40


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn with the repository's configuration, two workers, JSON logs to a file."""
    directory = tmp_path_factory.mktemp("gunicorn")
    with database_of_its_own("mes_metrics") as (_name, url):
        seeded = seed(url, 1, 60, 1)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
        env.update(
            DATABASE_URL=url,
            SECRET_KEY="a-secret-key-for-the-metrics-tests",
            LOG_FORMAT="json",
            GUNICORN_BIND=f"127.0.0.1:{port}",
            GUNICORN_WORKERS="2",
            GUNICORN_THREADS="4",
            METRICS_TOKEN=TOKEN,
            PROMETHEUS_MULTIPROC_DIR=str(directory / "metrics"),
            GATEWAY_THROTTLE_RATE="1000000/min",
        )
        log = (directory / "server.log").open("w")
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_up(port)
            yield {
                "port": port,
                "key": seeded["keys"][0],
                "units": seeded["units"],
                "log": directory / "server.log",
                "metrics": directory / "metrics",
            }
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.close()


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not start")


def request(port, method, path, body=None, headers=None) -> tuple[int, bytes, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def post_event(server, event, request_id=None):
    headers = {"Content-Type": "application/json", "Authorization": f"Token {server['key']}"}
    if request_id:
        headers["X-Request-ID"] = request_id
    return request(
        server["port"], "POST", "/api/integration/device-data", json.dumps(event), headers
    )


def scrape(server) -> str:
    status, body, _ = request(
        server["port"], "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200
    return body.decode()


def sample(text: str, name: str, **labels) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def log_lines(server) -> list[dict]:
    time.sleep(0.3)  # let the workers' stderr reach the file
    lines = server["log"].read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_a_scrape_sees_each_request_once_whichever_worker_served_it(server):
    before = scrape(server)
    units = server["units"]

    def post(n):
        sn, run_no = units[n % len(units)]
        return post_event(server, make_event(f"evt-metrics-{n}", sn, run_no, n))[0]

    def workers_counted() -> int:
        return len({path.name for path in server["metrics"].glob("counter_*.db")})

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
    after = scrape(server)

    created = sample(after, "mes_device_events_total", result="created") - sample(
        before, "mes_device_events_total", result="created"
    )
    answered = sample(
        after,
        "mes_http_responses_total",
        view="integration:device-data",
        method="POST",
        status="2xx",
    ) - sample(
        before,
        "mes_http_responses_total",
        view="integration:device-data",
        method="POST",
        status="2xx",
    )
    # Both workers wrote figures of their own, which the scrape added up.
    assert workers_counted() >= 2
    assert (created, answered) == (sent, sent)


def test_metrics_are_for_the_token_holder_only(server):
    assert request(server["port"], "GET", "/metrics")[0] == 404
    wrong = {"Authorization": "Bearer not-the-token"}
    assert request(server["port"], "GET", "/metrics", headers=wrong)[0] == 404


def test_one_ingestion_request_is_one_json_line_with_its_request_id_and_event(server):
    sn, run_no = server["units"][0]
    status, _body, headers = post_event(
        server, make_event("evt-logged", sn, run_no, 1), request_id="req-logged-1"
    )
    assert status == 200 and headers["X-Request-ID"] == "req-logged-1"
    lines = [line for line in log_lines(server) if line.get("request_id") == "req-logged-1"]
    assert len(lines) == 1
    (line,) = lines
    assert line["event"] == "request" and line["status"] == 200
    assert (line["event_id"], line["result"]) == ("evt-logged", "created")
    assert line["user"].startswith("gw-bench") and line["view"] == "integration:device-data"
    assert line["error_code"] is None and line["duration_ms"] > 0


def test_a_refused_event_is_logged_with_its_error_code(server):
    _sn, run_no = server["units"][0]
    status, _body, headers = post_event(
        server, make_event("evt-nowhere", "SN-NOT-BUILT", run_no, 1)
    )
    assert status == 422
    (line,) = [
        line for line in log_lines(server) if line.get("request_id") == headers["X-Request-ID"]
    ]
    assert (line["result"], line["error_code"], line["level"]) == (
        "failed",
        "UNIT_NOT_FOUND",
        "info",
    )


def test_every_line_gunicorn_and_django_write_is_a_json_object(server):
    request(server["port"], "GET", "/api/nothing-here")
    lines = server["log"].read_text().splitlines()
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line
    loggers = {json.loads(line).get("logger") for line in lines}
    assert "gunicorn.error" in loggers and "mes.request" in loggers


@pytest.mark.django_db
def test_every_metric_the_dashboard_and_the_alerts_query_is_exported(client, settings):
    # In this process every metric is declared, counted or not (gunicorn's workers write
    # only the series they counted).
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    exported = set()
    for line in response.content.decode().splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            exported.add(name)
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
            exported.update(name + suffix for suffix in suffixes.get(kind, []))
    queried = set()
    dashboard = json.loads((ROOT / "deploy/grafana/mes-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            queried.update(re.findall(r"\bmes_[a-z_]+\b", target["expr"]))
    rules = (ROOT / "deploy/prometheus/mes-alerts.yml").read_text()
    for expression in re.findall(r"^\s*expr:\s*(.+)$", rules, flags=re.M):
        queried.update(re.findall(r"\bmes_[a-z_]+\b", expression))
    assert len(queried) >= 8
    assert queried <= exported, queried - exported
