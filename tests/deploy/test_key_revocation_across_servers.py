"""A revoked key and a deactivated gateway are refused by every worker of every server
within 2 s, although each keeps the keys it found (integration/gateways/key_cache.py).

Two app servers (`gunicorn -c gunicorn.conf.py`, 2 workers each) share one PostgreSQL
database. Clients ask both, on new connections, all the time, so every worker holds the
gateway's row when it changes: the log shows both workers of each server answering the
gateway in the second before. The change is made by another process, as an operator
makes it: `manage.py revoke_gateway` (the service), and the account saved inactive
through the ORM as the admin's user page saves it. Every request sent from 2 s after the
change on must be answered 401, by both servers.
"""

import http.client
import json
import threading
import time

import psycopg
import pytest

from bench.harness import free_port, seed
from tests.app_server import AppServer
from tests.postgres import database_of_its_own, manage, needs_postgresql

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres_only,
    needs_postgresql("two gunicorn servers on one database of their own"),
]

WHOAMI = "/api/integration/whoami"
BOUND = 2.0  # seconds: the promise (docs/operations.md)


def whoami(port: int, key: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", WHOAMI, headers={"Authorization": f"Token {key}"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class Asking:
    """Threads asking each server who `key` is, each on a new connection every 20 ms,
    noting (wall time sent, port, status)."""

    def __init__(self, ports: list[int], key: str, per_server: int = 3):
        self.key, self.answers = key, []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self.ask, args=(port,), daemon=True)
            for port in ports
            for _ in range(per_server)
        ]

    def ask(self, port: int) -> None:
        while not self.stop.is_set():
            sent = time.time()
            self.answers.append((sent, port, whoami(port, self.key)))
            time.sleep(0.02)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        for thread in self.threads:
            thread.join(15)


def workers_answering(server: AppServer, gateway: str, since: float, until: float) -> set[int]:
    """The worker pids whose log says they answered `gateway` 200 between two wall times."""
    pids = set()
    for line in server.log().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("event") != "request" or entry.get("user") != gateway:
            continue
        moment = time.mktime(time.strptime(entry["timestamp"][:19], "%Y-%m-%dT%H:%M:%S"))
        moment += float("0" + entry["timestamp"][19:-1]) - time.timezone
        if entry["status"] == 200 and since <= moment <= until:
            pids.add(entry["pid"])
    return pids


def revoke(url: str, gateway: str) -> float:
    """Revoke through the service, as an operator does; the wall time it took effect in
    the database (the `revoked_at` it wrote, committed at once)."""
    manage(url, "revoke_gateway", gateway)
    with psycopg.connect(url, autocommit=True) as session:
        (revoked_at,) = session.execute(
            "SELECT extract(epoch FROM k.revoked_at) FROM integration_gatewaykey k "
            "JOIN auth_user u ON u.id = k.user_id WHERE u.username = %s",
            [gateway],
        ).fetchone()
    return float(revoked_at)


def deactivate(url: str, gateway: str) -> float:
    """Save the account inactive through the ORM, as the admin's user page does; the
    wall time just after its autocommit."""
    result = manage(
        url,
        "shell",
        "-c",
        "import time; from django.contrib.auth.models import User; "
        f"u = User.objects.get(username={gateway!r}); u.is_active = False; u.save(); "
        "print(time.time())",
    )
    return float(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("change", [revoke, deactivate], ids=["key revoked", "user deactivated"])
def test_both_servers_refuse_a_changed_gateway_within_2_s(tmp_path, change):
    with database_of_its_own("mes_key_cache") as (_name, url):
        line = seed(url, 1, 10, 1)
        gateway, key = "gw-bench-0", line["keys"][0]
        servers = [AppServer(url, free_port(), tmp_path / f"app-{n}.log") for n in (1, 2)]
        try:
            for server in servers:
                server.start()
            ports = [server.port for server in servers]
            with Asking(ports, key) as asking:
                time.sleep(2)  # every worker of both servers has found the key by now
                asked_before = time.time()
                changed_at = change(url, gateway)
                while time.time() < changed_at + BOUND + 1:
                    time.sleep(0.05)
            logged_before = {
                server.port: workers_answering(server, gateway, asked_before - 1, asked_before)
                for server in servers
            }
            workers = {server.port: set(server.workers()) for server in servers}
        finally:
            for server in servers:
                server.stop()

    for port in ports:
        answers = [(sent, status) for sent, p, status in asking.answers if p == port]
        before = [status for sent, status in answers if sent < asked_before]
        late = [status for sent, status in answers if sent >= changed_at + BOUND]
        # Both workers of the server answered the gateway in the second before the change:
        # each held its row.
        assert logged_before[port] == workers[port], (port, logged_before, workers)
        assert before and set(before) == {200}, (port, set(before))
        assert len(late) >= 10, (port, len(late))
        assert set(late) == {401}, (port, [a for a in answers if a[0] >= changed_at + BOUND])
        assert {status for _sent, status in answers} <= {200, 401}
