"""gunicorn's access log: written when GUNICORN_ACCESS_LOG turns it on, never otherwise
(mes/gunicorn_logger.py builds no access line when it is off)."""

import json

import pytest

from bench.harness import free_port
from tests.app_server import AppServer, get

pytestmark = pytest.mark.slow


def access_lines(log: str) -> list[dict]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "gunicorn.access"]


@pytest.mark.parametrize(("access_log", "lines_per_request"), [("-", 1), ("", 0)])
def test_the_access_log_has_a_line_per_request_only_when_turned_on(
    tmp_path, access_log, lines_per_request
):
    server = AppServer(
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        free_port(),
        tmp_path / "server.log",
        GUNICORN_ACCESS_LOG=access_log,
    )
    server.start(ready=False)
    try:
        for _ in range(3):
            assert get(server.port, "/healthz")[0] == 200
    finally:
        server.stop()
    log = server.log()
    assert "Booting worker" in log, log[-2000:]
    lines = access_lines(log)
    # start() polled /healthz too: at least the three requests above when on.
    assert (len(lines) >= 3) if lines_per_request else (lines == []), lines
    assert all("/healthz" in line["event"] for line in lines)
