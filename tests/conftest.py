"""Shared fixtures: a small line with a route step binding specs, and API clients."""

from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from execution.models import DataSpec, Operation, RouteStep, Station, Track, Unit
from tests.factories import (
    DataSpecFactory,
    OperationFactory,
    RouteStepFactory,
    RunFactory,
    StationFactory,
    TrackFactory,
    UnitFactory,
    UserFactory,
    gateway_with_key,
    person_in_role,
    receive_traffic,
    reflow_event,
)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # People in tests sign in with passwords; PBKDF2 would make each user cost ~0.5 s.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache():
    # Throttle counts and cached permissions belong to one test; primary keys
    # are reused across tests on SQLite.
    cache.clear()
    yield
    cache.clear()


@dataclass
class Line:
    """A reflow step: run, unit, station, operation, bound and unbound specs, a track."""

    station: Station
    operation: Operation
    step: RouteStep
    peak: DataSpec
    conveyor: DataSpec
    unbound: DataSpec
    visual: DataSpec
    run: object
    unit: Unit
    track: Track


@pytest.fixture
def line(db) -> Line:
    station = StationFactory(code="REFLOW-01")
    operation = OperationFactory(code="OP-REFLOW")
    peak = DataSpecFactory(
        operation=operation,
        name="Peak Temperature",
        spec={"min": 240, "max": 250, "target": 245, "unit": "C"},
        alarm={"min": 235, "max": 255, "action": "HOLD"},
    )
    conveyor = DataSpecFactory(
        operation=operation, name="Conveyor Speed", spec={"min": 70, "max": 90}
    )
    unbound = DataSpecFactory(operation=operation, name="Time Above Liquidus")
    visual = DataSpecFactory(
        operation=operation,
        name="Visual Check",
        data_type=DataSpec.DataType.BOOLEAN,
        method=DataSpec.Method.MANUAL,
        spec={"expected": True},
    )
    step = RouteStepFactory(step_no=40, operation=operation, data_specs=[peak, conveyor, visual])
    run = RunFactory(run_no="RUN-2026-001", route_version=step.route_version)
    unit = UnitFactory(sn="SN-0001", run=run)
    track = TrackFactory(unit=unit, step_no=40, station=station)
    return Line(station, operation, step, peak, conveyor, unbound, visual, run, unit, track)


def make_event(**overrides) -> dict:
    """An AUTO reflow event by codes, as a gateway sends it; override any field, or
    drop it with `...`."""
    event = {**reflow_event(), **overrides}
    return {key: value for key, value in event.items() if value is not ...}


@pytest.fixture
def gateway(db):
    user, key = gateway_with_key("gw-reflow-1")
    return user


@pytest.fixture
def gateway_client(db):
    user, key = gateway_with_key("gw-reflow-1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.user = user
    return client


def _signed_in(username, group):
    user = UserFactory(username=username, is_staff=True, groups=[group])
    client = APIClient()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def quality_client(db):
    return _signed_in("quality-1", "Quality staff")


@pytest.fixture
def integration_admin_client(db):
    return _signed_in("integration-1", "Integration admins")


@pytest.fixture
def integration_admin(db):
    return UserFactory(username="integration-admin", is_staff=True, groups=["Integration admins"])


requires_postgresql = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL for real concurrency (many connections writing one eventId); "
    "SQLite serialises writers with its database lock",
)


# The back office: received traffic, and people signed in to the admin by role.
@pytest.fixture
def traffic(line, gateway):
    return receive_traffic(gateway)


@pytest.fixture
def quality(db, client):
    client.force_login(person_in_role("quality staff"))
    return client


@pytest.fixture
def integration(db, client):
    client.force_login(person_in_role("integration admin"))
    return client
