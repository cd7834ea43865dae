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
    carries none that parses.

    Read from the right, each X-Forwarded-For entry was added by the proxy after it: the
    first that is not a trusted proxy is the client. An entry that is not an address
    ends the walk (the last address known stands). A UNIX socket's peer (no address) is
    the proxy in front: only it can connect there. With "*" every peer is a proxy, so
    only the last entry, the one the proxy in front added, is believed."""
    remote = request.META.get("REMOTE_ADDR", "")
    known = _address(remote)
    if remote and (known is None or not _trusted(known)):
        return str(known) if known is not None else None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for text in reversed(forwarded.split(",")) if forwarded else ():
        hop = _address(text)
        if hop is None:
            break
        known = hop
        if settings.TRUSTED_PROXIES is None or not _trusted(hop):
            break
    return str(known) if known is not None else None
