"""factory-boy factories for every model the tests build."""

from datetime import UTC, datetime, timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from execution.models import (
    Carrier,
    CarrierTrack,
    DataSpec,
    DataValue,
    Operation,
    RouteStep,
    RouteVersion,
    Run,
    Station,
    Track,
    Unit,
)
from integration.gateways.keys import GATEWAYS_GROUP, issue_gateway_key

BASE_TIME = datetime(2026, 1, 24, 10, 0, tzinfo=UTC)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user-{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(*[Group.objects.get(name=name) for name in extracted])
        self.save()


def gateway_with_key(name: str = "gw-test"):
    """A gateway user in the Gateways group and its clear-text key."""
    user = UserFactory(username=name, password=None, groups=[GATEWAYS_GROUP])
    return user, issue_gateway_key(user)


class StationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Station
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"ST-{n:02d}")
    name = factory.LazyAttribute(lambda o: f"Station {o.code}")
    station_type = Station.StationType.AUTO
    line_code = "LINE-1"


class OperationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Operation
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"OP-{n:02d}")
    name = factory.LazyAttribute(lambda o: f"Operation {o.code}")


class DataSpecFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataSpec

    operation = factory.SubFactory(OperationFactory)
    name = factory.Sequence(lambda n: f"Spec {n}")
    data_type = DataSpec.DataType.NUMBER
    method = DataSpec.Method.AUTO
    spec = None
    alarm = None


class RouteVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RouteVersion

    code = factory.Sequence(lambda n: f"ROUTE-{n}")
    version_no = 1


class RouteStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RouteStep
        skip_postgeneration_save = True

    route_version = factory.SubFactory(RouteVersionFactory)
    step_no = 10
    operation = factory.SubFactory(OperationFactory)

    @factory.post_generation
    def data_specs(self, create, extracted, **kwargs):
        if create and extracted:
            self.data_specs.add(*extracted)


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    run_no = factory.Sequence(lambda n: f"RUN-{n:04d}")
    route_version = factory.SubFactory(RouteVersionFactory)
    status = Run.Status.IN_PROGRESS


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit

    sn = factory.Sequence(lambda n: f"SN-{n:05d}")
    run = factory.SubFactory(RunFactory)


class TrackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Track

    unit = factory.SubFactory(UnitFactory)
    step_no = 10
    station = factory.SubFactory(StationFactory)
    source = "AUTO"
    in_at = BASE_TIME


class CarrierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Carrier

    carrier_no = factory.Sequence(lambda n: f"CARRIER-{n:03d}")


class CarrierTrackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CarrierTrack

    carrier = factory.SubFactory(CarrierFactory)
    step_no = 10
    station = factory.SubFactory(StationFactory)
    source = "AUTO"
    in_at = BASE_TIME


class DataValueFactory(factory.django.DjangoModelFactory):
    """A value on a unit's pass, stored as ingestion stores it (judged PASS by default)."""

    class Meta:
        model = DataValue

    spec = factory.SubFactory(DataSpecFactory)
    track = factory.SubFactory(TrackFactory)
    station = factory.LazyAttribute(lambda o: o.track.station)
    run = factory.LazyAttribute(lambda o: o.track.unit.run)
    collected_at = BASE_TIME
    value_number = 245.0
    limits = factory.LazyAttribute(lambda o: o.spec.limits)
    judge = DataValue.Judge.PASS
    source = "AUTO"
    source_ref = factory.Sequence(lambda n: f"device-data:factory-{n}")


# --- people and received traffic for the back-office suites (tests/test_admin_*.py) ------------

ROLE_GROUPS = {
    "superuser": None,
    "quality staff": "Quality staff",
    "integration admin": "Integration admins",
    "gateway": GATEWAYS_GROUP,
}
ROLES = [*ROLE_GROUPS, "anonymous"]


def person_in_role(role: str):
    """A user as each role signs in to the back office; None for anonymous."""
    if role == "anonymous":
        return None
    if role == "superuser":
        return UserFactory(username="root", is_staff=True, is_superuser=True)
    if role == "gateway":
        user, _key = gateway_with_key("gw-role")
        return user
    return UserFactory(username=role.replace(" ", "-"), is_staff=True, groups=[ROLE_GROUPS[role]])


def reflow_event(event_id: str = "evt-0001", value=245, **overrides) -> dict:
    """An AUTO reflow event by codes for the conftest `line`, as a gateway sends it."""
    event = {
        "eventId": event_id,
        "eventTime": "2026-01-24T10:00:00Z",
        "source": "AUTO",
        "runNo": "RUN-2026-001",
        "unitSn": "SN-0001",
        "stationCode": "REFLOW-01",
        "stepNo": 40,
        "equipmentId": "EQ-01",
        "data": [{"specName": "Peak Temperature", "valueNumber": value}],
        "meta": {"raw": "payload"},
    }
    event.update(overrides)
    return event


class ReceivedTraffic:
    """One of each kind of attempt, received through the real ingestion service.

    record: evt-0001, Peak Temperature 245 (PASS); success: its SUCCESS message;
    duplicate: evt-0001 sent again; conflict: evt-0001 sent again with 246;
    hot_record: evt-hot, 260 (FAIL and alarmed); failed: evt-late-unit for the
    unknown unit SN-LATE (FAILED, unresolved).
    """

    def __init__(self, **parts):
        self.__dict__.update(parts)


def receive_traffic(gateway) -> ReceivedTraffic:
    from integration.ingestion.errors import EventIdConflict, EventRefused
    from integration.ingestion.service import receive_device_event

    first = receive_device_event(reflow_event(), sent_by=gateway)
    duplicate = receive_device_event(reflow_event(), sent_by=gateway)
    try:
        receive_device_event(reflow_event(value=246), sent_by=gateway)
    except EventIdConflict as conflict:
        conflict_message = conflict.conflict_message
    hot = receive_device_event(
        reflow_event("evt-hot", 260, eventTime="2026-01-24T11:00:00Z"), sent_by=gateway
    )
    try:
        receive_device_event(reflow_event("evt-late-unit", unitSn="SN-LATE"), sent_by=gateway)
    except EventRefused as refusal:
        failed = refusal.failed_message
    return ReceivedTraffic(
        record=first.record,
        success=first.message,
        duplicate=duplicate.message,
        conflict=conflict_message,
        hot_record=hot.record,
        failed=failed,
    )


def close_pass(track, seconds: int = 30):
    """End a pass (PASS) a little after it began, so its unit may have another open one
    (at most one open pass per unit)."""
    track.out_at = track.in_at + timedelta(seconds=seconds)
    track.result = "PASS"
    track.save(update_fields=["out_at", "result"])
    return track
