"""The shipped monitoring with a real Prometheus and two app servers: each alert fires once.

promtool checks deploy/prometheus's configuration and rules. Then two gunicorn
servers (the repository's configuration, each its own metrics directory, one
database, the throttle shared in Redis) and Debian's Prometheus with the shipped
scrape configuration, its targets pointed at them: the app servers' job at both,
the database's job at the first (standing where the load balancer's address
goes). The test's copy differs from the shipped files only in addresses, file
paths, the intervals (1 s instead of 15-30 s), and every rule's `for:` set to
0s (minutes in the shipped rules), so that the run takes seconds.

Before anything happens every series the rules and the dashboard query is in
Prometheus; then an incident, all within a few seconds: a CONFLICT, a burst of
429s from one gateway, 40 answers 503 behind a row lock. Each of MesConflicts,
MesThrottling, MesEventsNotWritten and MesServerErrors fires exactly once (one
instance, not one per server), and increase() over the window counts every
429 (the series existed at 0 before).
"""

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import yaml

from bench.harness import free_port, make_event, seed
from tests.monitored_server import DEPLOY, TOKEN, monitored_server, shipped_selectors
from tests.postgres import database_of_its_own, needs_postgresql

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres_only,
    needs_postgresql("two app servers on a database of their own, a row lock for 503s"),
    pytest.mark.skipif(not shutil.which("prometheus"), reason="needs Debian's prometheus"),
]

SCRAPE_SECONDS = 1
EXPECTED = {"MesConflicts", "MesThrottling", "MesEventsNotWritten", "MesServerErrors"}
THROTTLE_PER_MINUTE = 100
REDIS_URL = "redis://127.0.0.1:6379/14"  # the throttle, shared by both servers


def promtool(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["promtool", *arguments], capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_accepts_the_shipped_rules():
    result = promtool("check", "rules", str(DEPLOY / "prometheus/mes-alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_promtool_accepts_the_shipped_scrape_configuration(tmp_path):
    # The shipped file as it is, but for the token file's place (it names /etc/prometheus).
    config = configuration_for_the_run(
        tmp_path, ["mes-app-1:8000", "mes-app-2:8000"], "mes-lb:8000", consumers=["mes-app-1:9411"]
    )
    result = promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def configuration_for_the_run(
    directory, servers: list[str], database: str, rules_for=None, consumers=()
):
    """deploy/prometheus's files for this run: the app servers' job scrapes `servers`,
    the database's job `database`; with `rules_for`, every rule's `for:` is that."""
    shipped = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in shipped["scrape_configs"]}
    assert set(jobs) == {"mes", "mes-database", "mes-mqtt"}
    assert jobs["mes-database"]["metrics_path"] == "/metrics/database"
    if consumers:
        jobs["mes-mqtt"]["static_configs"] = [{"targets": list(consumers)}]
    else:  # no MQTT consumer runs: its job (each consumer's own address) is left out
        shipped["scrape_configs"] = [jobs["mes"], jobs["mes-database"]]
        del jobs["mes-mqtt"]
    token = directory / "token"
    token.write_text(TOKEN)
    jobs["mes"]["static_configs"] = [{"targets": servers}]
    jobs["mes-database"]["static_configs"] = [{"targets": [database]}]
    for job in jobs.values():
        if "authorization" in job:  # the consumers' own figures take no token
            job["authorization"]["credentials_file"] = str(token)
    rules = (DEPLOY / "prometheus/mes-alerts.yml").read_text()
    if rules_for is not None:
        rules = re.sub(r"^(\s+)for: \S+$", rf"\g<1>for: {rules_for}", rules, flags=re.M)
        shipped["global"] = {
            "scrape_interval": f"{SCRAPE_SECONDS}s",
            "scrape_timeout": f"{SCRAPE_SECONDS}s",
            "evaluation_interval": "1s",
        }
    (directory / "mes-alerts.yml").write_text(rules)
    shipped["rule_files"] = [str(directory / "mes-alerts.yml")]
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump(shipped))
    return config


# --- the run ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def line():
    """A seeded database and two servers on it: three gateways (a conflicting one, one
    that meets a row lock, one that is throttled)."""
    with database_of_its_own("mes_prometheus") as (_name, url):
        yield url, seed(url, 1, 20, 3)


@pytest.fixture(scope="module")
def servers(line, tmp_path_factory):
    url, _seeded = line
    environment = {
        "CACHE_URL": REDIS_URL,
        "GATEWAY_THROTTLE_RATE": f"{THROTTLE_PER_MINUTE}/min",
        "INGEST_LOCK_TIMEOUT_MS": "200",  # 503s after a short wait behind the lock
    }
    with (
        monitored_server(url, tmp_path_factory.mktemp("app-1"), **environment) as first,
        monitored_server(url, tmp_path_factory.mktemp("app-2"), **environment) as second,
    ):
        yield [first, second]


@pytest.fixture(scope="module")
def prometheus(servers, tmp_path_factory):
    directory = tmp_path_factory.mktemp("prometheus")
    config = configuration_for_the_run(
        directory, [s.address for s in servers], servers[0].address, rules_for="0s"
    )
    checked = promtool("check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    port = free_port()
    log = (directory / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        api = PrometheusApi(port)
        api.wait_for_targets(3)
        yield api
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


class PrometheusApi:
    """Prometheus's HTTP API, as Grafana and Alertmanager read it."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}/api/v1/"

    def get(self, path: str, **parameters):
        url = self.base + path
        if parameters:
            url += "?" + urllib.parse.urlencode(parameters, doseq=True)
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return body["data"]

    def wait_for_targets(self, count: int) -> None:
        """Until every target has been scraped, twice, successfully: each series has a
        sample at 0 before anything is counted."""
        deadline = time.monotonic() + 60
        up_since = None
        while time.monotonic() < deadline:
            try:
                targets = self.get("targets")["activeTargets"]
            except OSError:
                targets = []
            if len(targets) == count and all(t["health"] == "up" for t in targets):
                up_since = up_since or time.monotonic()
                if time.monotonic() - up_since > 2.5 * SCRAPE_SECONDS:
                    return
            time.sleep(0.2)
        raise AssertionError(f"targets not up: {targets}")

    def value(self, query: str) -> float:
        """The one value of an instant query (0 when it has none)."""
        result = self.get("query", query=query)["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else 0.0

    def firing(self) -> list[dict]:
        return [a for a in self.get("alerts")["alerts"] if a["state"] == "firing"]

    def pause(self, scrapes: int = 2) -> None:
        time.sleep(scrapes * SCRAPE_SECONDS + 0.5)


def post(server, key, event):
    headers = {"Content-Type": "application/json", "Authorization": f"Token {key}"}
    body = json.dumps(event).encode()
    return server.request("POST", "/api/integration/device-data", body, headers)[0]


def whoami(server, key) -> tuple[int, str]:
    status, body, _ = server.request(
        "GET", "/api/integration/whoami", headers={"Authorization": f"Token {key}"}
    )
    return status, json.loads(body)["data"]["name"] if status == 200 else ""


def test_with_two_servers_each_alert_fires_once_and_increase_counts_a_short_incident(
    line, servers, prometheus
):
    url, seeded = line
    conflicting, locked_out, throttled = seeded["keys"]
    units = seeded["units"]

    # Each gateway's first requests, to both servers, as through a load balancer.
    names = {}
    for server in servers:
        for key in seeded["keys"]:
            status, names[key] = whoami(server, key)
            assert status == 200
    sn, run_no = units[0]
    event = make_event("evt-prometheus-locked", sn, run_no, 1)
    assert post(servers[0], locked_out, event) == 200
    prometheus.pause()

    # Before the incident: every series the rules and the dashboard query is there.
    for name, matchers in shipped_selectors():
        selector = name + "{" + ",".join(f'{k}{op}"{v}"' for k, op, v in matchers) + "}"
        assert prometheus.get("series", **{"match[]": selector}), selector
    assert prometheus.firing() == []

    # The incident, a few seconds long. A CONFLICT: the same eventId, another body.
    sn, run_no = units[1]
    assert post(servers[1], conflicting, make_event("evt-prometheus-twice", sn, run_no, 1)) == 200
    assert post(servers[0], conflicting, make_event("evt-prometheus-twice", sn, run_no, 2)) == 409

    # A burst over the throttle from one gateway, to both servers.
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda n: whoami(servers[n % 2], throttled)[0], range(THROTTLE_PER_MINUTE + 40)
            )
        )
    refused = statuses.count(429)
    assert refused >= 30 and set(statuses) == {200, 429}

    # Re-sends of an event whose record another session holds locked: 503 each.
    with psycopg.connect(url) as session:
        session.execute(
            "SELECT 1 FROM integration_devicedatarecord WHERE event_id = %s FOR UPDATE",
            [event["eventId"]],
        )
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda n: post(servers[n % 2], locked_out, event), range(40)))
        session.rollback()
    assert answers.count(503) >= 35, answers

    # Each alert fires, once: one instance, whichever servers counted.
    deadline = time.monotonic() + 45
    while {a["labels"]["alertname"] for a in prometheus.firing()} < EXPECTED:
        assert time.monotonic() < deadline, prometheus.firing()
        time.sleep(0.5)
    prometheus.pause(3)  # a few more evaluations: no second instance comes
    firing = prometheus.firing()
    by_name = {}
    for alert in firing:
        by_name.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
    for name in EXPECTED:
        assert len(by_name[name]) == 1, (name, by_name[name])
    assert by_name["MesThrottling"][0]["gateway"] == names[throttled]
    assert by_name["MesEventsNotWritten"][0]["cause"] == "lock_timeout"
    # Every other alert that fires (none should but MesDown, per server by design) is one.
    assert all(len(labels) == 1 for name, labels in by_name.items() if name != "MesDown")

    # increase() over the window sees every 429 (it read 0 when the series appeared with
    # its first increment), in the total and in the gateway's own series.
    window = "[2m]"
    total = prometheus.value(f"sum(increase(mes_throttled_requests_all_total{window}))")
    theirs = prometheus.value(
        f'sum(increase(mes_throttled_requests_total{{gateway="{names[throttled]}"}}{window}))'
    )
    assert total >= refused * 0.99 and theirs >= refused * 0.99, (total, theirs, refused)
    not_written = prometheus.value(
        f'sum(increase(mes_events_not_written_total{{cause="lock_timeout"}}{window}))'
    )
    assert not_written >= answers.count(503) * 0.99
    # The database's figures are one series each.
    assert prometheus.value("count(mes_messages_conflicts)") == 1
    assert prometheus.value("mes_messages_conflicts") == 1
