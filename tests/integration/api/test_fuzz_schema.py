"""Schemathesis against the app's own /api/schema/, through its WSGI application.

Every operation of the schema is fuzzed with a bounded number of examples, as a
gateway (key in the Authorization header) and as an integration admin (a
session cookie with its CSRF token), asserting no 5xx and answers that conform
to the schema: documented status, content type, headers and body (the envelope
included). At the end the run prints how many examples it ran and how many
requests it sent, for CI's log.
"""

import json
from collections import Counter

import pytest
from django.contrib.auth.models import Permission
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework.test import APIClient

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
)

pytestmark = pytest.mark.slow

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra")

from hypothesis import HealthCheck, Phase  # noqa: E402  (after the importorskip)
from hypothesis import settings as hypothesis_settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CSRF_SECRET = "fuzzcsrfsecret0123456789abcdefgh"  # 32 characters, as Django's cookie holds
STATS = Counter()


class CountingWSGIApp:
    """The Django WSGI application, counting requests and answers by status."""

    def __init__(self):
        self.app = WSGIHandler()

    def __call__(self, environ, start_response):
        STATS["requests"] += 1

        def counting_start_response(status, headers, exc_info=None):
            STATS[f"status {status.split()[0]}"] += 1
            return start_response(status, headers, exc_info)

        return self.app(environ, counting_start_response)


@pytest.fixture
def in_test_transaction():
    """The WSGI handler closes "old" connections around each request, which inside
    the test's transaction would break it; Django's test client does the same."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def fuzz_world(db, in_test_transaction, settings):
    """The line of docs/api.md's example event (which the schema carries as its example,
    so some generated events are written, then repeated as duplicates or
    conflicts), the unit SN-0001 in station at SMT-01 (the stations API's example), and
    no throttling in the way."""
    settings.GATEWAY_THROTTLE_RATE = "1000000/min"
    station = StationFactory(code="SMT-01")
    operation = OperationFactory(code="OP-REFLOW")
    peak = DataSpecFactory(
        operation=operation, name="Peak Temperature", spec={"min": 240, "max": 250}
    )
    visual = DataSpecFactory(
        operation=operation, name="Visual Check", data_type="BOOLEAN", method="MANUAL"
    )  # the stations API's example track-out sends it
    step = RouteStepFactory(step_no=10, operation=operation, data_specs=[peak, visual])
    run = RunFactory(run_no="RUN-2026-001", route_version=step.route_version)
    unit = UnitFactory(sn="SN-0001", run=run, status="IN_STATION", current_step_no=10)
    TrackFactory(unit=unit, step_no=10, station=station)


@pytest.fixture
def gateway_headers(db):
    """A gateway key that may also track units, so the stations API's calls reach its
    rules (a gateway without `track_units` is refused before them)."""
    user, key = gateway_with_key("gw-fuzz")
    user.user_permissions.add(Permission.objects.get(codename="track_units"))
    return {"Authorization": f"Token {key}"}


@pytest.fixture
def admin_session(db):
    """An integration admin's session cookie, and the CSRF token a browser would send."""
    admin = UserFactory(username="admin-fuzz", is_staff=True, groups=["Integration admins"])
    client = APIClient()
    client.force_login(admin)
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF_SECRET}
    return {"cookies": cookies, "headers": {"X-CSRFToken": CSRF_SECRET}}


# Loaded when the module is collected, through the same WSGI application the
# tests call (the schema view needs no database). schemathesis' lazy loader
# (`pytest.from_fixture`) relies on a pytest internal that pytest 9 removed.
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json",
    CountingWSGIApp(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {
                "max-examples": EXAMPLES_PER_OPERATION,
                # Both valid and invalid requests (the invalid ones are hostile input).
                "mode": "all",
                # Credentials are the test's own (a real key, a real session), not
                # random values for the schema's security schemes.
                "with-security-parameters": False,
            }
        }
    ),
)
FUZZ_SETTINGS = hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is repeatable
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_as_a_gateway(case, gateway_headers):
    STATS["examples"] += 1
    STATS["examples as a gateway"] += 1
    STATS[f"examples of {case.operation.label}"] += 1
    case.call_and_validate(headers=gateway_headers, checks=CHECKS)


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_as_an_integration_admin(case, admin_session):
    STATS["examples"] += 1
    STATS["examples as an integration admin"] += 1
    STATS[f"examples of {case.operation.label}"] += 1
    case.call_and_validate(**admin_session, checks=CHECKS)


def test_fuzz_report(request):
    """Runs last in this module: prints (and checks) what the fuzzing above did."""
    if not STATS["examples"]:
        pytest.skip("the fuzz tests did not run (deselected)")
    report = {
        "examples per operation (max)": EXAMPLES_PER_OPERATION,
        **dict(sorted(STATS.items())),
    }
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nschemathesis: {json.dumps(report)}")
    assert not any(key.startswith("status 5") for key in STATS)
    assert STATS["requests"] >= STATS["examples"]
