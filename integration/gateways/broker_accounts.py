"""Gateway accounts at the MQTT broker kept in step with the MES: what `sync_broker_accounts`
changes, and the updates after a key is issued or revoked.

A gateway is one account for both protocols: at the broker its username is its name, its
password its API key, its client id its name as well (the plugin refuses it any other),
and its role lets it publish only to its own events topic and read only its own results.
The broker's clients and roles are read first and only what differs is sent: the plugin
disconnects every client a command touches, so an account in step gets no command at
all. With `MQTT_ADMIN_URL` unset, broker sync is off: every function here does nothing
and says so (REST-only plants). docs/mqtt-broker.md has the rules; the accounts' shape is
in broker_rules.py, the admin connection in broker_admin.py.
"""

from dataclasses import dataclass

from django.conf import settings

from integration.gateways.broker_admin import BrokerAdmin
from integration.gateways.broker_rules import (
    KEY_MARK,
    BrokerAccountError,
    client_commands,
    gateway_acls,
    gateway_client_id,
    gateway_role,
    role_commands,
)


@dataclass(frozen=True)
class BrokerUpdate:
    """What became of a broker change: done, skipped (sync is off), or failed with a reason."""

    done: bool
    skipped: bool = False
    error: str = ""

    @property
    def failed(self) -> bool:
        return not (self.done or self.skipped)


def broker_sync_enabled() -> bool:
    """True when MQTT_ADMIN_URL names a broker whose accounts the MES manages."""
    return bool(getattr(settings, "MQTT_ADMIN_URL", ""))


@dataclass(frozen=True)
class GatewayAccount:
    """A gateway as the MES knows it: its name, and its active key's prefix (None: no key)."""

    name: str
    key_prefix: str | None


def sync_gateway_clients(admin: BrokerAdmin, gateways: list[GatewayAccount]) -> list[str]:
    """Bring the broker's gateway clients in step with the MES; one line per change or problem.

    A client keeps working only if it holds the gateway's current key (its recorded
    prefix is the MES's); its role, its one client id and its enabled state are then
    checked and only what differs is changed. Every other managed client is disabled:
    revoked gateways, replaced keys, names that are no longer gateways or can no longer
    be one. The broker cannot be given a key the MES has only as a digest, so a gateway
    without a current client must be re-keyed.
    """
    clients = admin.gateway_clients()
    roles = admin.roles()
    lines = []

    def disable(name, client, why):
        if not client.get("disabled"):
            admin.disable_gateway(name)
            lines.append(f"{name}: disabled ({why}).")

    for gateway in gateways:
        name = gateway.name
        client = clients.pop(name, None)
        if gateway.key_prefix is None:
            if client is not None:
                disable(name, client, "no active key in the MES")
        elif client is None:
            lines.append(f"{name}: no broker client; re-key it to use MQTT.")
        elif client.get("textdescription") != f"{KEY_MARK}{gateway.key_prefix}":
            disable(name, client, "it holds a replaced key; re-key it to use MQTT")
        else:
            try:
                acls = gateway_acls(name)
            except BrokerAccountError as error:
                disable(name, client, f"{error} Rename the gateway and re-key it")
                continue
            role = gateway_role(name)
            if admin.apply(role_commands(role, acls, roles.get(role))):
                lines.append(f"{name}: role {role} set to the gateway's own topics.")
            client_id = gateway_client_id(name)
            said = {
                "modifyClient": f"{name}: given its one role, {role}.",
                "setClientId": f"{name}: client id bound to {client_id!r} (it may use no other).",
                "enableClient": f"{name}: enabled (it holds the current key).",
            }
            for command in admin.apply(client_commands(name, client, role, client_id)):
                lines.append(said[command["command"]])
    for name, client in clients.items():
        disable(name, client, "not a gateway in the MES")
    return lines


def unbound_clients(admin: BrokerAdmin, allowed: set[str]) -> list[str]:
    """Clients the MES does not manage that may connect with any client id (a consumer's
    too): one line each, for the operator to bind them; those in `allowed` (the admin,
    the consumers' account) are left out."""
    return [
        f"{username}: may connect with any client id, a consumer's too (it is not the MES's): "
        f"bind it with `mosquitto_ctrl dynsec setClientId {username} <its id>` unless it is "
        "an admin."
        for username, client in sorted(admin.clients().items())
        if username not in allowed
        and not client.get("clientid")
        and not client.get("disabled")
        and not str(client.get("textdescription", "")).startswith(KEY_MARK)
    ]


def _attempt(change) -> BrokerUpdate:
    if not broker_sync_enabled():
        return BrokerUpdate(done=False, skipped=True)
    try:
        with BrokerAdmin() as admin:
            change(admin)
    except BrokerAccountError as error:
        return BrokerUpdate(done=False, error=str(error))
    return BrokerUpdate(done=True)


def update_broker_after_issue(name: str, key: str) -> BrokerUpdate:
    """After a key is issued and committed in the MES: give it to the gateway's broker client.

    The clear key exists only now, so this is the one moment the broker can get it.
    """
    return _attempt(lambda admin: admin.set_gateway(name, key))


def update_broker_after_revoke(name: str) -> BrokerUpdate:
    """After a key is revoked in the MES: disable the gateway's broker client."""
    return _attempt(lambda admin: admin.disable_gateway(name))


def broker_warning(update: BrokerUpdate, *, after: str) -> str:
    """The sentence an admin reads when a broker change failed (docs/mqtt-broker.md)."""
    return (
        f"The MQTT broker was not updated after the {after}: {update.error} Run "
        "`manage.py sync_broker_accounts` once it is reachable: it disables a broker client "
        "whose key is not the current one; re-key the gateway then to use MQTT."
    )
