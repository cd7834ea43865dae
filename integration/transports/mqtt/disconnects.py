"""Why the MQTT consumer's connection ended, in the words of its log and its metrics.

MQTT 5 lets the broker say why it ends a connection (a DISCONNECT with a reason code);
a connection that just closes says nothing. The one the MES most needs to name is
0x8E "Session taken over": another connection came with the consumer's client id and
the broker handed it the consumer's session (docs/mqtt.md, "Observability").
Mosquitto says so from 2.0.15 on; older ones (Debian 12's 2.0.11) close the
connection without a word, and their own log says "already connected".
"""

from paho.mqtt.reasoncodes import ReasonCode

# MQTT 5 reason codes of a DISCONNECT from the broker (OASIS MQTT 5.0, 3.14.2.1).
SESSION_TAKEN_OVER = 0x8E
ADMINISTRATIVE_ACTION = 0x98
SERVER_SHUTTING_DOWN = 0x8B

_BY_CODE = {
    SESSION_TAKEN_OVER: "session_taken_over",
    ADMINISTRATIVE_ACTION: "administrative_action",
    SERVER_SHUTTING_DOWN: "server_shutting_down",
}


def disconnect_reason(reason_code: ReasonCode, from_broker: bool) -> str | None:
    """The reason label (mes.metrics.MQTT_DISCONNECT_REASONS) of a connection that ended,
    or None when the consumer ended it itself."""
    if from_broker:
        return _BY_CODE.get(reason_code.value, "other")
    if reason_code.is_failure:
        return "connection_lost"
    return None  # the consumer's own disconnect: stopping, or riding out a database outage


def disconnect_warning(reason: str, reason_code: ReasonCode, consumer_id: str, broker: str):
    """The log line of a connection that ended, saying what it means and what follows."""
    if reason == "session_taken_over":
        return (
            f"MQTT consumer {consumer_id} lost its session to another connection with the "
            f"same client id (the broker says: {reason_code}): another consumer runs with "
            f"--consumer-id {consumer_id}, or someone uses the consumers' account with that "
            "id; reconnecting, which takes the session back"
        )
    if reason == "connection_lost":
        return (
            f"MQTT consumer {consumer_id} lost its connection to {broker} without a reason "
            "from the broker: the network, a broker restart, or another connection taking "
            f"client id {consumer_id} (Mosquitto before 2.0.15 does not say so; its log then "
            f"says 'Client {consumer_id} already connected, closing old connection'); "
            "reconnecting"
        )
    if reason == "administrative_action":
        return (
            f"MQTT consumer {consumer_id} was disconnected by the broker ({reason_code}): "
            "its account was changed or disabled there (sync_broker_accounts, mosquitto_ctrl); "
            "reconnecting"
        )
    return (
        f"MQTT consumer {consumer_id} was disconnected by the broker ({reason_code}); reconnecting"
    )
