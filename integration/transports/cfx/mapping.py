"""CFX messages as device events: what each supported message becomes (docs/cfx.md); a
WorkStarted or WorkCompleted of a station tracked by its machine becomes track-in and
track-out calls instead (work.py).

Pure translation, no rules: each unit a message reports on becomes one event in
the shape POST /api/integration/device-data takes, for the ingestion service to
judge and write like any other. The station is the one whose CFX handle is the
envelope's `Source`; the unit is `UnitIdentifier`; there is no step number, so the
service takes the unit's open pass at that station (docs/ingestion.md, rule 3).
The eventId is `cfx-<UniqueID>-<n>`, n the unit's place in the message, so a
re-delivery is a duplicate.

A reading becomes an item of the spec named like it (`Plant` maps names per
station, or for every station). Which of them are collected depends on the unit's
step, which only the database knows: `translate` gives each unit's event with its
candidate readings (`UnitEvent`), and `collect` keeps those named like a spec of
the step (integration/transports/cfx/ingest.py finds them); the others are listed in the
event's `meta.cfx.notCollected`. Structures
follow the CFX SDK (github.com/IPCConnectedFactoryExchange/CFX, folder CFX/):
Production/Processing/UnitsProcessed.cs, Production/TestAndInspection/
UnitsInspected.cs, Production/ReadingsRecorded.cs, Structures/Reading.cs,
Structures/NumericValue.cs, Structures/Generic/GenericProcessData.cs, …
"""

import math
from dataclasses import dataclass, field

from integration.transports.cfx.envelope import Envelope, cfx_time, type_name
from integration.transports.cfx.work import WORK_MESSAGES, Work

UNITS_PROCESSED = "CFX.Production.Processing.UnitsProcessed"
UNITS_INSPECTED = "CFX.Production.TestAndInspection.UnitsInspected"
READINGS_RECORDED = "CFX.Production.ReadingsRecorded"

GENERIC_PROCESS_DATA = "CFX.Structures.Generic.GenericProcessData"
REFLOW_PROCESS_DATA = "CFX.Structures.SolderReflow.ReflowProcessData"
NUMERIC_MEASUREMENT = "CFX.Structures.NumericMeasurement"

# The names UnitsInspected's per-unit facts are collected under (map them like readings).
INSPECTION_RESULT = "OverallResult"
INSPECTION_DEFECTS = "DefectsFound"
# The name of UnitsProcessed's per-unit result.
UNIT_RESULT = "UnitResult"


@dataclass
class Plant:
    """What the translation needs to know of the MES: the station of each CFX handle and
    the reading names mapped to spec names."""

    station_codes: dict  # CFX handle → station code
    # (station code or None for every station, reading name) → spec name ("" = not collected)
    reading_names: dict = field(default_factory=dict)
    # The codes of the stations whose machine tracks units in and out (work.py).
    tracked_by_machine: frozenset = frozenset()

    def spec_name(self, station_code: str, reading: str) -> str | None:
        """The spec name a reading would be collected as at a station, or None when a
        mapping says it is not collected."""
        name = self.reading_names.get((station_code, reading))
        if name is None:
            name = self.reading_names.get((None, reading), reading)
        return name or None


@dataclass
class Reading:
    """One value a machine reported for a unit, as an item's fields (without specName)."""

    name: str
    fields: dict


@dataclass
class UnitEvent:
    """One unit's event before its readings are collected: `readings` are its readings in
    the message's order, as (reading name, item with its specName), the item None where
    a mapping says the reading is not collected."""

    event: dict
    readings: list = field(default_factory=list)

    @property
    def unit_sn(self) -> str:
        return self.event["unitSn"]

    @property
    def station_code(self) -> str:
        return self.event["stationCode"]


@dataclass
class Translation:
    """What one envelope becomes: an event per unit, or why it has none."""

    units: list = field(default_factory=list)  # UnitEvent
    # A WorkStarted or WorkCompleted at a station tracked by its machine (work.py).
    work: Work | None = None
    # None when the message was translated; else what it is counted as.
    skipped: str | None = None


def collect(unit: UnitEvent, spec_names: set) -> dict | None:
    """The unit's event with the readings named like one of `spec_names` (the specs of
    the unit's step) as its items, the others listed in `meta.cfx.notCollected`; None
    when nothing is collected (no event is sent)."""
    event = {**unit.event, "data": [], "meta": {"cfx": dict(unit.event["meta"]["cfx"])}}
    not_collected = []
    for reading_name, item in unit.readings:
        if item is not None and item["specName"] in spec_names:
            event["data"].append(item)
        else:
            not_collected.append(reading_name)
    if not_collected:
        event["meta"]["cfx"]["notCollected"] = not_collected
    return event if event["data"] else None


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _sender_limits(minimum, maximum, expected, unit) -> dict | None:
    limits = {
        key: number
        for key, number in (
            ("min", _number(minimum)),
            ("max", _number(maximum)),
            ("expected", _number(expected)),
        )
        if number is not None
    }
    if not limits:
        return None
    if isinstance(unit, str) and unit.strip():
        limits["unit"] = unit.strip()[:50]
    return limits


def _numeric_value(name: str, numeric) -> Reading | None:
    """A CFX NumericValue (Structures/NumericValue.cs): its Value, and the sender's limits."""
    if not isinstance(numeric, dict):
        return None
    value = _number(numeric.get("Value"))
    if value is None or not name:
        return None
    fields = {"valueNumber": value}
    limits = _sender_limits(
        numeric.get("MinimumAcceptableValue"),
        numeric.get("MaximumAcceptableValue"),
        numeric.get("ExpectedValue"),
        numeric.get("ValueUnits"),
    )
    if limits:
        fields["senderLimits"] = limits
    return Reading(name, fields)


def _plain_number(name: str, value) -> Reading | None:
    number = _number(value)
    return Reading(name, {"valueNumber": number}) if number is not None and name else None


def _generic_values(values, prefix: str, suffix: str = "") -> list[Reading]:
    readings = []
    for item in values if isinstance(values, list) else []:
        if isinstance(item, dict):
            name = _text(item.get("Name"))
            reading = _numeric_value(f"{prefix}{name}{suffix}", item.get("Value")) if name else None
            if reading is not None:
                readings.append(reading)
    return readings


def _generic_process_data(data: dict) -> list[Reading]:
    """Structures/Generic/GenericProcessData.cs: Readings and Setpoints (GenericValue: a Name
    and a NumericValue), also per stage (StageData, GenericStageData.cs) as
    "<StageName>.<Name>". Setpoints are named "<Name>.Setpoint"."""
    readings = _generic_values(data.get("Readings"), "")
    readings += _generic_values(data.get("Setpoints"), "", ".Setpoint")
    for stage_data in data.get("StageData") or []:
        if not isinstance(stage_data, dict):
            continue
        stage = stage_data.get("Stage") if isinstance(stage_data.get("Stage"), dict) else {}
        stage_name = _text(stage.get("StageName")) or f"Stage{stage.get('StageSequence', '')}"
        readings += _generic_values(stage_data.get("Readings"), f"{stage_name}.")
        readings += _generic_values(stage_data.get("Setpoints"), f"{stage_name}.", ".Setpoint")
    return readings


def _reflow_process_data(data: dict) -> list[Reading]:
    """Structures/SolderReflow/ReflowProcessData.cs (the reflow example of UnitsProcessed.cs):
    ConveyorSpeed, and each zone's readings as "<StageName>.<SubZone>.<ReadingType>"
    (setpoints with ".Setpoint")."""
    readings = [
        reading
        for reading in (
            _plain_number("ConveyorSpeed", data.get("ConveyorSpeed")),
            _plain_number("ConveyorSpeed.Setpoint", data.get("ConveyorSpeedSetpoint")),
        )
        if reading is not None
    ]
    for zone_data in data.get("ZoneData") or []:
        if not isinstance(zone_data, dict):
            continue
        zone = zone_data.get("Zone") if isinstance(zone_data.get("Zone"), dict) else {}
        stage = _text(zone.get("StageName")) or f"Zone{zone.get('StageSequence', '')}"
        for kind, type_key, value_key, suffix in (
            ("Readings", "ReadingType", "ReadingValue", ""),
            ("Setpoints", "SetpointType", "Setpoint", ".Setpoint"),
        ):
            for item in zone_data.get(kind) or []:
                if isinstance(item, dict):
                    name = f"{stage}.{_text(item.get('SubZone'))}.{_text(item.get(type_key))}"
                    reading = _plain_number(f"{name}{suffix}", item.get(value_key))
                    if reading is not None:
                        readings.append(reading)
    return readings


PROCESS_DATA = {
    GENERIC_PROCESS_DATA: _generic_process_data,
    REFLOW_PROCESS_DATA: _reflow_process_data,
}


def process_readings(data) -> list[Reading]:
    """The readings of a ProcessData structure of a supported `$type`; none for others."""
    read = PROCESS_DATA.get(type_name(data))
    return read(data) if read else []


def _event(envelope: Envelope, station_code: str, position: int, unit_sn: str, extra: dict):
    return {
        "eventId": f"cfx-{envelope.unique_id}-{position}",
        "eventTime": envelope.timestamp.isoformat(),
        "source": "AUTO",
        "unitSn": unit_sn[:100],
        "stationCode": station_code,
        "equipmentId": envelope.source[:100],
        "data": [],
        "meta": {
            "cfx": {
                "messageName": envelope.message_name,
                "uniqueId": envelope.unique_id,
                "source": envelope.source,
                "position": position,
                **extra,
            }
        },
    }


def _unit_event(event: dict, readings: list[Reading], plant: Plant, station_code: str):
    unit = UnitEvent(event)
    for reading in readings:
        spec_name = plant.spec_name(station_code, reading.name)
        item = None if spec_name is None else {"specName": spec_name, **reading.fields}
        unit.readings.append((reading.name, item))
    return unit


def _unit_events(envelope, station_code, plant, units_key, facts, readings_of) -> Translation:
    """One event per unit of the body's list `units_key` that names its UnitIdentifier, with
    the message's `facts` (meta name → body key) and the readings `readings_of(unit)`."""
    body = envelope.body
    translation = Translation()
    units = body.get(units_key)
    for position, unit in enumerate(units if isinstance(units, list) else [], start=1):
        if not isinstance(unit, dict) or not _text(unit.get("UnitIdentifier")):
            continue
        extra = {
            "transactionId": body.get("TransactionId"),
            "unitPosition": unit.get("UnitPositionNumber"),
            **{name: body.get(key) for name, key in facts.items()},
        }
        event = _event(envelope, station_code, position, _text(unit["UnitIdentifier"]), extra)
        translation.units.append(_unit_event(event, readings_of(unit), plant, station_code))
    return translation


def _units_processed(envelope: Envelope, station_code: str, plant: Plant) -> Translation:
    """Production/Processing/UnitsProcessed.cs: one event per unit of UnitProcessData, with
    the readings of CommonProcessData (all units) and of the unit's own UnitProcessData,
    and the unit's UnitResult."""
    common = process_readings(envelope.body.get("CommonProcessData"))

    def readings_of(unit: dict) -> list[Reading]:
        readings = list(common)
        if isinstance(unit.get("UnitResult"), str):
            readings.append(Reading(UNIT_RESULT, {"valueText": unit["UnitResult"]}))
        return readings + process_readings(unit.get("UnitProcessData"))

    facts = {"overallResult": "OverallResult"}
    return _unit_events(envelope, station_code, plant, "UnitProcessData", facts, readings_of)


def _defect(inspection: dict, defect: dict) -> dict:
    component = defect.get("ComponentOfInterest")
    component = component if isinstance(component, dict) else {}
    return {
        "defectCode": defect.get("DefectCode"),
        "category": defect.get("DefectCategory"),
        "description": defect.get("Description"),
        "referenceDesignator": component.get("ReferenceDesignator"),
        "partNumber": component.get("PartNumber"),
        "inspection": inspection.get("InspectionName"),
    }


def _inspected_readings(unit: dict) -> list[Reading]:
    readings = []
    if isinstance(unit.get("OverallResult"), str):
        readings.append(Reading(INSPECTION_RESULT, {"valueText": unit["OverallResult"]}))
    defects = []
    inspections = unit.get("Inspections")
    for inspection in inspections if isinstance(inspections, list) else []:
        if not isinstance(inspection, dict):
            continue
        for defect in inspection.get("DefectsFound") or []:
            if isinstance(defect, dict):
                defects.append(_defect(inspection, defect))
        for measurement in inspection.get("Measurements") or []:
            if type_name(measurement) == NUMERIC_MEASUREMENT:
                reading = _numeric_value(
                    _text(measurement.get("MeasurementName")), measurement.get("MeasuredValue")
                )
                if reading is not None:
                    readings.append(reading)
    readings.append(Reading(INSPECTION_DEFECTS, {"valueJson": defects}))
    return readings


def _units_inspected(envelope: Envelope, station_code: str, plant: Plant) -> Translation:
    """Production/TestAndInspection/UnitsInspected.cs: one event per inspected unit with its
    OverallResult (text), its DefectsFound (a JSON list: code, category, description,
    reference designator, part number, inspection) and the numeric measurements
    (Structures/NumericMeasurement.cs) of its inspections, by MeasurementName."""
    facts = {"inspectionMethod": "InspectionMethod"}
    return _unit_events(envelope, station_code, plant, "InspectedUnits", facts, _inspected_readings)


def _recorded_reading(reading: dict) -> Reading | None:
    """Structures/Reading.cs: Value is text; it is also sent as a number or a boolean where
    it reads as one, and the spec's data type takes its field."""
    name = _text(reading.get("ReadingIdentifier"))
    value = reading.get("Value")
    if not name or not isinstance(value, str):
        return None
    fields = {"valueText": value}
    if (number := _number(value)) is not None:
        fields["valueNumber"] = number
    if value.strip().lower() in ("true", "false"):
        fields["valueBoolean"] = value.strip().lower() == "true"
    if (recorded := cfx_time(reading.get("TimeRecorded"))) is not None:
        fields["collectedAt"] = recorded.isoformat()
    limits = _sender_limits(
        reading.get("MinimumAcceptableValue"),
        # The SDK's own spelling (Reading.cs), and the corrected one.
        reading.get("MaxumumAcceptableValue", reading.get("MaximumAcceptableValue")),
        reading.get("ExpectedValue"),
        reading.get("ValueUnits"),
    )
    if limits:
        fields["senderLimits"] = limits
    return Reading(name, fields)


def _readings_recorded(envelope: Envelope, station_code: str, plant: Plant) -> Translation:
    """Production/ReadingsRecorded.cs: the readings that name a unit (UnitIdentifier), one
    event per unit in the order of its first reading; readings of the process alone
    (no unit) are not collected."""
    by_unit: dict[str, list] = {}
    readings = envelope.body.get("Readings")
    for reading in readings if isinstance(readings, list) else []:
        if isinstance(reading, dict) and _text(reading.get("UnitIdentifier")):
            by_unit.setdefault(_text(reading["UnitIdentifier"]), []).append(reading)
    translation = Translation()
    for position, (unit_sn, unit_readings) in enumerate(by_unit.items(), start=1):
        extra = {"transactionId": envelope.body.get("TransactionId")}
        event = _event(envelope, station_code, position, unit_sn, extra)
        found = [r for r in map(_recorded_reading, unit_readings) if r is not None]
        translation.units.append(_unit_event(event, found, plant, station_code))
    return translation


MESSAGES = {
    UNITS_PROCESSED: _units_processed,
    UNITS_INSPECTED: _units_inspected,
    READINGS_RECORDED: _readings_recorded,
}

IGNORED = "ignored message type"
UNKNOWN_SOURCE = "unknown source"


def translate(envelope: Envelope, plant: Plant) -> Translation:
    """The unit events of one envelope (their readings still to be collected), or the
    track-in and track-out calls of a WorkStarted or WorkCompleted of a station tracked
    by its machine; a message of another type (UnitsArrived and UnitsDeparted included,
    docs/cfx.md), a WorkStarted or WorkCompleted of another station, or a message from a
    handle no station has, has none and says which (`Translation.skipped`)."""
    translate_work = WORK_MESSAGES.get(envelope.message_name)
    if translate_work is not None:
        station_code = plant.station_codes.get(envelope.source)
        if station_code is None or station_code not in plant.tracked_by_machine:
            return Translation(skipped=IGNORED)  # as any message the MES does not use
        return Translation(work=translate_work(envelope, station_code))
    translate_message = MESSAGES.get(envelope.message_name)
    if translate_message is None:
        return Translation(skipped=IGNORED)
    station_code = plant.station_codes.get(envelope.source)
    if station_code is None:
        return Translation(skipped=UNKNOWN_SOURCE)
    return translate_message(envelope, station_code, plant)
