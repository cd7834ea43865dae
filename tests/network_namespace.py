"""A network namespace joined to this one by a veth pair: a host a test can cut off as a
vanished database host is cut off (a failover, a pulled cable, a firewall dropping
packets), with no reset and no refusal. Packets are simply no longer delivered: data
sent stays unacknowledged, a new connection's SYN goes unanswered. A TCP proxy's
listener made inside (`socket_inside`) is that host (tests/tcp_proxy.py).

Needs root (CAP_NET_ADMIN) and iproute2, as this project's CI machine has; `missing()`
says why a machine cannot, for a skip. A namespace left by a killed test run (its owner's
pid is in its name) is deleted by the next one; deleting it takes its veth pair along.
"""

import contextlib
import ctypes
import os
import secrets
import shutil
import socket
import subprocess
import threading
from pathlib import Path

CLONE_NEWNET = 0x40000000


PREFIX = "mes-cut-"


def missing() -> str | None:
    """Why this machine cannot make one, or None (tried: root in a container may lack
    CAP_NET_ADMIN)."""
    if shutil.which("ip") is None:
        return "network namespaces need iproute2's `ip`"
    probe = f"{PREFIX}probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except RuntimeError as error:
        return f"cannot make a network namespace here (root with CAP_NET_ADMIN): {error}"
    _ip("netns", "del", probe)
    return None


def _sweep_dead_owners() -> None:
    """Namespaces (and their veth pairs) left by a test process that was killed."""
    run = Path("/run/netns")
    for entry in run.glob(f"{PREFIX}*") if run.is_dir() else []:
        owner = entry.name.removeprefix(PREFIX).split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", entry.name)


def _ip(*arguments: str) -> None:
    result = subprocess.run(["ip", *arguments], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(arguments)}: {result.stderr.strip()}")


class NetworkNamespace:
    """`with NetworkNamespace() as host:` a namespace at `host.address`, reached from here
    through a veth pair; `cut()` takes its side of the pair down, `mend()` up again."""

    def __init__(self):
        token = secrets.token_hex(4)
        self.name = f"{PREFIX}{os.getpid()}-{token}"  # its owner, for the sweep
        self.outside, self.inside = f"vo{token}", f"vi{token}"  # at most 15 characters
        # A /30 of its own, at random in 198.18.0.0/15 (RFC 2544: for benchmarks, never a
        # real network's): two tests at once do not share one.
        network = secrets.randbelow(2**15)
        third, fourth = network // 64, network % 64 * 4
        self.local_address = f"198.{18 + third // 256}.{third % 256}.{fourth + 1}"
        self.address = f"198.{18 + third // 256}.{third % 256}.{fourth + 2}"

    def __enter__(self) -> "NetworkNamespace":
        _sweep_dead_owners()
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.outside, "type", "veth", "peer", "name", self.inside)
            _ip("link", "set", self.inside, "netns", self.name)
            _ip("addr", "add", f"{self.local_address}/30", "dev", self.outside)
            _ip("link", "set", self.outside, "up")
            self._inside("addr", "add", f"{self.address}/30", "dev", self.inside)
            self.mend()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_) -> None:
        with contextlib.suppress(RuntimeError):
            _ip("link", "del", self.outside)  # its peer goes with it
        with contextlib.suppress(RuntimeError):
            _ip("netns", "del", self.name)

    def _inside(self, *arguments: str) -> None:
        _ip("-n", self.name, *arguments)

    def cut(self) -> None:
        """Packets to and from the namespace are dropped from now on."""
        self._inside("link", "set", self.inside, "down")

    def mend(self) -> None:
        self._inside("link", "set", "lo", "up")
        self._inside("link", "set", self.inside, "up")

    def socket_inside(self) -> socket.socket:
        """A TCP socket of the namespace, made by a thread that joins it (setns changes
        the calling thread's namespace only; a socket stays in the one it was made in)."""
        made: list = []

        def make() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            descriptor = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
            try:
                if libc.setns(descriptor, CLONE_NEWNET) != 0:
                    made.append(OSError(ctypes.get_errno(), "setns into the namespace failed"))
                    return
                made.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            finally:
                os.close(descriptor)

        # The thread ends inside the namespace; no other code runs on it.
        thread = threading.Thread(target=make, name="netns")
        thread.start()
        thread.join()
        if isinstance(made[0], OSError):
            raise made[0]
        return made[0]
