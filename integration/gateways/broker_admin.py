"""A connection to the MQTT broker as its dynamic-security admin (`MQTT_ADMIN_URL`): sends
the plugin's JSON commands to `$CONTROL/dynamic-security/v1` and waits for each answer on
`.../response`; reads clients and roles, and sets gateways' and consumers' accounts.
"""

import json
import secrets
import ssl
import threading
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings
from paho.mqtt.enums import CallbackAPIVersion

from integration.gateways.broker_rules import (
    CLIENT_EXISTS,
    CLIENT_NOT_FOUND,
    CONSUMER_MARK,
    CONSUMER_ROLE,
    CONTROL_TOPIC,
    KEY_MARK,
    RESPONSE_TOPIC,
    ROLE_NOT_FOUND,
    BrokerAccountError,
    client_commands,
    consumer_acls,
    gateway_acls,
    gateway_client_id,
    gateway_role,
    role_commands,
)


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
