"""When `manage.py consume_cfx` stops on its own, and with which exit status (docs/cfx.md,
"When the consumer stops on its own"): a gateway revoked while it runs, idle or
mid-stream, ends it within seconds with 78 and the command that fixes it; re-keying
leaves it running; a broker that answers in AMQP 0-9-1 (a second RabbitMQ node without
the AMQP 1.0 plugin) is named with the plugin to enable, then ends it with 78, while a
peer that closes at once is only hinted at and tried again. Real RabbitMQ, real
sockets, the real command as a subprocess."""

import signal
import socket
import threading
import time

import pytest
from django.core.management import call_command

from integration.models import DeviceDataRecord
from integration.transports.cfx.consumer import (
    EXIT_CONFIGURATION_REFUSED,
    GATEWAY_CHECK_S,
    PROTOCOL_REFUSALS_BEFORE_EXIT,
)
from tests.cfx_broker import (
    CfxConsumerProcess,
    CfxQueue,
    needs_rabbitmq,
    rabbitmq_without_amqp_1_0,
    wait_until,
)
from tests.conftest import build_cfx_line
from tests.factories import gateway_with_key
from tests.integration.transports.test_cfx_failures import every_event_written_once, publish_panels
from tests.postgres import needs_postgresql

pytestmark = [
    pytest.mark.slow,
    needs_rabbitmq,
    needs_postgresql("the consumer, a second process, writes to the test database"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def setting(db, tmp_path):
    build_cfx_line(units=40)
    gateway_with_key("gw-cfx")
    queue = CfxQueue()
    started = []

    def start(**env) -> CfxConsumerProcess:
        consumer = CfxConsumerProcess(queue, tmp_path, **env)
        started.append(consumer)
        return consumer

    yield queue, start
    for consumer in started:
        consumer.stop(signal.SIGKILL)
    queue.close()


def exit_status_within(consumer: CfxConsumerProcess, seconds: float) -> tuple[int, float]:
    """The consumer's exit status and how long it took to exit, failing past `seconds`."""
    began = time.monotonic()
    try:
        status = consumer.process.wait(timeout=seconds)
    except Exception:
        raise AssertionError(f"still running after {seconds} s:\n{consumer.output()}") from None
    return status, time.monotonic() - began


def test_an_idle_consumer_whose_gateway_is_revoked_exits_78_naming_the_command_to_run(
    setting,
):
    queue, start = setting
    consumer = start()
    written = publish_panels(queue, 2)
    every_event_written_once(written)

    call_command("revoke_gateway", "gw-cfx")
    status, took = exit_status_within(consumer, GATEWAY_CHECK_S + 10)

    assert status == EXIT_CONFIGURATION_REFUSED
    assert took < GATEWAY_CHECK_S + 10
    log = consumer.output()
    assert "GATEWAY_REVOKED" in log and "`manage.py rekey_gateway gw-cfx`" in log
    assert "which systemd does not restart" in log
    # What the log says to do is what makes it work again.
    waiting = publish_panels(queue, 3)
    call_command("rekey_gateway", "gw-cfx")
    start()
    every_event_written_once(written | waiting)


def test_a_gateway_revoked_mid_stream_stops_the_consumer_and_loses_nothing(setting):
    queue, start = setting
    consumer = start()
    event_ids = publish_panels(queue, 300)
    wait_until(lambda: DeviceDataRecord.objects.exists(), what="the first records")

    call_command("revoke_gateway", "gw-cfx")
    status, _took = exit_status_within(consumer, GATEWAY_CHECK_S + 10)

    assert status == EXIT_CONFIGURATION_REFUSED
    assert DeviceDataRecord.objects.count() < len(event_ids)  # it stopped mid-stream
    call_command("rekey_gateway", "gw-cfx")
    start()
    every_event_written_once(event_ids)  # what it held was given back to the broker


def test_rekeying_its_gateway_leaves_the_consumer_running(setting):
    # The consumer uses the gateway's account, never its key: a new key changes nothing.
    queue, start = setting
    consumer = start()
    call_command("rekey_gateway", "gw-cfx")
    time.sleep(GATEWAY_CHECK_S + 1)  # an idle look at the account included
    every_event_written_once(publish_panels(queue, 3))
    assert consumer.process.poll() is None
    assert consumer.stop() == 0


def test_a_broker_without_amqp_1_0_is_named_with_its_plugin_then_the_consumer_exits_78(
    setting, tmp_path
):
    _queue, start = setting
    (tmp_path / "rabbitmq").mkdir()
    with rabbitmq_without_amqp_1_0(tmp_path / "rabbitmq") as port:
        consumer = start(wait_to_start=False, CFX_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{port}")
        # 1 + 2 + 4 s of pauses between the attempts
        status, _took = exit_status_within(consumer, 30)

    assert status == EXIT_CONFIGURATION_REFUSED
    log = consumer.output()
    hint = "rabbitmq-plugins enable rabbitmq_amqp1_0"
    assert log.count(hint) >= PROTOCOL_REFUSALS_BEFORE_EXIT  # each attempt says why
    assert f"the broker at 127.0.0.1:{port} does not speak AMQP 1.0" in log
    assert f"{PROTOCOL_REFUSALS_BEFORE_EXIT} times in a row" in log


def test_a_peer_that_closes_before_any_protocol_header_is_hinted_and_tried_again(setting):
    # A real socket that accepts and closes, as a TLS port does to `amqp://`: not a verdict
    # on the broker (one may do it while restarting), so no limit, and a warning.
    _queue, start = setting
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        closing = threading.Thread(target=close_each_connection, args=(server,), daemon=True)
        closing.start()
        consumer = start(wait_to_start=False, CFX_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{port}")
        hint = "closed before answering in AMQP 1.0: if this lasts, is CFX_AMQP_URL"
        consumer.wait_for_log(hint, PROTOCOL_REFUSALS_BEFORE_EXIT + 1, timeout=30)
        assert consumer.process.poll() is None  # still trying, now in a 16 s pause
        stopping = time.monotonic()
        assert consumer.stop() == 0
        assert time.monotonic() - stopping < 5  # SIGTERM does not wait for the pause
    assert "[warning  ] The CFX consumer lost the broker" in consumer.output()


def close_each_connection(server: socket.socket) -> None:
    while True:
        try:
            connection, _address = server.accept()
        except OSError:  # the test closed the server
            return
        connection.close()
