"""MQTT ingestion: a real Mosquitto, the real `manage.py consume_mqtt` as a subprocess.

What a gateway sees (answers on its results topic or its Response Topic, the REST
answers with their status) and what the consumer guarantees across failures: every
published event written exactly once, every message answered. The grouping itself
(one service call for the messages that arrived together) is also checked in process,
on SQLite and PostgreSQL alike.
"""

import signal
import time
from io import StringIO

import pytest
from django.core.management import call_command

from execution.demo import seed_demo_line
from integration.models import DeviceDataRecord
from integration.transports.mqtt.topics import (
    results_topic,
)
from tests.conftest import make_event
from tests.integration.transports.mqtt_line import (
    GATEWAY,
    _every_event_written_once,
    _poison_conveyor_speed,
    _publish_many,
    _records,
    live,
)
from tests.postgres import database_cut


@live[0]
@live[1]
def test_a_published_event_is_written_once_answered_on_the_results_topic_and_acknowledged(
    line, gateway, consumers, gateway_client_of
):
    consumer = consumers()
    gw = gateway_client_of()
    gw.publish(make_event(eventId="evt-mqtt-1"))
    gw.publish(make_event(eventId="evt-mqtt-1"))  # a gateway's re-send
    (first, second) = gw.wait_for_answers(2)
    record = DeviceDataRecord.objects.get(event_id="evt-mqtt-1")
    assert first[0] == results_topic(GATEWAY)
    assert first[1]["status"] == 200 and first[1]["ok"] is True
    assert first[1]["data"]["id"] == str(record.pk)
    assert first[1]["data"]["isDuplicate"] is False
    assert second[1]["data"]["isDuplicate"] is True
    assert record.sent_by == gateway and record.duplicate_count == 1
    assert "acknowledged 2," in consumer.stats_line()
    assert consumer.stop() == 0  # SIGTERM: a clean stop
    assert "MQTT consumer mes-test-1 stopped: received 2," in consumer.output()


@live[0]
@live[1]
def test_an_answer_goes_to_the_response_topic_with_the_correlation_data(
    line, gateway, consumers, gateway_client_of
):
    consumers()
    gw = gateway_client_of()
    reply_to = f"mes/v1/gateways/{GATEWAY}/results/line-a"
    gw.publish(make_event(eventId="evt-rr"), response_topic=reply_to, correlation=b"req-17")
    ((topic, body, correlation),) = gw.wait_for_answers(1)
    assert (topic, correlation) == (reply_to, b"req-17")
    assert body["status"] == 200 and body["data"]["eventId"] == "evt-rr"
    # Another gateway's topic is never published into: the answer goes to its own results.
    other = "mes/v1/gateways/gw-other/results"
    gw.publish(make_event(eventId="evt-rr-2"), response_topic=other, correlation=b"req-18")
    (_first, (topic, body, correlation)) = gw.wait_for_answers(2)
    assert (topic, correlation, body["eventId"]) == (results_topic(GATEWAY), b"req-18", "evt-rr-2")


@live[0]
@live[1]
def test_batches_malformed_json_and_unknown_gateways_are_answered_and_acknowledged(
    line, gateway, consumers, gateway_client_of
):
    consumer = consumers()
    gw, stranger = gateway_client_of(), gateway_client_of("gw-unknown")
    gw.publish({"events": [make_event(eventId="evt-b1"), make_event(eventId="evt-b2")]})
    gw.publish(b"{not json")
    stranger.publish(make_event(eventId="evt-stranger"))
    batch, malformed = gw.wait_for_answers(2)
    ((_topic, refused, _correlation),) = stranger.wait_for_answers(1)
    assert batch[1]["data"]["summary"]["created"] == 2
    assert (malformed[1]["status"], malformed[1]["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert (refused["status"], refused["error"]["code"]) == (403, "GATEWAY_UNKNOWN")
    assert _records(["evt-b1", "evt-b2", "evt-stranger"]) == {
        "evt-b1": 1,
        "evt-b2": 1,
        "evt-stranger": 0,
    }
    assert "acknowledged 3," in consumer.stats_line()
    output = consumer.output()
    assert "Malformed MQTT message from gateway 'gw-reflow-1'" in output
    assert "gw-unknown" in output


@live[0]
@live[1]
def test_a_poison_message_is_answered_500_and_acknowledged_and_the_consumer_goes_on(
    line, gateway, consumers, gateway_client_of
):
    poison = _poison_conveyor_speed(line)
    consumer = consumers()
    gw = gateway_client_of()
    gw.publish(make_event(eventId="evt-before"), wait=False)
    gw.publish(poison, wait=False)
    gw.publish(make_event(eventId="evt-after"))
    answers = {body["eventId"]: body for _topic, body, _c in gw.wait_for_answers(3)}
    assert answers["evt-poison"]["status"] == 500
    assert answers["evt-before"]["status"] == answers["evt-after"]["status"] == 200
    assert "acknowledged 3," in consumer.stats_line()
    assert _records(["evt-before", "evt-poison", "evt-after"]) == {
        "evt-before": 1,
        "evt-poison": 0,
        "evt-after": 1,
    }
    output = consumer.output()
    assert "TypeError" in output and "'evt-poison'" in output  # logged with its traceback
    consumer.stop()  # a restarted consumer is not given the poison message again
    again = consumers()
    gw.publish(make_event(eventId="evt-later"))
    assert gw.wait_for_answers(4)[-1][1]["eventId"] == "evt-later"
    assert "received 1," in again.stats_line()


@pytest.mark.slow
@live[0]
@live[1]
def test_a_consumer_killed_mid_stream_and_started_again_loses_and_doubles_nothing(
    line, gateway, consumers, gateway_client_of
):
    consumer = consumers("mes-kill")
    gw = gateway_client_of()
    event_ids = _publish_many(gw, "evt-kill", 400)
    gw.wait_for_answers(50)
    consumer.stop(signal.SIGKILL)
    event_ids |= _publish_many(gw, "evt-while-down", 200)  # kept in the consumer's session
    assert len(gw.answered_event_ids()) < len(event_ids)
    again = consumers("mes-kill")  # the same id: the same session, its unacknowledged messages
    gw.wait_until_answered(event_ids)
    _every_event_written_once(event_ids)
    assert "session present: True" in again.output()


@pytest.mark.slow
@live[0]
@live[1]
def test_a_broker_restart_loses_and_doubles_nothing(
    line,
    gateway,
    consumers,
    gateway_client_of,
    broker,
):
    consumer = consumers()
    gw = gateway_client_of()
    before = _publish_many(gw, "evt-before", 200)
    broker.restart()
    consumer.wait_for_log("connected to", 2)
    after = _publish_many(gw, "evt-after", 200)
    gw.wait_until_answered(before | after)
    _every_event_written_once(before | after)


@pytest.mark.slow
@live[0]
@live[1]
def test_two_consumers_share_the_events_and_write_none_twice(
    line, gateway, consumers, gateway_client_of
):
    first, second = consumers("mes-share-1"), consumers("mes-share-2")
    gw = gateway_client_of()
    event_ids = _publish_many(gw, "evt-share", 600)
    gw.wait_until_answered(event_ids)
    _every_event_written_once(event_ids)
    shares = [_acknowledged(c.stats_line()) for c in (first, second)]
    assert sum(shares) >= len(event_ids) and min(shares) > 0, shares


def _acknowledged(line: str) -> int:
    return int(line.split("acknowledged ")[1].split(",")[0])


@pytest.mark.slow
@live[0]
@live[1]
def test_a_database_cut_for_seconds_loses_and_doubles_nothing(
    line, gateway, consumers, gateway_client_of
):
    consumer = consumers()
    gw = gateway_client_of()
    first = _publish_many(gw, "evt-early", 100)
    gw.wait_until_answered(first)
    with database_cut():
        during = _publish_many(gw, "evt-during", 100)
        consumer.wait_for_log("Database unavailable", 1)
        time.sleep(2)
    after = _publish_many(gw, "evt-after", 100)
    gw.wait_until_answered(first | during | after)
    _every_event_written_once(first | during | after)
    assert "database outages 1" in consumer.stats_line()


@live[0]
@live[1]
def test_the_simulator_publishes_its_traffic_over_mqtt_and_reads_each_answer(
    consumers,
    broker,
    monkeypatch,
):
    seed_demo_line()
    consumers()
    monkeypatch.setenv("MQTT_URL", broker.url)
    out = StringIO()
    call_command("simulate_gateway", mqtt=True, count=12, rate=0, seed=7, stdout=out)
    summary = out.getvalue()
    assert "created (200)                12" in summary
    assert "duplicate (200)              1" in summary
    assert "EVENT_ID_CONFLICT (409)      1" in summary
    assert "UNIT_NOT_FOUND (422)         1" in summary
    assert set(DeviceDataRecord.objects.values_list("sent_by__username", flat=True)) == {
        "gw-simulator"
    }
