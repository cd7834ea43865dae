"""Whose address a request's log line names and sign-in throttling counts
(mes/client_address.py): the rules beyond what
tests/mes/test_metrics.py sends to a real server from two loopback addresses."""

import pytest
from django.test import RequestFactory

from mes.client_address import client_address, trusted_proxies


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_for", "logged"),
    [
        # "*": every peer is a proxy, but only the last entry is believed.
        (["*"], "10.0.0.5", "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        (["*"], "10.0.0.5", "198.51.100.1, 10.0.0.4", "10.0.0.4"),
        # A UNIX socket has no address: only the proxy in front can connect to it.
        (["10.0.0.4"], "", "203.0.113.7", "203.0.113.7"),
        # An IPv4 proxy seen through an IPv6 socket is the same proxy.
        (["10.0.0.4"], "::ffff:10.0.0.4", "203.0.113.7", "203.0.113.7"),
        (["10.0.0.4"], "10.0.0.5", "203.0.113.7", "10.0.0.5"),
        # The last entry that is not a trusted proxy's, from the right.
        (["10.0.0.4", "10.0.0.3"], "10.0.0.4", "1.2.3.4, 203.0.113.7, 10.0.0.3", "203.0.113.7"),
        # Garbage at the end: the proxy's own address is the one known.
        (["10.0.0.4"], "10.0.0.4", "203.0.113.7, unknown", "10.0.0.4"),
    ],
)
def test_the_client_is_the_peer_or_what_a_trusted_proxy_added(
    settings, trusted, peer, forwarded_for, logged
):
    settings.TRUSTED_PROXIES = trusted_proxies(",".join(trusted))
    request = RequestFactory().get("/healthz", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_address(request) == logged
