"""The benchmark's clients: processes that POST events to the server on keep-alive
connections, back to back (closed loop) or at a set rate (open loop), and a storm of one
eventId; each returns its figure (events/s, latencies, statuses)."""

import http.client
import json
import multiprocessing
import threading
import time

from bench import ids
from bench.harness import make_event, percentile


class Client:
    """One keep-alive connection to the server, reconnecting if the server closes it."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key
        self.connection = None

    def exchange(self, path: str, body: bytes):
        """One POST on the keep-alive connection: (response, body read). A broken
        connection is dropped (the next request opens another) and its error raised."""
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.connection.request(
                "POST",
                path,
                body=body,
                headers={"Content-Type": "application/json", "Authorization": f"Token {self.key}"},
            )
            response = self.connection.getresponse()
            return response, response.read()
        except (ConnectionError, http.client.HTTPException, OSError):
            self.connection = None
            raise

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST, once more on a new connection if the kept-alive one was closed."""
        try:
            response, raw = self.exchange(path, body)
        except (ConnectionError, http.client.HTTPException, OSError):
            response, raw = self.exchange(path, body)
        return response.status, raw


def _closed_loop_worker(args):
    """Send events back to back until the deadline; returns latencies and status counts."""
    port, key, path, worker, part, units, batch_size, duration, rate = args
    client = Client(port, key)
    latencies, statuses, events_sent = [], {}, 0
    started = time.perf_counter()
    deadline = started + duration
    n = 0
    while time.perf_counter() < deadline:
        if rate:  # open loop: a fixed schedule per worker
            target = started + n / rate
            pause = target - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        events = []
        for _ in range(batch_size):
            unit_sn, run_no = units[(worker * 7919 + n) % len(units)]
            events.append(make_event(ids.event_id(part, worker, n), unit_sn, run_no, n))
            n += 1
        body = json.dumps(events[0] if batch_size == 1 else {"events": events}).encode()
        begin = time.perf_counter()
        status, _ = client.post(path, body)
        latencies.append(time.perf_counter() - begin)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            events_sent += batch_size
    return latencies, statuses, events_sent, time.perf_counter() - started


def run_load(port, keys, units, *, phase, concurrency, duration, batch_size=1, rate=None):
    path = "/api/integration/device-data" + ("/batch" if batch_size > 1 else "")
    part = ids.new_part(phase)  # eventIds of this load alone (bench/ids.py)
    jobs = [
        (port, keys[i % len(keys)], path, i, part, units, batch_size, duration, rate)
        for i in range(concurrency)
    ]
    with multiprocessing.get_context("fork").Pool(concurrency) as pool:
        results = pool.map(_closed_loop_worker, jobs)
    latencies = sorted(latency for result in results for latency in result[0])
    statuses = {}
    for result in results:
        for status, count in result[1].items():
            statuses[status] = statuses.get(status, 0) + count
    events = sum(result[2] for result in results)
    elapsed = max(result[3] for result in results)
    return {
        "concurrency": concurrency,
        "batch_size": batch_size,
        "events": events,
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "events_per_second": round(events / elapsed, 1),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
    }


def _storm_worker(args):
    port, key, body, start_at, count = args
    results = []

    def post():
        client = Client(port, key)
        time.sleep(max(0.0, start_at - time.time()))
        try:
            status, raw = client.post("/api/integration/device-data", body)
            results.append((status, json.loads(raw).get("data", {}).get("isDuplicate")))
        except OSError as error:
            results.append((0, str(error)))

    threads = [threading.Thread(target=post) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def duplicate_storm(port, keys, units, database_url, posts: int, processes: int = 6):
    unit_sn, run_no = units[0]
    body = json.dumps(make_event(ids.new_part("storm"), unit_sn, run_no, 1)).encode()
    start_at = time.time() + 1.0
    share = [posts // processes + (1 if i < posts % processes else 0) for i in range(processes)]
    jobs = [(port, keys[i % len(keys)], body, start_at, n) for i, n in enumerate(share)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = [r for chunk in pool.map(_storm_worker, jobs) for r in chunk]
    elapsed = time.time() - start_at
    event_id = json.loads(body)["eventId"]
    import psycopg

    with psycopg.connect(database_url) as connection:
        records = connection.execute(
            "SELECT count(*) FROM integration_devicedatarecord WHERE event_id = %s", (event_id,)
        ).fetchone()[0]
    statuses = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    duplicates = sum(1 for status, duplicate in results if status == 200 and duplicate is True)
    return {
        "posts": posts,
        "seconds": round(elapsed, 2),
        "duplicates": duplicates,
        "duplicates_per_second": round(duplicates / elapsed, 1),
        "records_afterwards": records,
        "server_errors": sum(n for s, n in statuses.items() if s.startswith("5") or s == "0"),
        "statuses": statuses,
    }
