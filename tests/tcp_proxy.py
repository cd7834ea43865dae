"""A TCP proxy in front of the database that a test takes away and brings back: up
(forwards bytes both ways), down (nothing listens, every open connection reset, as a
stopped database), hang (accepts and never answers, as an unreachable host), and, when
it listens inside a network namespace (tests/network_namespace.py), cut off (packets
dropped both ways, no reset: as a host that vanished mid-conversation)."""

import contextlib
import socket
import threading

from bench.harness import free_port

LOOPBACK = "127.0.0.1"


def reset(sock: socket.socket) -> None:
    """Close as a dying server's kernel does. Shut down first: a close alone does not
    reach the peer while a pump thread is blocked reading the socket, and a client
    waiting for an answer (a statement waiting on a lock) would never learn of it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """`host`:`port` → the database (`target`); `namespace` (a NetworkNamespace): listen
    inside it, at its address, so that `namespace.cut()` cuts the proxy off."""

    def __init__(self, target: tuple[str, int], namespace=None):
        self.target = target
        self.namespace = namespace
        self.host = namespace.address if namespace is not None else LOOPBACK
        self.port = free_port()
        self.mode = "down"
        self.listener: socket.socket | None = None
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()

    def up(self) -> None:
        self._switch("up")

    def hang(self) -> None:
        self._switch("hang")

    def down(self) -> None:
        self._switch("down")

    def _switch(self, mode: str) -> None:
        with self.lock:
            self.mode = mode
            for sock in list(self.sockets):
                reset(sock)
            self.sockets.clear()
        if mode == "down":
            self._stop_listening()
        elif self.listener is None:
            self._listen()

    def _listen(self) -> None:
        listener = socket.socket() if self.namespace is None else self.namespace.socket_inside()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _stop_listening(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while self.listener is listener:
            try:
                client, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                if self.mode == "down":
                    reset(client)
                    continue
                self.sockets.add(client)
                if self.mode == "hang":
                    continue  # held open, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                reset(client)
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets.add(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
