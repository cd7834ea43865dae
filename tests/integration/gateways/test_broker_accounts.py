"""Gateway accounts at a real Mosquitto with dynamic security (docs/mqtt-broker.md).

One piece past 500 lines: every test shares one broker set-up (Mosquitto with dynamic
security, its admin, a watcher session) and the account rules they check are one area.

A gateway connects with its name and API key, and its name as client id (no other: not a
consumer's), publishes only to its own events topic and reads only its own results; re-key
and revoke, by command or in the back office, take effect at the broker; with
MQTT_ADMIN_URL unset nothing is attempted; with the broker unreachable the MES change
stands, the admin is told, and sync_broker_accounts repairs the broker, changing only what
is out of step (so it disconnects nobody who is in step).
"""

import io
import queue
import re

import paho.mqtt.client as mqtt
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from paho.mqtt.enums import CallbackAPIVersion
from rest_framework.test import APIClient

from integration.gateways.broker_accounts import (
    update_broker_after_issue,
    update_broker_after_revoke,
)
from integration.gateways.broker_admin import BrokerAdmin
from integration.gateways.broker_rules import gateway_acls, role_commands
from integration.gateways.keys import issue_gateway_key, revoke_gateway_key
from integration.models import Gateway
from tests.factories import gateway_with_key
from tests.mqtt_broker import free_port, start_mosquitto

WAIT = 5


def events(name):
    return f"mes/v1/gateways/{name}/events"


def results(name):
    return f"mes/v1/gateways/{name}/results"


class Session:
    """One MQTT 5 connection, recording what the broker answered."""

    def __init__(self, broker, username, password, client_id=None):
        # A gateway's client id is its name (docs/mqtt-broker.md): the default.
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or username,
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(username, password)
        self.connack = queue.Queue()
        self.acks = queue.Queue()
        self.messages = queue.Queue()
        self.disconnected = queue.Queue()
        self.client.on_connect = lambda c, u, f, code, p: self.connack.put(code)
        self.client.on_publish = lambda c, u, mid, code, p: self.acks.put(code)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.acks.put(codes)
        self.client.on_message = lambda c, u, message: self.messages.put(message)
        self.client.on_disconnect = lambda c, u, f, code, p: self.disconnected.put(code)
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        self.code = self.connack.get(timeout=WAIT)
        if self.code.is_failure:
            self.close()

    @property
    def accepted(self) -> bool:
        return not self.code.is_failure

    def publish(self, topic, payload=b"{}"):
        """The PUBACK's reason code (QoS 1)."""
        self.client.publish(topic, payload, qos=1)
        return self.acks.get(timeout=WAIT)

    def subscribe(self, topic):
        """The SUBACK's reason code for this one topic filter."""
        self.client.subscribe(topic, qos=1)
        [code] = self.acks.get(timeout=WAIT)
        return code

    def received(self, timeout=1.0):
        """Payloads that arrive within `timeout` seconds of the last one."""
        payloads = []
        while True:
            try:
                payloads.append(self.messages.get(timeout=timeout).payload)
            except queue.Empty:
                return payloads

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path, settings):
    """A broker with dynamic security, managed by the MES (MQTT_ADMIN_URL set)."""
    with start_mosquitto(tmp_path, dynamic_security=True, persistence=False) as running:
        settings.MQTT_ADMIN_URL = running.url
        yield running


@pytest.fixture
def sessions(broker):
    """Opens sessions on the broker and closes them after the test."""
    opened = []

    def open_session(username, password, client_id=None):
        session = Session(broker, username, password, client_id)
        opened.append(session)
        return session

    yield open_session
    for session in opened:
        session.close()


@pytest.fixture
def watcher(broker, sessions):
    """The broker's admin, reading every gateway topic: what the broker let through."""
    session = sessions(broker.admin_user, broker.admin_password, "mes-test-watcher")
    assert session.subscribe("mes/v1/gateways/#").value == 1
    return session


@pytest.fixture
def consumer(broker, sessions):
    """The MES consumer's account (as sync_broker_accounts sets it up): it answers on results."""
    with BrokerAdmin(broker.url, timeout=WAIT) as admin:
        admin.set_consumer("mes-ingest", "consumer-password")
    return sessions("mes-ingest", "consumer-password", "mes-ingest-1")


def create_by_command(name) -> tuple[str, str]:
    """Run create_gateway; return its key (the last line) and what it wrote to stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command("create_gateway", name, stdout=out, stderr=err)
    return out.getvalue().strip().splitlines()[-1], err.getvalue()


def broker_clients(broker) -> dict:
    with BrokerAdmin(broker.url, timeout=WAIT) as admin:
        return admin.gateway_clients()


def shown_key(response) -> str:
    match = re.search(r'id="gateway-key">([^<]+)</p>', response.content.decode())
    assert match, "the key is not on the page"
    return match.group(1)


def page_messages(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


def whoami_status(key) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/integration/whoami").status_code


# --- what a gateway may do ---------------------------------------------------------------------


@pytest.mark.django_db
def test_create_gateway_makes_a_broker_client_that_publishes_to_its_own_events(
    broker, sessions, watcher
):
    key, warnings = create_by_command("gw-reflow-1")

    gateway = sessions("gw-reflow-1", key)
    assert gateway.accepted
    assert not gateway.publish(events("gw-reflow-1"), b'{"eventId": "e1"}').is_failure
    assert watcher.received() == [b'{"eventId": "e1"}']
    assert warnings == ""


@pytest.mark.django_db
def test_a_gateway_cannot_publish_into_another_gateways_events_topic(broker, sessions, watcher):
    key, _ = create_by_command("gw-a")
    create_by_command("gw-b")

    gateway = sessions("gw-a", key)
    for topic in (events("gw-b"), results("gw-a"), "mes/v1/gateways/gw-b/events/x"):
        assert str(gateway.publish(topic)) == "Not authorized"
    assert watcher.received() == []


@pytest.mark.django_db
def test_a_gateway_reads_its_own_results_and_cannot_subscribe_to_anyone_elses(
    broker, sessions, consumer
):
    key_a, _ = create_by_command("gw-a")
    create_by_command("gw-b")
    gateway = sessions("gw-a", key_a)

    for topic in (
        results("gw-b"),
        "mes/v1/gateways/+/results",
        "mes/v1/gateways/#",
        "#",
        f"$share/spy/{results('gw-b')}",
        events("gw-b"),
    ):
        assert gateway.subscribe(topic).is_failure, topic
    assert not gateway.subscribe(results("gw-a")).is_failure
    assert not gateway.subscribe(f"{results('gw-a')}/request-7").is_failure

    for topic, answer in [
        (results("gw-b"), b"for b"),
        (results("gw-a"), b"for a"),
        (f"{results('gw-a')}/request-7", b"for a's request"),
    ]:
        assert not consumer.publish(topic, answer).is_failure
    assert sorted(gateway.received()) == [b"for a", b"for a's request"]


@pytest.mark.django_db
def test_a_wrong_key_or_an_unknown_name_is_refused(broker, sessions):
    key, _ = create_by_command("gw-a")

    assert not sessions("gw-a", key + "x").accepted
    assert not sessions("gw-unknown", key).accepted


# --- re-key and revoke, by command ---------------------------------------------------------------


@pytest.mark.django_db
def test_rekey_command_refuses_the_old_key_at_the_broker_and_accepts_the_new_one(broker, sessions):
    old_key, _ = create_by_command("gw-a")
    out = io.StringIO()

    call_command("rekey_gateway", "gw-a", stdout=out)

    new_key = out.getvalue().strip().splitlines()[-1]
    assert new_key != old_key
    assert not sessions("gw-a", old_key).accepted
    assert sessions("gw-a", new_key).accepted


@pytest.mark.django_db
def test_revoke_command_disables_the_client_and_drops_its_connection(broker, sessions):
    key, _ = create_by_command("gw-a")
    connected = sessions("gw-a", key)
    assert connected.accepted

    call_command("revoke_gateway", "gw-a", stdout=io.StringIO())

    connected.disconnected.get(timeout=WAIT)
    assert not sessions("gw-a", key).accepted
    assert broker_clients(broker)["gw-a"]["disabled"] is True


@pytest.mark.django_db
def test_issuing_again_for_an_existing_client_updates_it(broker, sessions):
    gateway, first = gateway_with_key("gw-a")
    assert update_broker_after_issue("gw-a", first).done
    second = issue_gateway_key(gateway)
    assert update_broker_after_revoke("gw-a").done

    assert update_broker_after_issue("gw-a", second).done

    assert not sessions("gw-a", first).accepted
    assert sessions("gw-a", second).accepted


@pytest.mark.django_db
def test_a_name_that_is_topic_syntax_is_refused_before_anything_is_created(broker):
    with pytest.raises(CommandError, match="MQTT topics"):
        create_by_command("+")

    assert not Gateway.objects.filter(username="+").exists()
    assert broker_clients(broker) == {}


# --- the back office ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admins_create_rekey_and_revoke_keep_the_broker_in_step(broker, sessions, integration):
    created = integration.post(
        reverse("admin:integration_gateway_add"), {"username": "gw-spi-1"}, follow=True
    )
    first_key = shown_key(created)
    assert "MQTT broker updated after the creation" in page_messages(created)
    assert sessions("gw-spi-1", first_key).accepted
    gateway = Gateway.objects.get(username="gw-spi-1")

    rekeyed = integration.post(
        reverse("admin:integration_gateway_rekey", args=[gateway.pk]), follow=True
    )
    second_key = shown_key(rekeyed)
    assert not sessions("gw-spi-1", first_key).accepted
    assert sessions("gw-spi-1", second_key).accepted

    revoked = integration.post(
        reverse("admin:integration_gateway_revoke", args=[gateway.pk]), follow=True
    )
    assert "MQTT broker updated after the revoke" in page_messages(revoked)
    assert not sessions("gw-spi-1", second_key).accepted


@pytest.mark.django_db
def test_the_admin_refuses_a_gateway_name_that_is_topic_syntax(broker, integration):
    response = integration.post(reverse("admin:integration_gateway_add"), {"username": "gw#1"})

    assert response.status_code == 200
    assert "MQTT topics" in response.content.decode()
    assert not Gateway.objects.filter(username="gw#1").exists()


# --- without a managed broker ----------------------------------------------------------------


@pytest.mark.django_db
def test_with_mqtt_admin_url_unset_nothing_is_attempted(broker, settings, integration):
    settings.MQTT_ADMIN_URL = ""

    key, warnings = create_by_command("gw-rest-only")
    created = integration.post(
        reverse("admin:integration_gateway_add"), {"username": "gw-rest-2"}, follow=True
    )

    assert warnings == ""
    assert "MQTT" not in page_messages(created)
    assert whoami_status(key) == 200
    assert broker_clients(broker) == {}
    with pytest.raises(CommandError, match="MQTT_ADMIN_URL is not set"):
        call_command("sync_broker_accounts", stdout=io.StringIO())


@pytest.mark.django_db
def test_with_the_broker_unreachable_the_key_is_issued_and_the_admin_is_told(settings, integration):
    settings.MQTT_ADMIN_URL = f"mqtt://admin:pw@127.0.0.1:{free_port()}"
    settings.MQTT_ADMIN_TIMEOUT = 1

    key, warnings = create_by_command("gw-a")
    gateway = Gateway.objects.get(username="gw-a")
    rekeyed = integration.post(
        reverse("admin:integration_gateway_rekey", args=[gateway.pk]), follow=True
    )

    assert whoami_status(key) == 401
    assert whoami_status(shown_key(rekeyed)) == 200
    assert "broker was not updated after the creation" in warnings
    assert "unreachable" in warnings
    assert "sync_broker_accounts" in page_messages(rekeyed)


@pytest.mark.django_db
def test_with_the_broker_unreachable_revoke_holds_in_the_mes_and_the_command_fails(settings):
    settings.MQTT_ADMIN_URL = f"mqtt://admin:pw@127.0.0.1:{free_port()}"
    settings.MQTT_ADMIN_TIMEOUT = 1
    _gateway, key = gateway_with_key("gw-a")

    with pytest.raises(CommandError, match="broker was not updated after the revoke"):
        call_command("revoke_gateway", "gw-a", stdout=io.StringIO())

    assert whoami_status(key) == 401


# --- sync_broker_accounts ----------------------------------------------------------------------


@pytest.mark.django_db
def test_sync_disables_what_the_broker_missed_and_enables_clients_with_the_current_key(
    broker, sessions, settings
):
    current_key, _ = create_by_command("gw-current")
    stale_key, _ = create_by_command("gw-stale")
    revoked_key, _ = create_by_command("gw-revoked")
    renamed_key, _ = create_by_command("gw-old-name")
    # Changes made while the broker was unreachable: it never heard of them.
    settings.MQTT_ADMIN_URL = ""
    issue_gateway_key(Gateway.objects.get(username="gw-stale"))
    revoke_gateway_key(Gateway.objects.get(username="gw-revoked"))
    Gateway.objects.filter(username="gw-old-name").update(username="gw-new-name")
    broker.ctrl("dynsec", "disableClient", "gw-current")
    settings.MQTT_ADMIN_URL = broker.url
    out = io.StringIO()

    call_command("sync_broker_accounts", stdout=out)

    assert sessions("gw-current", current_key).accepted
    for name, key in [
        ("gw-stale", stale_key),
        ("gw-revoked", revoked_key),
        ("gw-old-name", renamed_key),
    ]:
        assert not sessions(name, key).accepted, name
    report = out.getvalue()
    assert "gw-current: enabled" in report
    assert "gw-stale: disabled (it holds a replaced key; re-key it" in report
    assert "gw-new-name: no broker client; re-key it" in report


@pytest.mark.django_db
def test_sync_sets_up_the_consumer_account_of_mqtt_url(broker, sessions, settings):
    settings.MQTT_URL = broker.url_for("mes-ingest", "consumer-password")
    key, _ = create_by_command("gw-a")

    call_command("sync_broker_accounts", stdout=io.StringIO())

    consumer = sessions("mes-ingest", "consumer-password")
    assert consumer.accepted
    assert not consumer.subscribe("$share/mes-ingest/mes/v1/gateways/+/events").is_failure
    assert consumer.subscribe(results("gw-a")).is_failure
    gateway = sessions("gw-a", key)
    gateway.subscribe(results("gw-a"))
    gateway.publish(events("gw-a"), b"event")
    assert consumer.received() == [b"event"]
    assert not consumer.publish(results("gw-a"), b"answer").is_failure
    assert gateway.received() == [b"answer"]


@pytest.mark.django_db
def test_the_simulators_new_key_is_given_to_its_broker_account_too(broker, sessions):
    from integration.management.commands.simulate_gateway import simulator_key

    first, _ = simulator_key()
    key, update = simulator_key()  # each run of the simulator re-keys it

    assert update.done
    assert sessions("gw-simulator", key).accepted
    assert not sessions("gw-simulator", first).accepted


@pytest.mark.django_db
def test_a_gateway_refused_by_the_broker_is_told_so_not_that_it_could_not_subscribe(broker):
    from integration.transports.mqtt.config import MqttConfig
    from integration.transports.mqtt.gateway_client import GatewayConnection

    create_by_command("gw-reflow-1")
    config = MqttConfig(host=broker.host, port=broker.port)
    with pytest.raises(ConnectionError, match="refused 'gw-reflow-1'"):
        GatewayConnection(config, "gw-reflow-1", "not-its-key")


def still_connected(session) -> bool:
    """Whether the session's connection is up: a round trip (a PUBACK, even a refusal)
    answered and no disconnection seen."""
    session.publish("mes/v1/probe")
    return session.disconnected.empty()


CHANGING_COMMANDS = (
    "createRole", "addRoleACL", "removeRoleACL", "createClient", "modifyClient",
    "setClientId", "setClientPassword", "enableClient", "disableClient",
)  # fmt: skip


def broker_changes(log: str) -> list[str]:
    """The dynamic-security changes the broker logged (it logs each command it carried out)."""
    return [
        line
        for line in log.splitlines()
        if "dynsec:" in line and any(f"| {command} |" in line for command in CHANGING_COMMANDS)
    ]


@pytest.mark.django_db
def test_sync_run_twice_leaves_connected_clients_in_step_connected(broker, sessions, settings):
    settings.MQTT_URL = broker.url_for("mes-ingest", "consumer-password")
    key, _ = create_by_command("gw-a")
    call_command("sync_broker_accounts", stdout=io.StringIO())
    consumer = sessions("mes-ingest", "consumer-password", "mes-ingest-1")
    gateway = sessions("gw-a", key)
    assert consumer.accepted and gateway.accepted
    changes_before = len(broker_changes(broker.log()))

    for _run in range(2):
        call_command("sync_broker_accounts", stdout=io.StringIO())

    assert still_connected(consumer), "sync_broker_accounts dropped the consumer"
    assert still_connected(gateway), "sync_broker_accounts dropped a gateway in step"
    assert broker_changes(broker.log())[changes_before:] == []


# --- one identity per client -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_gateway_may_connect_only_with_its_own_name_as_client_id(broker, sessions):
    key, _ = create_by_command("gw-a")

    assert sessions("gw-a", key, "gw-a").accepted
    for other in ("gw-a-2", "gw-b", "mes-ingest-1"):
        assert str(sessions("gw-a", key, other).code) == "Not authorized", other


@pytest.mark.django_db
def test_a_gateway_connecting_with_the_consumers_client_id_is_refused_and_the_consumer_stays(
    broker, sessions, consumer
):
    key, _ = create_by_command("gw-a")

    intruder = sessions("gw-a", key, "mes-ingest-1")

    assert str(intruder.code) == "Not authorized"
    assert still_connected(consumer)
    assert "already connected" not in broker.log()


@pytest.mark.django_db
def test_a_gateway_name_beginning_with_mes_is_refused(broker, integration):
    with pytest.raises(CommandError, match="client ids beginning with 'mes-' are the MES's own"):
        create_by_command("mes-ingest-1")
    response = integration.post(reverse("admin:integration_gateway_add"), {"username": "mes-x"})

    assert "the MES&#x27;s own" in response.content.decode()
    assert not Gateway.objects.filter(username__startswith="mes-").exists()
    assert broker_clients(broker) == {}


@pytest.mark.django_db
def test_sync_binds_the_client_id_and_repairs_the_role_of_a_client_out_of_step(broker, sessions):
    key, _ = create_by_command("gw-a")
    # As a client made before client ids were bound, and a role edited by hand.
    broker.ctrl("dynsec", "setClientId", "gw-a")
    broker.ctrl("dynsec", "addRoleACL", "mes-gateway-gw-a", "publishClientSend", "#", "allow", "5")
    broker.ctrl(
        "dynsec", "removeRoleACL", "mes-gateway-gw-a", "publishClientSend",
        "mes/v1/gateways/gw-a/events",
    )  # fmt: skip
    assert sessions("gw-a", key, "mes-ingest-1").accepted
    out = io.StringIO()

    call_command("sync_broker_accounts", stdout=out)

    report = out.getvalue()
    assert "gw-a: client id bound to 'gw-a' (it may use no other)." in report
    assert "gw-a: role mes-gateway-gw-a set to the gateway's own topics." in report
    assert str(sessions("gw-a", key, "mes-ingest-1").code) == "Not authorized"
    gateway = sessions("gw-a", key)
    assert not gateway.publish(events("gw-a")).is_failure
    assert str(gateway.publish("anything/else")) == "Not authorized"


@pytest.mark.django_db
def test_sync_repairs_the_consumer_account_and_says_so(broker, sessions, settings):
    settings.MQTT_URL = broker.url_for("mes-ingest", "consumer-password")
    call_command("sync_broker_accounts", stdout=io.StringIO())
    # Out of step: another password, bound to one consumer's id, disabled.
    broker.ctrl("dynsec", "setClientPassword", "mes-ingest", "old-password")
    broker.ctrl("dynsec", "setClientId", "mes-ingest", "mes-ingest-1")
    broker.ctrl("dynsec", "disableClient", "mes-ingest")
    out = io.StringIO()

    call_command("sync_broker_accounts", stdout=out)

    assert (
        "Consumer mes-ingest: client id unbound (each consumer connects with its own mes- id), "
        "enabled, password set." in out.getvalue()
    )
    for consumer_id in ("mes-ingest-1", "mes-ingest-2"):
        assert sessions("mes-ingest", "consumer-password", consumer_id).accepted


@pytest.mark.django_db
def test_sync_names_accounts_made_by_hand_that_may_use_any_client_id(broker, settings):
    settings.MQTT_URL = broker.url_for("mes-ingest", "consumer-password")
    broker.ctrl("dynsec", "createClient", "scada-reader", "-p", "pw")
    broker.ctrl("dynsec", "createClient", "historian", "-p", "pw", "-c", "historian")
    out = io.StringIO()

    call_command("sync_broker_accounts", stdout=out)

    report = out.getvalue()
    assert "scada-reader: may connect with any client id, a consumer's too" in report
    assert "historian" not in report
    assert "\nmes-ingest: may" not in report and "mes-admin:" not in report


@pytest.mark.django_db
def test_sync_disables_a_gateway_whose_name_is_now_reserved(broker, sessions):
    key, _ = create_by_command("gw-old")
    # A gateway named before names beginning with mes- were refused.
    Gateway.objects.filter(username="gw-old").update(username="mes-old")
    broker.ctrl("dynsec", "createClient", "mes-old", "-p", key)
    with BrokerAdmin(broker.url, timeout=WAIT) as admin:
        # The client as the MES made it then: marked with the key, no client id.
        admin.run(
            [{"command": "modifyClient", "username": "mes-old",
              "textdescription": broker_clients(broker)["gw-old"]["textdescription"]}]
        )  # fmt: skip
    out = io.StringIO()

    call_command("sync_broker_accounts", stdout=out)

    assert "mes-old: disabled ('mes-old' cannot name a gateway" in out.getvalue()
    assert not sessions("mes-old", key, "mes-ingest-1").accepted


def test_role_commands_are_none_for_a_role_in_step_and_replace_a_changed_acl():
    wanted = gateway_acls("gw-a")
    as_broker_says = {"rolename": "mes-gateway-gw-a", "acls": [dict(acl) for acl in wanted]}

    assert role_commands("mes-gateway-gw-a", wanted, as_broker_says) == []
    assert [c["command"] for c in role_commands("mes-gateway-gw-a", wanted, None)] == ["createRole"]
    as_broker_says["acls"][0]["allow"] = False  # same type and topic, another setting
    changed = role_commands("mes-gateway-gw-a", wanted, as_broker_says)
    assert [(c["command"], c["topic"]) for c in changed] == [
        ("removeRoleACL", "mes/v1/gateways/gw-a/events"),
        ("addRoleACL", "mes/v1/gateways/gw-a/events"),
    ]
    assert changed[1]["allow"] is True
