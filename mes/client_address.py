"""The address of the client a request comes from, believing only the trusted proxy.

gunicorn's REMOTE_ADDR is the machine that opened the connection. When that is one of
the proxies in FORWARDED_ALLOW_IPS (the same variable gunicorn.conf.py reads; default
127.0.0.1), the client is the last address in X-Forwarded-For that is not a trusted
proxy, read from the right, where each proxy appended the address it saw. From anyone
else the header is ignored: a client reaching gunicorn directly cannot choose the
address it is counted and logged under (admin sign-in throttling, docs/operations.md).
"""

import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies(value: str) -> list[Network] | None:
    """FORWARDED_ALLOW_IPS as networks ("10.0.0.5,10.1.0.0/16"); None for "*" (every
    peer is trusted, as gunicorn reads it)."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if "*" in items:
        return None
    try:
        return [ipaddress.ip_network(item, strict=False) for item in items]
    except ValueError as error:
        raise ImproperlyConfigured(f"FORWARDED_ALLOW_IPS: {error}") from error


def _address(text: str):
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client on an IPv6 socket arrives as ::ffff:a.b.c.d.
    return getattr(address, "ipv4_mapped", None) or address


def _trusted(address) -> bool:
    proxies = settings.TRUSTED_PROXIES
    return proxies is None or any(address in network for network in proxies)


def client_address(request) -> str | None:
    """The client's address as text (e.g. "203.0.113.9"), or None when the request
    carries none that parses."""
    peer = _address(request.META.get("REMOTE_ADDR", ""))
    if peer is None or not _trusted(peer):
        return str(peer) if peer is not None else None
    hops = [_address(item) for item in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop is not None]
    for hop in reversed(hops):
        if not _trusted(hop):
            return str(hop)
    # Every hop is a trusted proxy: the first one is where the request came from.
    return str(hops[0]) if hops else str(peer)
