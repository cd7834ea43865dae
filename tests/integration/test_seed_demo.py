"""`manage.py seed_demo`: the demo line, users and gateway; safe to run again.

Also the role groups the data migration creates (docs/operations.md: permissions).
"""

import json
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from rest_framework.test import APIClient

from execution.demo import DEMO_HISTORY_UNITS
from execution.models import (
    Carrier,
    CarrierTrack,
    DataSpec,
    DataValue,
    Hold,
    HoldValue,
    Operation,
    RouteStep,
    RouteVersion,
    Run,
    Station,
    Track,
    Unit,
)
from execution.spc_window import analyse_window
from integration.models import (
    DeviceDataRecord,
    GatewayKey,
    IntegrationMessage,
    business_key_for,
)

pytestmark = pytest.mark.django_db

User = get_user_model()

SEEDED_MODELS = [
    Station,
    Operation,
    DataSpec,
    RouteVersion,
    RouteStep,
    RouteStep.data_specs.through,
    RouteStep.allowed_stations.through,
    Run,
    Unit,
    Track,
    Carrier,
    CarrierTrack,
    User,
    User.groups.through,
    Group,
    GatewayKey,
    Hold,
    HoldValue,
    DeviceDataRecord,
    DataValue,
    IntegrationMessage,
]
DEMO_STATIONS = ["PRINTER-01", "SPI-01", "MOUNTER-01", "REFLOW-01", "AOI-01"]
DEVICE_DATA_URL = "/api/integration/device-data"


def seed_demo() -> str:
    """Run the command and return what it printed."""
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def printed_key(output: str) -> str:
    match = re.search(r"Authorization: Token ([^\s']+)'", output)
    assert match, output
    return match.group(1)


def printed_example_event(output: str) -> dict:
    match = re.search(r"-d '(\{.*\})'", output)
    assert match, output
    return json.loads(match.group(1))


def gateway_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def row_counts() -> dict:
    return {model._meta.label: model.objects.count() for model in SEEDED_MODELS}


@pytest.fixture
def seeded():
    return seed_demo()


# --- idempotence -------------------------------------------------------------------------------


def test_seeding_twice_gives_the_same_row_counts_for_every_model(seeded):
    first = row_counts()
    seed_demo()
    assert row_counts() == first
    assert all(first.values()), first  # every model was actually seeded


def test_seeding_twice_keeps_the_same_rows(seeded):
    specs = dict(DataSpec.objects.values_list("pk", "spec"))
    tracks = set(Track.objects.values_list("pk", "unit__sn", "step_no", "station__code", "in_at"))
    seed_demo()
    assert dict(DataSpec.objects.values_list("pk", "spec")) == specs
    assert (
        set(Track.objects.values_list("pk", "unit__sn", "step_no", "station__code", "in_at"))
        == tracks
    )


# --- the demo line -----------------------------------------------------------------------------


def test_demo_line_has_the_five_smt_stations(seeded):
    assert set(DEMO_STATIONS) <= set(Station.objects.values_list("code", flat=True))


def test_peak_temperature_has_reflow_limits_and_alarm(seeded):
    peak = DataSpec.objects.get(name="Peak Temperature")
    assert peak.data_type == DataSpec.DataType.NUMBER
    assert peak.method == DataSpec.Method.AUTO
    assert peak.is_active
    assert (peak.spec["min"], peak.spec["max"]) == (240, 250)
    assert (peak.alarm["min"], peak.alarm["max"]) == (235, 255)
    assert peak.alarm.get("action") in ("ALARM_ONLY", "HOLD")


def test_peak_temperature_is_bound_to_the_step_units_pass_at_the_reflow_oven(seeded):
    run = Run.objects.get(run_no="RUN-DEMO-001")
    peak = DataSpec.objects.get(name="Peak Temperature")
    step = RouteStep.objects.get(route_version=run.route_version, data_specs=peak)
    assert step.operation == peak.operation
    reflow_steps = set(
        Track.objects.filter(unit__run=run, station__code="REFLOW-01").values_list(
            "step_no", flat=True
        )
    )
    assert reflow_steps == {step.step_no}


def test_aoi_result_is_a_text_spec_allowing_pass_in_the_gateways_and_cfxs_words(seeded):
    aoi = DataSpec.objects.get(name="AOI Result")
    assert aoi.data_type == DataSpec.DataType.TEXT
    assert aoi.spec == {"allowed": ["PASS", "Passed"]}


def test_visual_check_is_a_manual_boolean_spec_expecting_true(seeded):
    visual = DataSpec.objects.get(name="Visual Check")
    assert visual.data_type == DataSpec.DataType.BOOLEAN
    assert visual.method == DataSpec.Method.MANUAL
    assert visual.spec == {"expected": True}


def test_at_least_one_spec_is_bound_to_no_step(seeded):
    assert DataSpec.objects.filter(route_steps__isnull=True).exists()


def test_every_seeded_spec_has_valid_limits(seeded):
    for spec in DataSpec.objects.all():
        spec.full_clean()


def test_demo_run_is_in_progress_with_units_tracked_at_every_step(seeded):
    run = Run.objects.get(run_no="RUN-DEMO-001")
    assert run.status == Run.Status.IN_PROGRESS
    steps = set(run.route_version.steps.values_list("step_no", flat=True))
    assert len(steps) >= 5
    units = list(run.units.all())
    assert len(units) >= 10
    for unit in units:
        assert set(unit.tracks.values_list("step_no", flat=True)) >= steps, unit.sn


def test_demo_carrier_has_a_carrier_track(seeded):
    assert CarrierTrack.objects.filter(carrier__in=Carrier.objects.all()).exists()


# --- users and the gateway ---------------------------------------------------------------------


def test_demo_users_have_their_roles(seeded):
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.is_active

    quality = User.objects.get(username="quality")
    assert quality.is_staff and not quality.is_superuser
    assert list(quality.groups.values_list("name", flat=True)) == ["Quality staff"]

    integration = User.objects.get(username="integration")
    assert integration.is_staff and not integration.is_superuser
    assert list(integration.groups.values_list("name", flat=True)) == ["Integration admins"]


def test_demo_gateway_is_a_service_account_in_gateways(seeded):
    gateway = User.objects.get(username="gw-demo")
    assert list(gateway.groups.values_list("name", flat=True)) == ["Gateways"]
    assert not gateway.is_staff and not gateway.is_superuser
    assert not gateway.has_usable_password()
    assert GatewayKey.objects.filter(user=gateway, revoked_at__isnull=True).count() == 1


def test_printed_demo_credentials_sign_in(client, seeded):
    credentials = re.findall(r"^\s+.+?\s(\S+) / (\S+)$", seeded, flags=re.MULTILINE)
    assert {username for username, _ in credentials} == {"admin", "quality", "integration"}
    for username, password in credentials:
        # Through the sign-in form, as a person does (django-axes watches it).
        response = client.post(
            "/admin/login/", {"username": username, "password": password, "next": "/admin/"}
        )
        assert response.status_code == 302, (username, response.content[-500:])
        assert response["Location"] == "/admin/"
        client.logout()


def test_printed_example_event_is_accepted_with_the_printed_key(seeded):
    event = printed_example_event(seeded)
    response = gateway_client(printed_key(seeded)).post(DEVICE_DATA_URL, event, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["isDuplicate"] is False
    record = DeviceDataRecord.objects.get(event_id=event["eventId"])
    assert record.sent_by.username == "gw-demo"
    assert record.data_values_created == 1
    assert DataValue.objects.get(source_ref=record.business_key).judge == DataValue.Judge.PASS
    message = IntegrationMessage.objects.get(business_key=record.business_key)
    assert message.status == IntegrationMessage.Status.SUCCESS


def test_seeding_again_rekeys_the_gateway_in_place(seeded):
    old_key = printed_key(seeded)
    keys_before = GatewayKey.objects.count()

    output = seed_demo()
    new_key = printed_key(output)

    assert new_key != old_key
    assert GatewayKey.objects.count() == keys_before
    event = printed_example_event(output)
    refused = gateway_client(old_key).post(DEVICE_DATA_URL, event, format="json")
    assert refused.status_code == 401
    assert not DeviceDataRecord.objects.filter(event_id=event["eventId"]).exists()
    accepted = gateway_client(new_key).post(DEVICE_DATA_URL, event, format="json")
    assert accepted.status_code == 200, accepted.content
    assert DeviceDataRecord.objects.filter(event_id=event["eventId"]).count() == 1


def test_seeding_again_after_ingestion_keeps_the_received_data(seeded):
    gateway_client(printed_key(seeded)).post(
        DEVICE_DATA_URL, printed_example_event(seeded), format="json"
    )
    received = received_counts()
    seed_demo()
    assert received_counts() == received
    assert DeviceDataRecord.objects.filter(event_id="demo-evt-1").exists()


def received_counts() -> dict:
    return {
        model._meta.label: model.objects.count()
        for model in [DeviceDataRecord, DataValue, IntegrationMessage, Hold, HoldValue]
    }


def test_demo_unit_has_a_rich_history_and_seeding_again_sends_none_of_it_twice(seeded):
    records = DeviceDataRecord.objects.filter(unit_sn="SN-DEMO-0002")
    assert sorted(records.values_list("step_no", flat=True)) == [10, 20, 30, 40, 50]
    assert DataValue.objects.filter(track__unit__sn="SN-DEMO-0002").count() == 10
    keys = [record.business_key for record in records]
    keys.append(business_key_for("demo-SN-DEMO-0002-unbound-spec"))
    statuses = sorted(
        IntegrationMessage.objects.filter(business_key__in=keys).values_list("status", "error_code")
    )
    assert statuses == [("DUPLICATE", ""), ("FAILED", "SPEC_NOT_BOUND")] + [("SUCCESS", "")] * 5
    received = received_counts()
    seed_demo()
    assert received_counts() == received


def test_the_demo_has_one_unit_on_hold_with_an_open_hold(seeded):
    held = Unit.objects.get(status=Unit.Status.ON_HOLD)
    hold = Hold.objects.get(unit=held)
    assert held.sn == "SN-DEMO-0012"
    assert hold.is_open and hold.spec.name == "Peak Temperature"
    assert hold.hold_values.count() == 1


# --- the reflow history for the SPC chart ------------------------------------------------------


def test_peak_temperature_has_enough_values_for_capability_figures(seeded):
    peak = DataSpec.objects.get(name="Peak Temperature")

    result = analyse_window(peak)

    assert peak.values.count() >= 100
    assert result.analysis.capability.n == 100
    assert result.analysis.capability.cpk.known and result.analysis.capability.ppk.known


def test_the_reflow_history_drifts_so_that_a_nelson_rule_fires_and_no_board_is_held(seeded):
    peak = DataSpec.objects.get(name="Peak Temperature")

    result = analyse_window(peak)

    assert result.analysis.violations
    history = Unit.objects.filter(run__run_no="RUN-DEMO-000")
    assert not history.filter(status=Unit.Status.ON_HOLD).exists()
    assert not peak.values.filter(alarmed=True, track__unit__in=history).exists()


def test_the_reflow_history_is_received_through_the_ingestion_service_once(seeded):
    seed_demo()
    messages = IntegrationMessage.objects.filter(dedupe_key__startswith="device-data:demo-peak-")
    assert messages.count() == DEMO_HISTORY_UNITS
    assert set(messages.values_list("status", flat=True)) == {IntegrationMessage.Status.SUCCESS}
    history = DeviceDataRecord.objects.filter(event_id__startswith="demo-peak-")
    assert history.filter(sent_by__username="gw-demo").count() == DEMO_HISTORY_UNITS


# --- the acknowledged conflict -----------------------------------------------------------------


def test_the_demo_has_a_conflict_acknowledged_by_quality_with_a_note(seeded):
    conflict = IntegrationMessage.objects.get(status=IntegrationMessage.Status.CONFLICT)
    assert conflict.business_key == "device-data:demo-conflict-1"
    assert conflict.record.event_id == "demo-conflict-1"
    assert conflict.acknowledged_by.username == "quality"
    assert conflict.acknowledged_at is not None and "eventIds" in conflict.acknowledgement_note
    assert conflict.sent_by.username == "gw-demo"


def test_seeding_again_keeps_the_one_acknowledged_conflict_as_it_was(seeded):
    before = list(IntegrationMessage.objects.values_list("pk", "status", "acknowledged_at"))
    seed_demo()
    assert list(IntegrationMessage.objects.values_list("pk", "status", "acknowledged_at")) == before
    assert DeviceDataRecord.objects.get(event_id="demo-conflict-1").duplicate_count == 0


# --- role groups from the data migration -------------------------------------------------------


def permissions_of(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


RECEIVED_DATA_VIEW = {
    "execution.view_datavalue",
    "integration.view_devicedatarecord",
    "integration.view_integrationmessage",
}


def test_the_three_role_groups_exist_after_migrations():
    names = set(Group.objects.values_list("name", flat=True))
    assert {"Gateways", "Quality staff", "Integration admins"} <= names


def test_gateways_may_only_ingest():
    assert permissions_of("Gateways") == {"integration.add_devicedatarecord"}


def test_quality_staff_may_view_data_close_holds_acknowledge_and_change_nothing_else():
    permissions = permissions_of("Quality staff")
    assert permissions >= RECEIVED_DATA_VIEW
    assert {"execution.view_dataspec", "execution.view_track", "execution.view_run"} <= permissions
    codenames = {permission.split(".", 1)[1] for permission in permissions}
    # Closing a hold, a failed unit's disposition, authorizing a run, a note on a message
    # and the list of reason codes: no change to the data itself.
    codenames -= {"release_hold", "acknowledge_message", "dispose_failed_unit", "authorize_run"}
    codenames -= {"add_reasoncode", "change_reasoncode"}
    # And their decisions on SPC charts (docs/quality.md), which change no value.
    decisions = ("spcsettings", "spcexclusion", "spcsignalacknowledgement")
    codenames -= {f"{action}_{model}" for model in decisions for action in ("add", "change")}
    codenames -= {"delete_spcexclusion"}
    assert all(codename.startswith("view_") for codename in codenames), permissions


def test_integration_admins_may_ingest_read_and_replay():
    permissions = permissions_of("Integration admins")
    assert {
        "integration.replay_integrationmessage",
        "integration.add_devicedatarecord",
        "execution.change_dataspec",
    } <= permissions
    assert permissions >= RECEIVED_DATA_VIEW


@pytest.mark.parametrize("group_name", ["Gateways", "Quality staff", "Integration admins"])
def test_no_group_may_change_or_delete_received_data(group_name):
    permissions = permissions_of(group_name)
    forbidden = {
        f"{app_label}.{action}_{model}"
        for app_label, model in [
            ("execution", "datavalue"),
            ("integration", "devicedatarecord"),
            ("integration", "integrationmessage"),
        ]
        for action in ("change", "delete")
    }
    assert not permissions & forbidden
