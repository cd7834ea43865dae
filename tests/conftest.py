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
    close_pass,
    gateway_with_key,
    person_in_role,
    receive_traffic,
    reflow_event,
)
from tests.route_line import RouteLine, build_route_line


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


REFLOW_HANDLE = "SMTPlus.Reflow_RX8.SN1001"
AOI_HANDLE = "VisionCo.AOI_Z5.SN2002"


@dataclass
class CfxLine:
    """A reflow oven and an AOI that speak IPC-CFX, their specs and reading names, four
    units of a panel at the oven (open passes) and two of them at the AOI."""

    reflow: Station
    aoi: Station
    peak: DataSpec
    zone3: DataSpec
    unit_result: DataSpec
    aoi_result: DataSpec
    aoi_defects: DataSpec
    offset: DataSpec
    run: object
    units: list


def build_cfx_line(units: int = 4, prefix: str = "CFX-SN-") -> CfxLine:
    from integration.models import CfxReadingName

    reflow = StationFactory(code="REFLOW-CFX", cfx_handle=REFLOW_HANDLE)
    aoi = StationFactory(code="AOI-CFX", cfx_handle=AOI_HANDLE)
    oven = OperationFactory(code="OP-CFX-REFLOW")
    inspection = OperationFactory(code="OP-CFX-AOI")
    peak = DataSpecFactory(
        operation=oven, name="Peak Temperature CFX", spec={"min": 235, "max": 255, "unit": "C"}
    )
    zone3 = DataSpecFactory(operation=oven, name="Zone 3 Top Temperature", spec={"max": 260})
    unit_result = DataSpecFactory(
        operation=oven,
        name="Oven Unit Result",
        data_type=DataSpec.DataType.TEXT,
        spec={"allowed": ["Succeeded"]},
    )
    aoi_result = DataSpecFactory(
        operation=inspection,
        name="AOI Result",
        data_type=DataSpec.DataType.TEXT,
        spec={"allowed": ["Passed"]},
    )
    aoi_defects = DataSpecFactory(
        operation=inspection, name="AOI Defects", data_type=DataSpec.DataType.JSON
    )
    offset = DataSpecFactory(
        operation=inspection, name="R22.Offset", spec={"min": -0.15, "max": 0.15}
    )
    step = RouteStepFactory(step_no=40, operation=oven, data_specs=[])
    RouteStepFactory(route_version=step.route_version, step_no=50, operation=inspection)
    run = RunFactory(run_no="RUN-CFX-1", route_version=step.route_version)
    CfxReadingName.objects.create(reading_name="PeakTemperature", spec_name=peak.name)
    CfxReadingName.objects.create(
        station=reflow, reading_name="Zone3.Top.Temperature", spec_name=zone3.name
    )
    CfxReadingName.objects.create(
        station=reflow, reading_name="UnitResult", spec_name=unit_result.name
    )
    CfxReadingName.objects.create(
        station=aoi, reading_name="OverallResult", spec_name=aoi_result.name
    )
    CfxReadingName.objects.create(
        station=aoi, reading_name="DefectsFound", spec_name=aoi_defects.name
    )
    made = []
    for n in range(1, units + 1):
        unit = UnitFactory(sn=f"{prefix}{n:04d}", run=run)
        at_oven = TrackFactory(unit=unit, step_no=40, station=reflow)
        if n <= 2:
            close_pass(at_oven)  # it went on to the AOI: one open pass per unit
            TrackFactory(unit=unit, step_no=50, station=aoi)
        made.append(unit)
    return CfxLine(
        reflow, aoi, peak, zone3, unit_result, aoi_result, aoi_defects, offset, run, made
    )


@pytest.fixture
def cfx_line(db) -> CfxLine:
    return build_cfx_line()


@pytest.fixture
def cfx_gateway(db):
    user, _key = gateway_with_key("gw-cfx")
    return user


@pytest.fixture
def route_line(db) -> RouteLine:
    """A three-step route in an AUTHORIZED run, for track-in and track-out."""
    return build_route_line()
