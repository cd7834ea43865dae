"""Whether this process has been told to stop, and whether its whole server has.

/readyz answers 503 from the moment the server is told to stop (mes/health.py), so a load
balancer sends it nothing more. A worker told to stop needs to know why: when the whole
server stops (SIGTERM to gunicorn's master), it keeps serving until the load balancer has
seen the 503; when only the worker is replaced (HUP, TTOU), the new workers share its
listening socket, the server stays ready and the worker hands over at once
(mes/draining_worker.py).
The master and its workers share one byte for that: an anonymous shared mapping made
when this module is first imported, in the master, before any worker is forked.

Nothing here imports Django: gunicorn's master imports it with its configuration.
"""

import mmap
import threading

_this_process = threading.Event()
_server = mmap.mmap(-1, 1)  # MAP_SHARED: forked workers see what the master writes


def stop_this_process() -> None:
    """This process (a gunicorn worker) has been told to stop: not ready from now on."""
    _this_process.set()


def not_ready() -> bool:
    """Whether /readyz must answer 503: the server stops, or this process quits at once.
    A worker that a reload replaces is not: its server goes on with new workers."""
    return _server[0] == 1 or _this_process.is_set()


def stop_server() -> None:
    """The whole server stops (called in gunicorn's master, before it signals workers)."""
    _server[0] = 1


def server_stopping() -> bool:
    return _server[0] == 1
