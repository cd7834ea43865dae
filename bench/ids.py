"""Event ids the benchmarks send and write, unique by construction: no random part that
two runs could draw alike.

An id is `{kind}-{run}-{part}-{worker}-{n}`:

- `run`: this process, as the microsecond its bench started and its pid (no two processes
  on a machine hold one pid at the same time, and a process starts once), so each
  baseline run, a second `make bench` on the same database or growth's second
  measurement has ids of its own;
- `part`: counted up in this process, one for each measured piece (a baseline run, a load,
  a storm), so the baseline before a figure and the one after never meet;
- `worker`: the client or baseline process of the piece, and `n` its own counter.

The fields after `kind` hold digits and lower-case hex only (no `-`, `_` or `%`), so the
ids of a piece can be counted with `LIKE '{part}-%'`.
"""

import itertools
import os
import time

_run = {"pid": None, "id": "", "parts": itertools.count(1)}


def run_id() -> str:
    """This process's run: made on first use, and anew in a forked child (whose count of
    parts would otherwise repeat its parent's)."""
    if _run["pid"] != os.getpid():
        _run.update(
            pid=os.getpid(),
            id=f"{time.time_ns() // 1000:x}p{os.getpid()}",
            parts=itertools.count(1),
        )
    return _run["id"]


def new_part(kind: str) -> str:
    """The prefix of one measured piece's ids, never given out twice in a run."""
    run = run_id()
    return f"{kind}-{run}-{next(_run['parts'])}"


def event_id(part: str, worker: int, n: int) -> str:
    """The `n`th id of `worker` within the piece `part`."""
    return f"{part}-{worker}-{n}"
