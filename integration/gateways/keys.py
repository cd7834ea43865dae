"""Gateways are service accounts: users in the `Gateways` group, each with one API key.

A key is `<prefix>.<secret>`. The prefix is not secret and finds the row; the
whole key is stored only as its SHA-256 digest and compared in constant time.
A row found is used again for GATEWAY_KEY_CACHE_MS (integration/gateways/key_cache.py).
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from integration.gateways import key_cache
from integration.models import GATEWAYS_GROUP, Gateway, GatewayKey
from mes.db import fetch_all, load_model, model_width, select_list

# Last use is written at most this often per key, so one row never becomes a
# lock hotspot under load.
LAST_USED_GRANULARITY = timedelta(minutes=1)
# A gateway's name is one level of its MQTT topics: topic syntax in it would widen its ACL
# (a gateway named "+" would be granted every gateway's topic).
TOPIC_SYNTAX = frozenset("+#/\0")
# A gateway's name is also its MQTT client id; ids beginning with this are the MES's own
# (its consumers'), so no gateway may be named so and take over a consumer's session.
MES_CLIENT_ID_PREFIX = "mes-"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return prefix, f"{prefix}.{secrets.token_urlsafe(32)}"


@transaction.atomic
def issue_gateway_key(user) -> str:
    """Give a gateway a new key, replacing (and so revoking) any key it had.

    Returns the key in clear text: the only time it is ever seen.
    """
    prefix, key = _new_key()
    now = timezone.now()
    updated = GatewayKey.objects.filter(user=user).update(
        prefix=prefix, digest=_digest(key), rotated_at=now, revoked_at=None, last_used_at=None
    )
    if not updated:
        GatewayKey.objects.create(user=user, prefix=prefix, digest=_digest(key))
    key_cache.forget_all()  # the old key: refused by this process once this commits
    return key


def revoke_gateway_key(user) -> bool:
    """Revoke a gateway's key; True if there was one to revoke.

    Refused at once by this process, and by every other within GATEWAY_KEY_CACHE_MS.
    """
    revoked = GatewayKey.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    key_cache.forget_all()
    return bool(revoked)


def check_gateway_name(name: str) -> None:
    """Refuse (ValueError) a name that cannot be one level of an MQTT topic, or that is
    a client id of the MES's own."""
    if not name or TOPIC_SYNTAX & set(name):
        raise ValueError(
            f"{name!r} cannot name a gateway: it is part of its MQTT topics, where + # / "
            "are syntax."
        )
    if name.startswith(MES_CLIENT_ID_PREFIX):
        raise ValueError(
            f"{name!r} cannot name a gateway: it is its MQTT client id too, and client ids "
            f"beginning with {MES_CLIENT_ID_PREFIX!r} are the MES's own (its consumers')."
        )


@transaction.atomic
def create_gateway(name: str):
    """Create a gateway service account named `name` and return (user, key)."""
    check_gateway_name(name)
    user = get_user_model().objects.create_user(username=name)  # no usable password
    user.groups.add(Group.objects.get(name=GATEWAYS_GROUP))
    return user, issue_gateway_key(user)


def find_gateway_key(key: str) -> GatewayKey | None:
    """The active key row matching a presented key, or None.

    As the database had it at most GATEWAY_KEY_CACHE_MS ago (key_cache).
    """
    prefix, separator, _secret = key.partition(".")
    if not separator or not prefix or len(prefix) > 16:
        return None
    user_model = get_user_model()
    row = key_cache.kept_row(prefix)
    read_started = None
    if row is None:
        read_started = key_cache.started()
        # Written out: it runs on every gateway request (mes/db.py says why).
        rows = fetch_all(
            f"SELECT {select_list(GatewayKey, 'k')}, {select_list(user_model, 'u')} FROM "
            f"integration_gatewaykey k JOIN {user_model._meta.db_table} u ON u.id = k.user_id "
            "WHERE k.prefix = %s AND k.revoked_at IS NULL",
            [prefix],
        )
        if not rows:
            return None
        row = rows[0]
    gateway_key = load_model(GatewayKey, row)
    if not hmac.compare_digest(gateway_key.digest, _digest(key)):
        return None
    if read_started is not None:
        key_cache.keep(prefix, row, read_started)
    gateway_key.user = load_model(user_model, row, model_width(GatewayKey))
    return gateway_key


def record_gateway_key_use(gateway_key: GatewayKey) -> None:
    """Note that a key was used, at most once a minute per key (per process, which
    also sees the other processes' writes in the row it reads)."""
    now = timezone.now()
    # A kept row shows the last use as it was read: this process's own write since counts.
    written = key_cache.use_written(gateway_key.prefix)
    last = max((when for when in (gateway_key.last_used_at, written) if when), default=None)
    if last is not None and now - last < LAST_USED_GRANULARITY:
        gateway_key.last_used_at = last
        return
    GatewayKey.objects.filter(pk=gateway_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_GRANULARITY)
    ).update(last_used_at=now)
    key_cache.note_use_written(gateway_key.prefix, now)
    gateway_key.last_used_at = now


def _forget_kept_keys(**_) -> None:
    key_cache.forget_all()


def forget_kept_keys_on_account_changes() -> None:
    """A key or a gateway's account saved or deleted through the ORM (the admin's user
    and gateway pages, a deletion's cascade): this process stops using the rows it kept.
    Connected once, by the app's ready()."""
    # The Gateway proxy's saves are sent with the proxy as sender, so it is named too.
    for model in (GatewayKey, Gateway, get_user_model()):
        post_save.connect(_forget_kept_keys, sender=model, dispatch_uid=f"forget-keys-{model}")
        post_delete.connect(_forget_kept_keys, sender=model, dispatch_uid=f"forget-del-{model}")
