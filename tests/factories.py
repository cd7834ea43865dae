"""factory-boy factories for every model the tests build."""

from datetime import UTC, datetime

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from execution.models import (
    Carrier,
    CarrierTrack,
    DataSpec,
    Operation,
    RouteStep,
    RouteVersion,
    Run,
    Station,
    Track,
    Unit,
)
from integration.gateway_keys import GATEWAYS_GROUP, issue_gateway_key

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
