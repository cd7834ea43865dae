"""Who may open which back-office page, and that received data stays as it was received.

Every page the back office adds is requested by each role: superuser, Quality
staff, Integration admins, a gateway and an anonymous visitor. A role that
may see a page gets 200 with the page's data; any other gets 403, or the
login page when it is not staff at all. The role groups' permissions come
from the data migrations (docs/operations.md: permissions, issue 4).
"""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from execution.models import DataValue
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.factories import ROLES, person_in_role

STAFF_WHO_READ = {"superuser", "quality staff", "integration admin"}
GATEWAY_MANAGERS = {"superuser", "integration admin"}


def url(name, *args, query=""):
    return reverse(f"admin:{name}", args=args) + query


# (page name, URL from the traffic, the roles that may see it, text the page must show)
PAGES = [
    ("dashboard", lambda t: url("index"), STAFF_WHO_READ, "Messages by status"),
    (
        "message list",
        lambda t: url("integration_integrationmessage_changelist"),
        STAFF_WHO_READ,
        "device-data:evt-late-unit",
    ),
    (
        "failed message",
        lambda t: url("integration_integrationmessage_change", t.failed.pk),
        STAFF_WHO_READ,
        "UNIT_NOT_FOUND",
    ),
    (
        "conflict message",
        lambda t: url("integration_integrationmessage_change", t.conflict.pk),
        STAFF_WHO_READ,
        "conflict-diff",
    ),
    (
        "duplicate message",
        lambda t: url("integration_integrationmessage_change", t.duplicate.pk),
        STAFF_WHO_READ,
        "DUPLICATE",
    ),
    (
        "record list",
        lambda t: url("integration_devicedatarecord_changelist"),
        STAFF_WHO_READ,
        "evt-hot",
    ),
    (
        "record",
        lambda t: url("integration_devicedatarecord_change", t.hot_record.pk),
        STAFF_WHO_READ,
        "collected-values",
    ),
    ("value list", lambda t: url("execution_datavalue_changelist"), STAFF_WHO_READ, "260"),
    (
        "value",
        lambda t: url("execution_datavalue_change", DataValue.objects.get(value_number=260).pk),
        STAFF_WHO_READ,
        "limits judged against",
    ),
    (
        "value CSV export",
        lambda t: url("execution_datavalue_export"),
        STAFF_WHO_READ,
        "device-data:evt-hot",
    ),
    ("spec list", lambda t: url("execution_dataspec_changelist"), STAFF_WHO_READ, "Peak"),
    (
        "spec with trend chart",
        lambda t: url("execution_dataspec_change", DataValue.objects.first().spec_id),
        STAFF_WHO_READ,
        "<svg",
    ),
    ("add spec", lambda t: url("execution_dataspec_add"), GATEWAY_MANAGERS, 'name="spec"'),
    (
        "track with values",
        lambda t: url("execution_track_change", t.record.track_id),
        STAFF_WHO_READ,
        "collected values",
    ),
    (
        "unit page",
        lambda t: url("execution_unit_page", t.record.track.unit_id),
        STAFF_WHO_READ,
        "unit-history",
    ),
    (
        "run with values",
        lambda t: url("execution_run_change", t.record.track.unit.run_id),
        STAFF_WHO_READ,
        "collected-values",
    ),
    (
        "gateway list",
        lambda t: url("integration_gateway_changelist"),
        GATEWAY_MANAGERS,
        "gw-reflow-1",
    ),
    ("add gateway", lambda t: url("integration_gateway_add"), GATEWAY_MANAGERS, 'name="username"'),
    (
        "gateway",
        lambda t: url("integration_gateway_change", t.record.sent_by_id),
        GATEWAY_MANAGERS,
        "Re-key",
    ),
    (
        "re-key confirmation",
        lambda t: url("integration_gateway_rekey", t.record.sent_by_id),
        GATEWAY_MANAGERS,
        "confirm-key-action",
    ),
    (
        "revoke confirmation",
        lambda t: url("integration_gateway_revoke", t.record.sent_by_id),
        GATEWAY_MANAGERS,
        "confirm-key-action",
    ),
]

CELLS = [pytest.param(page, role, id=f"{page[0]} as {role}") for page in PAGES for role in ROLES]


def signed_in(client, role):
    user = person_in_role(role)
    if user is not None:
        client.force_login(user)
    return client


def content_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8-sig")
    return response.content.decode()


def assert_refused(response, role):
    if role in ("anonymous", "gateway"):
        # Not staff: the admin sends them to its login page.
        assert response.status_code == 302, response.status_code
        assert response["Location"].startswith(reverse("admin:login"))
    else:
        assert response.status_code == 403, response.status_code


@pytest.mark.parametrize(("page", "role"), CELLS)
def test_each_back_office_page_opens_only_for_the_roles_that_may_see_it(
    client, traffic, page, role
):
    _name, build_url, allowed, expected_text = page
    response = signed_in(client, role).get(build_url(traffic))

    if role in allowed:
        assert response.status_code == 200, response.status_code
        assert expected_text.lower() in content_of(response).lower()
    else:
        assert_refused(response, role)


@pytest.mark.parametrize("role", ROLES)
def test_replay_is_offered_only_to_those_who_may_replay(client, traffic, role):
    response = signed_in(client, role).get(url("integration_integrationmessage_changelist"))
    if role not in STAFF_WHO_READ:
        assert_refused(response, role)
        return
    action_form = response.context["action_form"]  # None when no action is offered at all
    offered = [name for name, _ in action_form.fields["action"].choices] if action_form else []
    assert ("replay_selected" in offered) == (role in GATEWAY_MANAGERS)
    assert ("Replay selected failed messages" in response.content.decode()) == (
        role in GATEWAY_MANAGERS
    )


RECEIVED = [
    pytest.param(DeviceDataRecord, id="record"),
    pytest.param(IntegrationMessage, id="message"),
    pytest.param(DataValue, id="value"),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("model", RECEIVED)
def test_no_role_can_change_or_delete_received_data_through_the_admin(client, traffic, model, role):
    signed_in(client, role)
    before = list(model.objects.order_by("pk").values())
    row = model.objects.order_by("pk").first()
    name = f"{model._meta.app_label}_{model._meta.model_name}"

    change = client.post(url(f"{name}_change", row.pk), {"judge": "PASS", "status": "SUCCESS"})
    delete = client.post(url(f"{name}_delete", row.pk), {"post": "yes"})
    bulk = client.post(
        url(f"{name}_changelist"),
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )
    add = client.post(url(f"{name}_add"), {})

    for response in (change, delete, add):
        if role in ("anonymous", "gateway"):
            assert_refused(response, role)
        else:
            assert response.status_code == 403
    assert bulk.status_code in (200, 302, 403)
    assert list(model.objects.order_by("pk").values()) == before


# --- the groups' permissions, exactly ---------------------------------------------------------


def permissions_of(group_name: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=group_name).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


MASTER_DATA = [
    "execution.station",
    "execution.operation",
    "execution.dataspec",
    "execution.routeversion",
    "execution.routestep",
    "execution.run",
    "execution.unit",
    "execution.track",
    "execution.carrier",
    "execution.carriertrack",
    "integration.cfxreadingname",
]
SPC_DECISIONS = [
    "execution.spcsettings",
    "execution.spcexclusion",
    "execution.spcsignalacknowledgement",
]
RECEIVED_DATA = [
    "execution.datavalue",
    "integration.devicedatarecord",
    "integration.integrationmessage",
]


def _named(models, actions):
    return {
        f"{label.split('.')[0]}.{action}_{label.split('.')[1]}"
        for label in models
        for action in actions
    }


@pytest.mark.django_db
def test_quality_staff_may_view_data_close_holds_authorize_runs_and_acknowledge_and_nothing_else():
    assert permissions_of("Quality staff") == {
        *_named(MASTER_DATA + RECEIVED_DATA, ["view"]),
        "execution.view_hold",
        "execution.release_hold",
        "execution.view_failuredisposition",
        "execution.dispose_failed_unit",
        "execution.authorize_run",
        "execution.add_reasoncode",
        "execution.change_reasoncode",
        "execution.view_reasoncode",
        *_named(SPC_DECISIONS, ["add", "change", "view"]),
        "execution.delete_spcexclusion",
        "integration.acknowledge_message",
        "integration.view_trackingrecord",
    }


@pytest.mark.django_db
def test_integration_admins_may_replay_manage_gateways_and_master_data():
    assert permissions_of("Integration admins") == {
        "integration.add_devicedatarecord",
        "integration.replay_integrationmessage",
        "integration.acknowledge_message",
        "integration.view_gatewaykey",
        "integration.view_gateway",
        "integration.add_gateway",
        "integration.change_gateway",
        "execution.view_hold",
        "execution.view_failuredisposition",
        "execution.view_reasoncode",
        *_named(SPC_DECISIONS, ["view"]),
        "integration.view_trackingrecord",
        *_named(RECEIVED_DATA, ["view"]),
        *_named(MASTER_DATA, ["view", "add", "change", "delete"]),
    }


@pytest.mark.django_db
def test_operators_may_track_units_and_nothing_else():
    assert permissions_of("Operators") == {"execution.track_units"}


@pytest.mark.django_db
def test_gateways_have_no_back_office_permission():
    assert permissions_of("Gateways") == {"integration.add_devicedatarecord"}
