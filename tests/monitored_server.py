"""A real app server as monitoring sees it, for the metrics, log and Prometheus tests.

gunicorn with the repository's configuration (gunicorn.conf.py: gthread workers,
prometheus-client's multiprocess files in a directory of the server's own, JSON
logs), against a database the test made, its log in a file. The first request
it answers is a scrape of /metrics, kept as `first_scrape`: what a fresh
server exports before it has counted anything.
"""

import contextlib
import http.client
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from bench.harness import free_port
from tests.app_server import server_environment

TOKEN = "a-scrape-token-for-tests"
GUNICORN = Path(sys.executable).parent / "gunicorn"


@dataclass
class Server:
    port: int
    pid: int
    log: Path
    metrics: Path
    first_scrape: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def request(self, method, path, body=None, headers=None, source="127.0.0.1"):
        """One request on a connection of its own (from `source`, a loopback address):
        (status, body, headers)."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=(source, 0)
        )
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            connection.close()

    def scrape(self, path="/metrics") -> str:
        status, body, _ = self.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, (status, body[:300])
        return body.decode()

    def log_lines(self) -> list[dict]:
        """Every line logged so far, each a JSON object."""
        time.sleep(0.3)  # let the workers' stderr reach the file
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def line_of(self, request_id: str) -> dict:
        """The one line of a request, by its X-Request-ID."""
        lines = [line for line in self.log_lines() if line.get("request_id") == request_id]
        assert len(lines) == 1, lines
        return lines[0]


@contextlib.contextmanager
def monitored_server(database_url: str, directory: Path, **environment):
    """Serve the app with gunicorn -c gunicorn.conf.py (two workers unless `environment`
    says otherwise); yields a Server once its first scrape is answered; stops it after."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_environment(
        database_url, port, directory / "metrics", METRICS_TOKEN=TOKEN, **environment
    )
    log_path = directory / "server.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "gunicorn.conf.py"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        first = first_scrape(port, process)
        yield Server(port, process.pid, log_path, directory / "metrics", first)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def first_scrape(port: int, process: subprocess.Popen) -> str:
    """Wait for the server by reading /metrics: its first answer is the fresh figures."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            response = connection.getresponse()
            body = response.read()
            connection.close()
            assert response.status == 200, (response.status, body[:300])
            return body.decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not start")


# --- what the shipped rules and dashboard query ----------------------------------------

DEPLOY = Path(settings.BASE_DIR) / "deploy"
SELECTOR = re.compile(r"\b(mes_[a-z_]+)\b(?:\{([^}]*)\})?")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def shipped_expressions() -> list[str]:
    """Every PromQL expression of deploy/prometheus/mes-alerts.yml and of the Grafana
    dashboard."""
    rules = yaml.safe_load((DEPLOY / "prometheus/mes-alerts.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana/mes-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        expressions += [target["expr"] for target in panel["targets"]]
    return expressions


def shipped_selectors() -> set[tuple[str, tuple]]:
    """The mes_ series selectors in them: (name, ((label, operator, value), …))."""
    selectors = set()
    for expression in shipped_expressions():
        for name, matchers in SELECTOR.findall(expression):
            selectors.add((name, tuple(MATCHER.findall(matchers))))
    return selectors


def matches(labels: dict, matchers: tuple) -> bool:
    """Whether a series' labels satisfy a selector's matchers, as PromQL reads them (a
    missing label is the empty string; regular expressions are anchored)."""
    for label, operator, value in matchers:
        given = labels.get(label, "")
        if operator == "=" and given != value:
            return False
        if operator == "!=" and given == value:
            return False
        if operator == "=~" and not re.fullmatch(value, given):
            return False
        if operator == "!~" and re.fullmatch(value, given):
            return False
    return True


def samples(exposition: str) -> list:
    """The samples of a scrape (name, labels, value)."""
    return [
        sample for family in text_string_to_metric_families(exposition) for sample in family.samples
    ]
