"""Stations, and operations with their data-collection specs, upserted by code
(docs/master-data.md). Limits and alarms are checked by execution.judging.validate_limits,
as the admin checks them."""

from django.core.exceptions import ValidationError
from django.db import transaction

from execution.judging import validate_limits
from execution.master_data.errors import (
    CREATED,
    UNCHANGED,
    UPDATED,
    MasterDataRefused,
    Outcome,
    Reader,
    validation_messages,
)
from execution.models import DataSpec, DataValue, Operation, Station

STATION, OPERATION = "STATION", "OPERATION"
SPEC_FIELDS = {
    # field: (API name, default)
    "item_type": ("itemType", DataSpec.ItemType.OBSERVATION),
    "data_type": ("dataType", None),
    "method": ("method", DataSpec.Method.AUTO),
    "trigger_type": ("triggerType", DataSpec.TriggerType.EACH_UNIT),
}


def read_station(data, code: str | None = None, item: str = "") -> dict:
    reader = Reader(data, item)
    if code is not None:
        reader.url_key("code", code)
    return {
        "code": code if code is not None else reader.text("code", max_length=100),
        "name": reader.text("name", max_length=200),
        "station_type": reader.choice("stationType", Station.StationType.values),
        "line_code": reader.text("lineCode", max_length=100, required=False),
        "tracked_by_machine": reader.boolean("trackedByMachine", False),
    }


def upsert_station(data, *, code: str | None = None, item: str = "") -> Outcome:
    """Create or update one station by its code, in one transaction. Its CFX handle is
    the back office's (docs/cfx.md) and left as it is."""
    fields = read_station(data, code, item)
    with transaction.atomic():
        return _save_station(fields)


def _save_station(fields: dict) -> Outcome:
    station = Station.objects.select_for_update().filter(code=fields["code"]).first()
    if station is None:
        Station.objects.create(**fields)
        return Outcome(STATION, fields["code"], CREATED)
    changed = _assign(station, fields)
    if changed:
        station.save(update_fields=changed)
    return Outcome(STATION, fields["code"], UPDATED if changed else UNCHANGED)


def read_operation(data, code: str | None = None, item: str = "") -> dict:
    reader = Reader(data, item)
    if code is not None:
        reader.url_key("code", code)
    specs, names = [], set()
    for index, spec_data in enumerate(reader.items("specs")):
        spec = _read_spec(spec_data, item, f"specs[{index}]")
        if spec["name"] in names:
            raise reader.refused(f"specs[{index}].name", f"{spec['name']!r} is named twice.")
        names.add(spec["name"])
        specs.append(spec)
    return {
        "code": code if code is not None else reader.text("code", max_length=100),
        # Left out: the operation's name as it is (needed for a new one).
        "name": reader.text("name", max_length=200, required=False, default=None) or None,
        "specs": specs,
        "item": item,
    }


def _read_spec(data, item: str, where: str) -> dict:
    reader = Reader(data, item, prefix=f"{where}.")
    spec = {"name": reader.text("name", max_length=200)}
    for field_name, (api_name, default) in SPEC_FIELDS.items():
        choices = getattr(DataSpec, _choices_class(field_name)).values
        spec[field_name] = reader.choice(
            api_name, choices, required=default is None, default=default or ""
        )
    for field_name, api_name in (
        ("trigger_rule", "triggerRule"),
        ("spec", "spec"),
        ("alarm", "alarm"),
    ):
        spec[field_name] = data.get(api_name)
    spec["is_required"] = reader.boolean("isRequired", False)
    spec["is_active"] = reader.boolean("isActive", True)
    try:
        validate_limits(spec["data_type"], spec["spec"], spec["alarm"])
    except ValidationError as error:
        name, message = next(iter(validation_messages(error).items()))
        raise reader.refused(name, message) from None
    return spec


def _choices_class(field_name: str) -> str:
    return "".join(part.capitalize() for part in field_name.split("_"))


def upsert_operation(data, *, code: str | None = None, item: str = "") -> Outcome:
    """Create or update one operation and its specs by code and name, in one transaction.
    Specs the call does not name are left as they are (their values keep them): send
    `isActive: false` to retire one."""
    fields = read_operation(data, code, item)
    with transaction.atomic():
        return _save_operation(fields)


def _save_operation(fields: dict) -> Outcome:
    specs = fields.pop("specs")
    item = fields.pop("item")
    operation = Operation.objects.select_for_update().filter(code=fields["code"]).first()
    if fields["name"] is None:
        if operation is None:
            raise MasterDataRefused(
                "VALIDATION_ERROR",
                f"no operation {fields['code']} yet: a new operation needs its name.",
                item=item,
                field_name="name",
            )
        del fields["name"]
    action = UNCHANGED
    if operation is None:
        operation = Operation.objects.create(**fields)
        action = CREATED
    elif changed := _assign(operation, fields):
        operation.save(update_fields=changed)
        action = UPDATED
    existing = {spec.name: spec for spec in operation.data_specs.select_for_update()}
    for index, spec_fields in enumerate(specs):
        spec = existing.get(spec_fields["name"])
        if spec is not None and spec.data_type != spec_fields["data_type"]:
            _refuse_retyping(spec, spec_fields["data_type"], item, index)
        if spec is None:
            DataSpec.objects.create(operation=operation, **spec_fields)
        elif changed := _assign(spec, spec_fields):
            spec.save(update_fields=changed)
        else:
            continue
        action = UPDATED if action == UNCHANGED else action
    return Outcome(OPERATION, fields["code"], action)


def _refuse_retyping(spec: DataSpec, data_type: str, item: str, index: int) -> None:
    """A spec's values are stored in its data type's column: with values, it keeps it."""
    if DataValue.objects.filter(spec=spec).exists():
        raise MasterDataRefused(
            "SPEC_HAS_VALUES",
            f"spec {spec.name!r} has values as {spec.data_type} and cannot become "
            f"{data_type}; add a spec of another name.",
            item=item,
            field_name=f"specs[{index}].dataType",
        )


def _assign(instance, fields: dict) -> list[str]:
    """Set `fields` on `instance`; the names of those that changed."""
    changed = []
    for name, value in fields.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed
