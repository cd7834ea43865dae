"""Gateway accounts at the MQTT broker: Mosquitto's dynamic-security plugin, kept in step.

A gateway is one account for both protocols: at the broker its username is its name, its
password its API key, its client id its name as well (the plugin refuses it any other),
and its role lets it publish only to its own events topic and read only its own results.
Client ids beginning with `mes-` are the MES's own (its consumers'): no gateway is named
so, so no gateway can connect with a consumer's id and take over its session.

This module sends the plugin's JSON commands to `$CONTROL/dynamic-security/v1` as the
admin client of `MQTT_ADMIN_URL` and waits for each answer on `.../response`. It reads
the broker's clients and roles first and sends only what differs: the plugin disconnects
every client a command touches, so an account in step must get no command at all. With
`MQTT_ADMIN_URL` unset, broker sync is off: every function here does nothing and says so
(REST-only plants). docs/mqtt-broker.md has the rules.
"""

import json
import secrets
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings
from paho.mqtt.enums import CallbackAPIVersion

from integration.gateways.keys import check_gateway_name

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
EVENTS_TOPIC = "mes/v1/gateways/{gateway}/events"
RESULTS_TOPIC = "mes/v1/gateways/{gateway}/results"
SHARED_EVENTS_SUBSCRIPTION = "$share/{group}/mes/v1/gateways/+/events"
CONSUMER_ROLE = "mes-ingest"
# Marks the broker clients this module manages, and records which key each was given: the
# MES keeps only a digest, so this prefix is how sync_broker_accounts tells a client that
# has the current key from one that still has a replaced one.
KEY_MARK = "mes-gateway-key:"

CONSUMER_MARK = "MES MQTT consumer"

CLIENT_EXISTS = "Client already exists"
CLIENT_NOT_FOUND = "Client not found"
ROLE_NOT_FOUND = "Role not found"


class BrokerAccountError(Exception):
    """The broker could not be reached, refused the admin, or refused a command."""


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


def gateway_role(name: str) -> str:
    """The broker role of the gateway `name`: its own topics, nobody else's."""
    return f"mes-gateway-{name}"


def gateway_client_id(name: str) -> str:
    """The one MQTT client id the broker accepts from the gateway `name`: its name.

    The plugin binds one client id to an account; a gateway needing two connections at
    once needs two gateways (docs/mqtt-broker.md).
    """
    return name


def gateway_acls(name: str) -> list[dict]:
    """The gateway's ACLs: publish to its events topic, subscribe to and receive its results.

    Results may also go to a Response Topic under its results topic (MQTT 5
    request/response), hence the `/#`, which matches the results topic itself too. The
    receive denial of every other gateway's topics holds even if a subscription slipped by.
    """
    try:
        check_gateway_name(name)
    except ValueError as error:
        raise BrokerAccountError(str(error)) from error
    results = RESULTS_TOPIC.format(gateway=name)
    return [
        _acl("publishClientSend", EVENTS_TOPIC.format(gateway=name), allow=True, priority=1),
        _acl("subscribePattern", f"{results}/#", allow=True, priority=1),
        _acl("publishClientReceive", f"{results}/#", allow=True, priority=1),
        _acl("publishClientReceive", "mes/v1/gateways/#", allow=False, priority=0),
    ]


def consumer_acls(share_group: str = "mes-ingest") -> list[dict]:
    """The MES consumer's ACLs: the shared subscription to every events topic, and results."""
    subscription = SHARED_EVENTS_SUBSCRIPTION.format(group=share_group)
    return [
        _acl("subscribePattern", subscription, allow=True, priority=1),
        _acl("publishClientReceive", "mes/v1/gateways/+/events", allow=True, priority=1),
        _acl("publishClientSend", "mes/v1/gateways/+/results/#", allow=True, priority=1),
    ]


def _acl(acltype: str, topic: str, *, allow: bool, priority: int) -> dict:
    return {"acltype": acltype, "topic": topic, "allow": allow, "priority": priority}


def _acl_key(acl: dict) -> tuple[str, str]:
    # The plugin keeps one ACL per type and topic.
    return (str(acl.get("acltype", "")).lower(), acl.get("topic", ""))


def _pick(mapping: dict, *keys: str) -> dict:
    return {key: mapping[key] for key in keys}


def _acl_setting(acl: dict) -> tuple[bool, int]:
    return (bool(acl.get("allow", False)), int(acl.get("priority", 0)))


def role_commands(rolename: str, acls: list[dict], current: dict | None) -> list[dict]:
    """The commands that give the role exactly `acls`, from `current` (the role as the
    broker describes it; None: there is none): none when it has them already."""
    if current is None:
        return [{"command": "createRole", "rolename": rolename, "acls": acls}]
    have = {_acl_key(acl): acl for acl in current.get("acls", [])}
    want = {_acl_key(acl): acl for acl in acls}

    def differs(acl, other):
        return other is None or _acl_setting(acl) != _acl_setting(other)

    # An ACL of the same type and topic with another setting must go before it is added.
    removals = [
        {"command": "removeRoleACL", "rolename": rolename, **_pick(acl, "acltype", "topic")}
        for key, acl in have.items()
        if differs(acl, want.get(key))
    ]
    additions = [
        {"command": "addRoleACL", "rolename": rolename, **acl}
        for key, acl in want.items()
        if differs(acl, have.get(key))
    ]
    return removals + additions


def client_commands(username: str, current: dict, rolename: str, clientid: str | None):
    """The commands that give an existing client (`current`, as the broker describes it)
    exactly the role `rolename`, the client id `clientid` (None: any), and enable it:
    none when it is so already."""
    commands = []
    if [role.get("rolename") for role in current.get("roles", [])] != [rolename]:
        commands.append(
            {
                "command": "modifyClient",
                "username": username,
                "roles": [{"rolename": rolename, "priority": 1}],
            }
        )
    if current.get("clientid") != clientid:  # the broker omits an unset client id
        command = {"command": "setClientId", "username": username}
        if clientid is not None:
            command["clientid"] = clientid
        commands.append(command)
    if current.get("disabled"):
        commands.append({"command": "enableClient", "username": username})
    return commands


def _mqtt_client(parts, client_id: str, timeout: float) -> mqtt.Client:
    """A paho client for the broker of the URL `parts`, with TLS as its scheme says."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if parts.scheme == "mqtts":
        client.tls_set(ca_certs=settings.MQTT_ADMIN_CA_FILE or None, cert_reqs=ssl.CERT_REQUIRED)
    client.connect_timeout = timeout
    return client


class BrokerAdmin:
    """A connection to the broker as its dynamic-security admin; use it in a `with` block."""

    def __init__(self, url: str | None = None, *, timeout: float | None = None):
        self.url = url or settings.MQTT_ADMIN_URL
        self.timeout = timeout if timeout is not None else settings.MQTT_ADMIN_TIMEOUT
        self._responses: dict[str, dict] = {}
        self._arrived = threading.Condition()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._connect_error = ""
        self._client = None
        self._parts = urlsplit(self.url)

    # --- connection ---

    def __enter__(self):
        parts = self._parts
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise BrokerAccountError("MQTT_ADMIN_URL must look like mqtt://user:pass@host:port.")
        client = _mqtt_client(parts, f"mes-broker-admin-{secrets.token_hex(4)}", self.timeout)
        client.username_pw_set(unquote(parts.username or ""), unquote(parts.password or ""))
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        port = self._port
        try:
            client.connect(parts.hostname, port, keepalive=30)
        except (OSError, ValueError) as error:
            raise BrokerAccountError(
                f"The broker at {parts.hostname}:{port} is unreachable: {error}"
            ) from error
        self._client = client
        client.loop_start()
        try:
            if not self._connected.wait(self.timeout):
                raise BrokerAccountError(f"The broker at {parts.hostname}:{port} did not answer.")
            if self._connect_error:
                raise BrokerAccountError(f"The broker refused the admin: {self._connect_error}.")
            client.subscribe(RESPONSE_TOPIC, qos=1)
            if not self._subscribed.wait(self.timeout) or self._connect_error:
                raise BrokerAccountError(
                    "The broker refused the admin's subscription to the control responses: "
                    "is the dynamic-security plugin loaded, and is this its admin?"
                )
        except BrokerAccountError:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info):
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._connect_error = str(reason_code)
        self._connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if any(code.is_failure for code in reason_codes):
            self._connect_error = ", ".join(str(code) for code in reason_codes)
        self._subscribed.set()

    def _on_message(self, client, userdata, message):
        try:
            responses = json.loads(message.payload).get("responses", [])
        except (ValueError, AttributeError):
            return
        with self._arrived:
            for response in responses:
                if isinstance(response, dict) and response.get("correlationData"):
                    self._responses[response["correlationData"]] = response
            self._arrived.notify_all()

    # --- commands ---

    def run(self, commands: list[dict], *, tolerated: frozenset[str] = frozenset()) -> list[dict]:
        """Send commands in one control message and return their responses, in order.

        A response with an error not in `tolerated` raises BrokerAccountError. Each command
        carries its own correlation data: other admins' answers share the response topic.
        """
        batch = secrets.token_hex(6)
        tagged = [
            {**command, "correlationData": f"{batch}-{n}"} for n, command in enumerate(commands)
        ]
        try:
            info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError) as error:
            raise BrokerAccountError(f"The broker connection was lost: {error}") from error
        wanted = [command["correlationData"] for command in tagged]
        with self._arrived:
            if not self._arrived.wait_for(
                lambda: all(key in self._responses for key in wanted), self.timeout
            ):
                raise BrokerAccountError(
                    "The broker did not answer the dynamic-security command "
                    f"{commands[0]['command']}: is the plugin loaded?"
                )
            responses = [self._responses.pop(key) for key in wanted]
        for command, response in zip(commands, responses, strict=True):
            error = response.get("error")
            if error and error not in tolerated:
                raise BrokerAccountError(
                    f"The broker refused {command['command']} for "
                    f"{command.get('username') or command.get('rolename')}: {error}."
                )
        return responses

    def accepts(self, username: str, password: str) -> bool:
        """Whether the broker lets `username` in with `password`: a short connection of
        its own, on the admin's listener, with a fresh client id of the MES's (it takes
        over no session; meant for accounts with no client id of their own)."""
        client = _mqtt_client(self._parts, f"mes-broker-check-{secrets.token_hex(4)}", self.timeout)
        client.username_pw_set(username, password)
        answered, refused = threading.Event(), []

        def on_connect(client, userdata, flags, reason_code, properties):
            if reason_code.is_failure:
                refused.append(reason_code)
            answered.set()

        client.on_connect = on_connect
        try:
            client.connect(self._parts.hostname, self._port, keepalive=30)
        except (OSError, ValueError) as error:
            raise BrokerAccountError(f"The broker became unreachable: {error}") from error
        client.loop_start()
        try:
            if not answered.wait(self.timeout):
                raise BrokerAccountError("The broker did not answer a login check in time.")
        finally:
            client.disconnect()
            client.loop_stop()
        return not refused

    @property
    def _port(self) -> int:
        return self._parts.port or (8883 if self._parts.scheme == "mqtts" else 1883)

    def clients(self) -> dict[str, dict]:
        """Every broker client, by username, as the broker describes it."""
        [response] = self.run([{"command": "listClients", "verbose": True, "count": -1}])
        return {
            client["username"]: client for client in response.get("data", {}).get("clients", [])
        }

    def roles(self) -> dict[str, dict]:
        """Every broker role, by name, with its ACLs."""
        [response] = self.run([{"command": "listRoles", "verbose": True, "count": -1}])
        return {role["rolename"]: role for role in response.get("data", {}).get("roles", [])}

    def role(self, rolename: str) -> dict | None:
        """The role as the broker describes it, or None."""
        [response] = self.run(
            [{"command": "getRole", "rolename": rolename}], tolerated=frozenset({ROLE_NOT_FOUND})
        )
        return None if response.get("error") else response["data"]["role"]

    def client(self, username: str) -> dict | None:
        """The client as the broker describes it, or None."""
        [response] = self.run(
            [{"command": "getClient", "username": username}],
            tolerated=frozenset({CLIENT_NOT_FOUND}),
        )
        return None if response.get("error") else response["data"]["client"]

    def apply(self, commands: list[dict]) -> list[dict]:
        """Send `commands` if there are any (an empty list sends nothing); return them."""
        if commands:
            self.run(commands)
        return commands

    def set_gateway(self, name: str, key: str) -> None:
        """Make the gateway's client: enabled, with `key` as password, its name as its one
        client id, and its own role (a new key: its connections are dropped)."""
        role = gateway_role(name)
        acls = gateway_acls(name)
        prefix = key.partition(".")[0]
        self.apply(role_commands(role, acls, self.role(role)))
        client = {
            "username": name,
            "password": key,
            "clientid": gateway_client_id(name),
            "textname": name,
            "textdescription": f"{KEY_MARK}{prefix}",
            "roles": [{"rolename": role, "priority": 1}],
        }
        # createClient is refused for an existing client: modifyClient then sets the
        # password, client id, description and the one role; enableClient undoes a disable.
        self.run(
            [
                {"command": "createClient", **client},
                {"command": "modifyClient", **client},
                {"command": "enableClient", "username": name},
            ],
            tolerated=frozenset({CLIENT_EXISTS}),
        )

    def disable_gateway(self, name: str) -> bool:
        """Disable the gateway's client (connected sessions are dropped); False if none."""
        [response] = self.run(
            [{"command": "disableClient", "username": name}],
            tolerated=frozenset({CLIENT_NOT_FOUND}),
        )
        return not response.get("error")

    def enable_gateway(self, name: str) -> None:
        """Enable the gateway's client again, with the password it already has."""
        self.run([{"command": "enableClient", "username": name}])

    def set_consumer(
        self, username: str, password: str, share_group: str = "mes-ingest"
    ) -> list[str]:
        """Bring the MES consumer's client and role in step (shared subscription, results);
        return what was changed (nothing for an account already in step: its consumers
        stay connected).

        The consumers share this one account, which is bound to no client id: their ids
        begin with `mes-`, which no gateway can use (gateway_keys.MES_CLIENT_ID_PREFIX).
        """
        changes = []
        if self.apply(
            role_commands(CONSUMER_ROLE, consumer_acls(share_group), self.role(CONSUMER_ROLE))
        ):
            changes.append(f"role {CONSUMER_ROLE} set")
        client = self.client(username)
        if client is None:
            self.run(
                [
                    {
                        "command": "createClient",
                        "username": username,
                        "password": password,
                        "textname": username,
                        "textdescription": CONSUMER_MARK,
                        "roles": [{"rolename": CONSUMER_ROLE, "priority": 1}],
                    }
                ]
            )
            return [*changes, "created"]
        said = {
            "modifyClient": f"given its one role, {CONSUMER_ROLE}",
            "setClientId": "client id unbound (each consumer connects with its own mes- id)",
            "enableClient": "enabled",
        }
        for command in self.apply(client_commands(username, client, CONSUMER_ROLE, None)):
            changes.append(said[command["command"]])
        # The broker keeps only a hash of the password: trying it is how to compare.
        if not self.accepts(username, password):
            self.run([{"command": "setClientPassword", "username": username, "password": password}])
            changes.append("password set")
        return changes

    def gateway_clients(self) -> dict[str, dict]:
        """The broker clients this module manages, by username (those carrying KEY_MARK)."""
        return {
            username: client
            for username, client in self.clients().items()
            if str(client.get("textdescription", "")).startswith(KEY_MARK)
        }


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
