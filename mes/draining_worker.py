"""gunicorn's gthread worker, drained before it stops (gunicorn.conf.py uses it).

Told to stop (SIGTERM), gunicorn's own gthread worker leaves its loop at once: its idle
keep-alive connections, and connections it accepted but has not read yet, are dropped
when the process exits, so a client that has just sent a request on one sees its
connection reset (issue 22: 9 requests on SIGTERM, 6 on HUP). This worker, told to stop:

1. when the whole server stops (SIGTERM to the master), is not ready from that moment
   (/readyz answers 503: mes/health.py, mes/shutdown.py) and keeps serving for
   `drain_seconds` (GUNICORN_DRAIN_SECONDS), so the load balancer's health checks see the
   503 and send new requests elsewhere;
2. when it is only replaced (HUP, TTOU, GUNICORN_MAX_REQUESTS reached), the server stays
   ready: new workers share its listening socket, and it goes on at once;
3. answers every request from then on with `Connection: close`;
4. stops accepting (within a second): takes the connections the kernel has already
   accepted, then closes its listening sockets;
5. serves the requests that arrive on its open connections for up to `LINGER_SECONDS`,
   closes the connections still idle, and exits as gthread does (requests in flight
   finish within the graceful timeout).

SIGINT and SIGQUIT stay gunicorn's quick shutdown (no drain). This relies on gthread's
internals: `sockets`, `poller`, `_keep`, `_lock`, `nr_conns`, `accept`,
`murder_keepalived` called at the end of each turn of its loop, and `req.must_close`
read by `handle_request` (gunicorn is pinned to 23.x in pyproject.toml).
tests/mes/test_graceful_shutdown.py posts events on keep-alive connections from several
threads while the master gets SIGTERM and HUP, and fails if an upgrade changes them.
"""

import sys
import time

from gunicorn.workers.gthread import ThreadWorker

from mes import shutdown

# After the worker stops accepting: how long a request may still arrive on a connection it
# holds. Clients sending steadily use their connection again within milliseconds; one idle
# for longer is closed (a client sending at that very moment sees a reset: docs/api.md).
LINGER_SECONDS = 1.0


class DrainingThreadWorker(ThreadWorker):
    """A gthread worker that drains its connections before it exits (module docstring)."""

    # gunicorn.conf.py sets this from GUNICORN_DRAIN_SECONDS, in the master, before forking.
    drain_seconds = 0.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop_accepting_at = None  # set when told to stop (monotonic time)
        self.linger_until = None  # set when the listening sockets are closed

    # --- told to stop ---------------------------------------------------------------------

    def handle_exit(self, sig, frame):
        """SIGTERM: stop after a drain (the server stops) or at once (a reload)."""
        if shutdown.server_stopping():
            shutdown.stop_this_process()
            self.begin_stop(self.drain_seconds)
        else:
            self.begin_stop(0.0)

    def handle_quit(self, sig, frame):
        shutdown.stop_this_process()
        super().handle_quit(sig, frame)

    def handle_abort(self, sig, frame):
        shutdown.stop_this_process()
        super().handle_abort(sig, frame)

    def begin_stop(self, drain_seconds: float) -> None:
        if self.stop_accepting_at is None:
            self.stop_accepting_at = time.monotonic() + drain_seconds

    @property
    def stopping(self) -> bool:
        return self.stop_accepting_at is not None

    # --- serving while stopping -----------------------------------------------------------

    def handle_request(self, req, conn):
        if self.max_requests and self.nr + 1 >= self.max_requests and not self.stopping:
            # gthread would leave its loop after this request, dropping its other
            # connections: hand over as on a reload instead.
            self.max_requests = sys.maxsize
            self.begin_stop(0.0)
        if self.stopping:
            req.must_close = True  # the answer says `Connection: close`, then it closes
        return super().handle_request(req, conn)

    def murder_keepalived(self):
        """Called at the end of each turn of gthread's loop (at least once a second): also
        move the stop on, so the loop ends on the turn that decides it."""
        super().murder_keepalived()
        if self.stopping and self.alive:
            self.advance_stop()

    def advance_stop(self) -> None:
        now = time.monotonic()
        if self.linger_until is None:
            if now < self.stop_accepting_at:
                return
            self.stop_accepting()
            self.linger_until = now + LINGER_SECONDS
        if self.nr_conns > 0 and now < self.linger_until:
            return
        self.close_idle_connections()
        self.alive = False  # gthread's loop ends; requests in flight finish

    def stop_accepting(self) -> None:
        """Take what the kernel has accepted already, then close the listening sockets: a
        connection left in the queue would be reset when the last copy closes."""
        for listener in self.sockets:
            with self._lock:
                acceptor = self.poller.get_key(listener).data
                self.poller.unregister(listener)
            for _ in range(10_000):  # gthread's accept takes one and swallows EAGAIN
                before = self.nr_conns
                acceptor(listener)
                if self.nr_conns == before:
                    break
            listener.close()
        self.log.info("Worker %s stopped accepting; %s connections open", self.pid, self.nr_conns)

    def close_idle_connections(self) -> None:
        with self._lock:
            for conn in self._keep:
                conn.timeout = 0  # expired: gthread's own sweep closes it
        super().murder_keepalived()


def watch_for_server_stop(arbiter) -> None:
    """In gunicorn's master (its `when_ready` hook): note a SIGTERM to the master in the
    byte the workers share before the master signals them, so they drain instead of
    handing over."""
    handle_term = arbiter.handle_term

    def handle_term_and_tell_workers():
        shutdown.stop_server()
        handle_term()

    arbiter.handle_term = handle_term_and_tell_workers
