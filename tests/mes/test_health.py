"""Health checks, the back office's pages and the settings' refusal to run without a secret key."""

import os
import subprocess
import sys

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from execution.failure_dispositions import dispose_failed_unit
from execution.models import (
    DataValue,
    Hold,
    HoldValue,
    ReasonCode,
    SpcExclusion,
    SpcSettings,
    SpcSignalAcknowledgement,
)
from integration.models import CfxReadingName, DeviceDataRecord, IntegrationMessage
from integration.tracking.errors import TrackingCallRefused
from integration.tracking.service import receive_track_in, receive_track_out
from tests.conftest import make_event
from tests.factories import CarrierTrackFactory, UserFactory
from tests.route_line import build_route_line

# A hold's values are listed on its hold's page: they have no list of their own.
# The values of a hold are on its page; history rows on their object's History page;
# SPC decisions on their spec's decisions page (tests/execution/admin/test_admin_spc_decisions.py).
LISTED_ON_ANOTHER_PAGE = {
    HoldValue,
    SpcSettings,
    SpcExclusion,
    SpcSignalAcknowledgement,
    *(model for model in apps.get_models() if model.__name__.startswith("Historical")),
}
ADMIN_MODELS = [
    model
    for app_label in ("execution", "integration")
    for model in apps.get_app_config(app_label).get_models()
    if model not in LISTED_ON_ANOTHER_PAGE
]
RECEIVED_DATA = [DataValue, DeviceDataRecord, IntegrationMessage, Hold]


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def received(line, gateway_client):
    """An accepted event: a record, its value and its SUCCESS message; a carrier pass; and
    an alarmed value that holds the unit."""
    response = gateway_client.post("/api/integration/device-data", make_event(), format="json")
    assert response.status_code == 200, response.content
    hot = make_event(eventId="evt-hot", data=[{"specName": "Peak Temperature", "valueNumber": 260}])
    assert gateway_client.post("/api/integration/device-data", hot, format="json").json()["data"][
        "hold"
    ]
    CarrierTrackFactory()
    CfxReadingName.objects.create(reading_name="PeakTemperature", spec_name="Peak Temperature")
    # A unit tracked in and failed out by eventId, and sent to rework.
    route = build_route_line()
    station = {"station_code": route.spi.code, "sent_by": gateway_client.user}
    receive_track_in({"sn": "SN-TRK-1", "runNo": route.run.run_no, "eventId": "ti-1"}, **station)
    receive_track_out(
        {"sn": "SN-TRK-1", "runNo": route.run.run_no, "result": "FAIL", "eventId": "to-1"},
        **station,
    )
    with pytest.raises(TrackingCallRefused):  # kept as a FAILED TRACK_IN message
        receive_track_in({"sn": "SN-TRK-1", "runNo": route.run.run_no}, **station)
    dispose_failed_unit(
        "SN-TRK-1",
        disposition="REWORK",
        rework_step_no=10,
        note="reprint",
        decided_by=UserFactory(),
    )
    return DeviceDataRecord.objects.get(event_id=make_event()["eventId"])


# --- health checks -----------------------------------------------------------------------------


def test_healthz_answers_200_with_json(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["ok"] is True


@pytest.mark.django_db
def test_readyz_answers_200_when_the_database_answers(client):
    response = client.get("/readyz")
    for _ in range(5):
        if response.status_code != 503:
            break
        # A loaded machine: the first check (loading the migration graph) took longer than
        # the probe's 0.8 s. It goes on in its thread, and the next probe has its result.
        assert response.json()["error"]["details"]["cause"] == "database timeout"
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["ok"] is True
    assert body["data"]["database"] == "up"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_are_never_cached(client, path):
    assert "no-cache" in client.get(path)["Cache-Control"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_answer_other_methods_in_the_json_envelope(client, path):
    # docs/api.md: no response under /healthz or /readyz, whatever the input, is an
    # HTML error page; every response uses the envelope.
    response = client.post(path, data={}, content_type="application/json")
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert response.json()["ok"] is False


# --- the back office ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_login_page_renders(client):
    # The settings as they are, with DEBUG off and no collectstatic run.
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda model: model._meta.label)
def test_every_model_has_an_admin_changelist_that_renders_for_a_superuser(
    admin_client, received, model
):
    ReasonCode.objects.get_or_create(code="MEASUREMENT", name="Measurement error")
    response = admin_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1  # rows were rendered, not an empty list


@pytest.mark.parametrize("model", RECEIVED_DATA, ids=lambda model: model._meta.label)
def test_received_data_admin_refuses_add_change_and_delete_even_for_a_superuser(admin_user, model):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    model_admin = admin.site._registry[model]
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


@pytest.mark.parametrize("model", RECEIVED_DATA, ids=lambda model: model._meta.label)
def test_received_data_add_page_is_forbidden_for_a_superuser(admin_client, received, model):
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    count = model.objects.count()
    assert admin_client.post(admin_url(model, "add"), {}).status_code == 403
    assert model.objects.count() == count


@pytest.mark.parametrize("model", RECEIVED_DATA, ids=lambda model: model._meta.label)
def test_received_data_can_be_viewed_but_not_changed_or_deleted_in_the_admin(
    admin_client, received, model
):
    row = model.objects.first()
    view = admin_client.get(admin_url(model, "change", row.pk))
    assert view.status_code == 200
    assert view.context["has_change_permission"] is False

    assert admin_client.post(admin_url(model, "change", row.pk), {}).status_code == 403
    assert admin_client.get(admin_url(model, "delete", row.pk)).status_code == 403
    assert admin_client.post(admin_url(model, "delete", row.pk), {"post": "yes"}).status_code == (
        403
    )
    assert model.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("model", RECEIVED_DATA, ids=lambda model: model._meta.label)
def test_received_data_cannot_be_bulk_deleted_from_the_changelist(admin_client, received, model):
    count = model.objects.count()
    response = admin_client.post(
        admin_url(model, "changelist"),
        {
            "action": "delete_selected",
            "_selected_action": list(model.objects.values_list("pk", flat=True)),
            "post": "yes",
        },
    )
    assert response.status_code in (200, 302, 403)
    assert model.objects.count() == count


@pytest.mark.django_db
def test_quality_staff_can_view_but_not_add_master_data_in_the_admin(client):
    user = UserFactory(username="quality-1", is_staff=True, groups=["Quality staff"])
    client.force_login(user)
    assert client.get(reverse("admin:execution_dataspec_changelist")).status_code == 200
    assert client.get(reverse("admin:execution_dataspec_add")).status_code == 403


# --- settings ----------------------------------------------------------------------------------


def settings_check(**environment) -> subprocess.CompletedProcess:
    """Django's `check` on the settings in a fresh process, with DEBUG and SECRET_KEY as
    given (None: unset). Through `python -m django`, as a server loads them (mes/settings.py;
    where settings come from: tests/mes/test_settings_sources.py)."""
    env = os.environ.copy()
    for name in ("DEBUG", "SECRET_KEY"):
        env.pop(name, None)
    env.update({name: value for name, value in environment.items() if value is not None})
    env["DJANGO_SETTINGS_MODULE"] = "mes.settings"
    return subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("debug", [None, "", "0", "false"], ids=["unset", "empty", "0", "false"])
@pytest.mark.parametrize("secret_key", [None, ""], ids=["secret-unset", "secret-empty"])
def test_without_debug_an_empty_secret_key_is_refused(debug, secret_key):
    result = settings_check(DEBUG=debug, SECRET_KEY=secret_key)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_with_a_secret_key_and_debug_off_the_checks_pass():
    result = settings_check(SECRET_KEY="a-long-enough-test-only-secret-key")
    assert result.returncode == 0, result.stderr


def test_with_debug_on_an_empty_secret_key_is_refused_too():
    # No development key to fall back to: `make run` writes a generated one to local.env.
    result = settings_check(DEBUG="1", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
