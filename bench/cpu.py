"""CPU per event, from the kernel's accounting in /proc: what the MES's processes and
PostgreSQL spent on each event a figure wrote, beside the same for the raw baseline.

Rates drift on this machine within minutes; CPU per event far less, so it is the figure
to compare across runs and versions. Linux only (reads /proc/<pid>/stat).

- A process tree's CPU is the user and system time of its root and of every live
  descendant, each with the time of the children it waited for (`cutime`, `cstime`): a
  gunicorn worker that ended and was reaped by its master still counts.
- PostgreSQL's is the postmaster's tree: each connection's backend, the background
  processes (checkpointer, WAL writer, autovacuum: a small constant in every figure), and
  backends that ended meanwhile (reaped by the postmaster).
- The baseline's own processes (psycopg clients forked by the bench) are counted from the
  bench process's waited-for children (`RUSAGE_CHILDREN`): they end, and are waited for,
  before the figure returns.
"""

import os
import resource
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()  # the fields after the command's name


def _parents() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree_cpu(roots) -> float:
    """CPU seconds of these processes and their live descendants, with the time of the
    children each waited for."""
    children, ticks, seen = _parents(), 0, set()
    pending = list(roots)
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        fields = _stat(pid)
        if fields:
            # utime, stime, cutime, cstime: fields 14–17 of stat(5), 11–14 here.
            ticks += sum(int(value) for value in fields[11:15])
        pending += children.get(pid, [])
    return ticks / TICK


def postmaster_of(database_url: str) -> int:
    """The postmaster's pid: the parent of a backend of this database's server."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        backend = connection.execute("SELECT pg_backend_pid()").fetchone()[0]
        # Read while the connection is open: once closed, a busy machine's postmaster
        # may reap the backend before /proc is read (a CI failure; the test of a busy
        # machine in tests/bench/test_cpu_accounting.py).
        fields = _stat(backend)
    if fields is None:
        raise RuntimeError("PostgreSQL runs out of this machine's sight: no CPU figures")
    return int(fields[1])


def waited_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuMeter:
    """CPU seconds spent between `start` and `stop` by the MES (the process trees of
    `mes_roots`, or with none this process's waited-for children: a baseline's clients)
    and by PostgreSQL (the postmaster's tree)."""

    postmaster: int
    mes_roots: list[int] = field(default_factory=list)
    mes: float = 0.0
    postgres: float = 0.0

    def _read(self) -> tuple[float, float]:
        mes = tree_cpu(self.mes_roots) if self.mes_roots else waited_children_cpu()
        return mes, tree_cpu([self.postmaster])

    def start(self) -> "CpuMeter":
        self._started = self._read()
        return self

    def stop(self) -> "CpuMeter":
        mes, postgres = self._read()
        self.mes, self.postgres = mes - self._started[0], postgres - self._started[1]
        return self

    def __enter__(self) -> "CpuMeter":
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()

    def per_event(self, events: int) -> dict:
        """Milliseconds of CPU per event, the MES's and PostgreSQL's (None without events)."""
        if not events:
            return {"mes_ms": None, "postgres_ms": None, "total_ms": None}
        mes, postgres = 1000 * self.mes / events, 1000 * self.postgres / events
        return {
            "mes_ms": round(mes, 3),
            "postgres_ms": round(postgres, 3),
            "total_ms": round(mes + postgres, 3),
        }


def measured(postmaster: int, mes_roots, measure, *args, **kwargs) -> dict:
    """`measure(*args, **kwargs)`'s figure (a dict with its `events`), with its CPU per
    event as `cpu`."""
    meter = CpuMeter(postmaster, list(mes_roots)).start()
    figure = measure(*args, **kwargs)
    figure["cpu"] = meter.stop().per_event(figure["events"])
    return figure


def mean_cpu(before: dict, after: dict) -> dict | None:
    """The mean of two figures' CPU per event (a baseline run before and after ours)."""
    if not (before.get("cpu") and after.get("cpu")):
        return None
    return {
        key: None if before["cpu"][key] is None or after["cpu"][key] is None
        else round((before["cpu"][key] + after["cpu"][key]) / 2, 3)
        for key in before["cpu"]
    }  # fmt: skip
