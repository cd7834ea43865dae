"""A machine's WorkStarted and WorkCompleted as track-in and track-out calls (docs/cfx.md,
"Tracking by the machine"), for a station tracked by its machine. Pure translation:
the calls go through integration/tracking (transports/cfx/track_calls.py).

Structures of the CFX SDK (github.com/IPCConnectedFactoryExchange/CFX, folder CFX/):
Production/WorkStarted.cs (TransactionID, Lane, PrimaryIdentifier, HermesIdentifier,
Units), Production/WorkCompleted.cs (TransactionID, Result, and Units only when the
identifiers were not known at the start), Structures/UnitPosition.cs (UnitIdentifier,
PositionNumber, PositionName, X, Y, Rotation, FlipX, FlipY, Status),
Structures/WorkResult.cs and Structures/UnitStatus.cs.

Each unit's call has the eventId `cfx-<UniqueID>-<n>`, n the unit's place in the
message's Units from 1 (for a WorkCompleted that names none, its place in the
WorkStarted), so a re-delivery is a duplicate. The track-in keeps the transaction and
the unit's place (`meta.cfx`): that is how the WorkCompleted finds them.
"""

from dataclasses import dataclass, field

from integration.transports.cfx.envelope import Envelope

WORK_STARTED = "CFX.Production.WorkStarted"
WORK_COMPLETED = "CFX.Production.WorkCompleted"
TRACK_IN, TRACK_OUT = "TRACK_IN", "TRACK_OUT"
PASS, FAIL = "PASS", "FAIL"

# WorkResult → the pass's result and, for a FAIL, its defect code. Work aborted or skipped
# (a bad mark) did not do the step: the unit fails it, for a person to decide (docs/cfx.md).
WORK_RESULTS = {
    "Completed": (PASS, None),
    "Failed": (FAIL, "CFX_FAILED"),
    "Aborted": (FAIL, "CFX_ABORTED"),
    "Skipped": (FAIL, "CFX_SKIPPED"),
}
# Newtonsoft writes enums as names; a number is the enum's value, in WorkResult.cs's order.
WORK_RESULT_NUMBERS = ["Completed", "Failed", "Aborted", "Skipped"]
# A result the SDK does not define (or none): the unit fails, it is not passed on a guess.
UNKNOWN_RESULT_DEFECT = "CFX_RESULT_UNKNOWN"
# A unit's own Status in a WorkCompleted's Units that fails it whatever the transaction's
# result (UnitStatus.cs); Pass and Skip never pass a unit the transaction failed.
FAILING_UNIT_STATUS = {"Fail": "CFX_UNIT_FAILED", "Scrap": "CFX_UNIT_SCRAP"}


@dataclass
class MachineCall:
    """One unit's track-in or track-out, as integration/tracking/machine.py takes it."""

    kind: str
    payload: dict

    @property
    def event_id(self) -> str:
        return self.payload["eventId"]


@dataclass
class Completion:
    """A WorkCompleted that names no units: it closes the passes its transaction's
    WorkStarted opened at the station, once they are known (`calls_for`)."""

    envelope: Envelope
    transaction_id: str | None
    result: str
    defect_code: str | None
    meta: dict

    def calls_for(self, started) -> list[MachineCall]:
        """The track-outs of `started` (each with `sn` and `position`, its place in the
        WorkStarted)."""
        envelope, result, defect_code = self.envelope, self.result, self.defect_code
        return [
            _track_out(envelope, unit.sn, unit.position, result, defect_code, self.meta)
            for unit in started
        ]


@dataclass
class Work:
    """What one WorkStarted or WorkCompleted becomes at its station: calls, or a completion
    whose units are still to be found."""

    station_code: str
    calls: list[MachineCall] = field(default_factory=list)
    completion: Completion | None = None


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _transaction_id(body: dict) -> str | None:
    # A GUID: the same whatever its letters' case.
    value = _text(body.get("TransactionID") or body.get("TransactionId"))
    return value.lower() or None


def _named_units(body: dict):
    """(n, UnitPosition) of the body's Units that name a UnitIdentifier; n counts every
    entry, so a unit's place does not shift when another entry is unreadable."""
    units = body.get("Units")
    for n, unit in enumerate(units if isinstance(units, list) else [], start=1):
        if isinstance(unit, dict) and _text(unit.get("UnitIdentifier")):
            yield n, unit


def _cfx_meta(envelope: Envelope, transaction_id: str | None, **extra) -> dict:
    return {
        "messageName": envelope.message_name,
        "uniqueId": envelope.unique_id,
        "source": envelope.source,
        "transactionId": transaction_id,
        **extra,
    }


def _position_meta(n: int, unit: dict) -> dict:
    return {
        "position": n,
        "positionNumber": unit.get("PositionNumber"),
        "positionName": unit.get("PositionName"),
    }


def work_started(envelope: Envelope, station_code: str) -> Work:
    """A track-in of every unit the WorkStarted names, in the order it names them."""
    body = envelope.body
    transaction_id = _transaction_id(body)
    calls = []
    for n, unit in _named_units(body):
        meta = _cfx_meta(envelope, transaction_id, lane=body.get("Lane"), **_position_meta(n, unit))
        payload = {
            "sn": _text(unit["UnitIdentifier"]),
            "eventId": f"cfx-{envelope.unique_id}-{n}",
            "meta": {"cfx": meta},
        }
        calls.append(MachineCall(TRACK_IN, payload))
    return Work(station_code, calls)


def work_result(value) -> tuple[str, str | None, str]:
    """(PASS or FAIL, the defect code of a FAIL, the WorkResult's name) of a Result."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = WORK_RESULT_NUMBERS[value] if 0 <= value < len(WORK_RESULT_NUMBERS) else None
    name = _text(value)
    result, defect_code = WORK_RESULTS.get(name, (FAIL, UNKNOWN_RESULT_DEFECT))
    return result, defect_code, name


def _track_out(envelope, sn, n, result, defect_code, meta, unit_status=None) -> MachineCall:
    failing = FAILING_UNIT_STATUS.get(_text(unit_status))
    if failing and result == PASS:
        result, defect_code = FAIL, failing
    payload = {"sn": sn, "eventId": f"cfx-{envelope.unique_id}-{n}", "result": result}
    if defect_code:
        payload["defectCode"] = defect_code
    payload["meta"] = {"cfx": {**meta, "position": n}}
    return MachineCall(TRACK_OUT, payload)


def work_completed(envelope: Envelope, station_code: str) -> Work:
    """The track-outs of the units the WorkCompleted names (each its own Status may fail
    it), or, when it names none, a Completion for the units its WorkStarted started."""
    body = envelope.body
    transaction_id = _transaction_id(body)
    result, defect_code, name = work_result(body.get("Result"))
    meta = _cfx_meta(envelope, transaction_id, workResult=name or None)
    named = list(_named_units(body))
    if not named:
        completion = Completion(envelope, transaction_id, result, defect_code, meta)
        return Work(station_code, completion=completion)
    calls = []
    for n, unit in named:
        unit_meta = {**meta, **_position_meta(n, unit), "unitStatus": unit.get("Status")}
        sn = _text(unit["UnitIdentifier"])
        calls.append(
            _track_out(envelope, sn, n, result, defect_code, unit_meta, unit.get("Status"))
        )
    return Work(station_code, calls)


WORK_MESSAGES = {WORK_STARTED: work_started, WORK_COMPLETED: work_completed}
