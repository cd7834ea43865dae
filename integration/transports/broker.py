"""What the message transports (MQTT in integration/transports/mqtt/, IPC-CFX in
integration/transports/cfx/) share: numbers from the environment, the gateway accounts
events are sent by, and the one rule of a broker consumer about the database: a group
the database could not take is not acknowledged (DatabaseUnavailable), and the consumer
comes back once the database answers (`database_reachable`)."""

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection
from django.db.models import F

GATEWAY_UNKNOWN = "GATEWAY_UNKNOWN"
GATEWAY_REVOKED = "GATEWAY_REVOKED"


def active_gateways(names: set[str]) -> dict[str, object]:
    """The gateway users named, each with `refusal_code`: None when it may send events,
    else GATEWAY_REVOKED (account disabled or key revoked). A name missing from the
    result is unknown (no such user, or a user without a gateway key)."""
    users = (
        get_user_model()
        .objects.filter(username__in=names, gateway_key__isnull=False)
        .annotate(key_revoked_at=F("gateway_key__revoked_at"))
    )
    found = {}
    for user in users:
        user.refusal_code = (
            GATEWAY_REVOKED if user.key_revoked_at is not None or not user.is_active else None
        )
        found[user.get_username()] = user
    return found


class DatabaseUnavailable(Exception):
    """The database could not take the group: acknowledge nothing of it."""


def env_number(env, name: str, default, kind=int, error=ValueError):
    """A non-negative number from the environment variable `name`, or `default` when it
    is unset or blank; anything else raises `error`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise error(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise error(f"{name} must not be negative")
    return value


@dataclass(frozen=True)
class BrokerConfig:
    """What every broker consumer's configuration has: where the broker is, the account and
    TLS files (`broker_from_environment`), and how the consumer groups its work."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    group_size: int = 500
    group_wait_ms: float = 5.0
    outage_pause_s: float = 5.0
    stats_interval_s: float = 60.0


def broker_from_environment(
    env,
    prefix: str,
    variable: str,
    default_url: str,
    scheme: str,
    ports: tuple[int, int],
    error=ValueError,
) -> dict:
    """A broker's address, account and TLS files from the environment: `variable` is a
    URL `<scheme>://user:password@host:port` (`<scheme>s://` for TLS, default ports
    `ports` plain and TLS), `<prefix>CA_FILE`, `<prefix>CERT_FILE`, `<prefix>KEY_FILE`
    the files. Returns the fields of a transport's config; anything else raises `error`."""
    url = env.get(variable, "").strip() or default_url
    parts = urlsplit(url)
    if parts.scheme not in (scheme, f"{scheme}s"):
        raise error(f"{variable} must start with {scheme}:// or {scheme}s://, not {url!r}")
    if not parts.hostname:
        raise error(f"{variable} names no host")
    tls = parts.scheme == f"{scheme}s"
    try:
        port = parts.port or ports[tls]
    except ValueError:
        raise error(f"{variable} has an invalid port") from None
    return {
        "host": parts.hostname,
        "port": port,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        "tls": tls,
        "ca_file": env.get(f"{prefix}CA_FILE") or None,
        "cert_file": env.get(f"{prefix}CERT_FILE") or None,
        "key_file": env.get(f"{prefix}KEY_FILE") or None,
    }


def raise_if_unavailable(attempts) -> None:
    """After `receive_device_events`: if the database could not take any event of the
    group (its 503), nothing of the group is to be acknowledged."""
    # Imported here: a transport's configuration (and the CFX publisher) loads this
    # module without Django's apps.
    from integration.ingestion.errors import EventNotWritten

    unavailable = [a for a in attempts if isinstance(a.error, EventNotWritten)]
    if unavailable:
        raise DatabaseUnavailable(unavailable[0].error.message)


def database_unavailable(error: DatabaseError) -> DatabaseUnavailable:
    """A transport's own read failed: the broken connection is opened afresh next time."""
    connection.close()
    return DatabaseUnavailable(str(error))


def database_reachable() -> bool:
    """Whether the database answers a query now (on a fresh connection)."""
    try:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        connection.close()
        return False
