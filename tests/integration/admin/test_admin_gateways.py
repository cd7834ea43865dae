"""Gateways managed in the back office by integration admins (docs/operations.md: permissions).

A key made here must authenticate against the API exactly as one from
`create_gateway`; re-key and revoke must take effect at once; and the page
must reach no other user and no staff or superuser flag.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.test import APIClient

from integration.models import Gateway, GatewayKey
from tests.factories import UserFactory, gateway_with_key, person_in_role

User = get_user_model()
WHOAMI = "/api/integration/whoami"
LIST_URL = reverse("admin:integration_gateway_changelist")
ADD_URL = reverse("admin:integration_gateway_add")


def change_url(user):
    return reverse("admin:integration_gateway_change", args=[user.pk])


def rekey_url(user):
    return reverse("admin:integration_gateway_rekey", args=[user.pk])


def revoke_url(user):
    return reverse("admin:integration_gateway_revoke", args=[user.pk])


def whoami(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(WHOAMI)


def shown_key(response) -> str:
    match = re.search(
        r'<p class="mes-key-box" id="gateway-key">([^<]+)</p>', response.content.decode()
    )
    assert match, "the key is not on the page"
    return match.group(1)


@pytest.fixture
def old_gateway(db):
    user, key = gateway_with_key("gw-aoi-1")
    user.key = key
    return user


# --- create ------------------------------------------------------------------------------------


def test_creating_a_gateway_shows_its_key_once_and_the_key_works_against_the_api(integration):
    response = integration.post(ADD_URL, {"username": "gw-spi-1"}, follow=True)

    assert response.status_code == 200
    key = shown_key(response)
    answer = whoami(key)
    assert answer.status_code == 200
    assert answer.json()["data"] == {
        "name": "gw-spi-1",
        "kind": "gateway",
        "canIngest": True,
        "canRead": False,
    }
    assert "no-store" in response["Cache-Control"]

    user = User.objects.get(username="gw-spi-1")
    assert list(user.groups.values_list("name", flat=True)) == ["Gateways"]
    assert not (user.is_staff or user.is_superuser or user.has_usable_password())
    # Never shown again: not on its page, not in the list, not stored in clear.
    for page in (integration.get(change_url(user)), integration.get(LIST_URL)):
        assert key not in page.content.decode()
        assert key.split(".")[1] not in page.content.decode()
    assert GatewayKey.objects.get(user=user).digest != key


def test_a_gateway_cannot_take_the_name_of_an_existing_user(integration):
    staff = UserFactory(username="boss", is_staff=True)

    response = integration.post(ADD_URL, {"username": "boss"})

    assert response.status_code == 200
    assert "A user with that username already exists." in str(
        response.context["adminform"].form.errors["username"]
    )
    staff.refresh_from_db()
    assert staff.is_staff and not staff.groups.exists()
    assert not GatewayKey.objects.filter(user=staff).exists()


def test_a_gateway_can_be_renamed_and_keeps_its_key(integration, old_gateway):
    response = integration.post(change_url(old_gateway), {"username": "gw-aoi-2"})

    assert response.status_code == 302
    assert whoami(old_gateway.key).json()["data"]["name"] == "gw-aoi-2"


# --- list --------------------------------------------------------------------------------------


def test_the_list_shows_gateways_with_key_state_and_last_use(integration, old_gateway):
    revoked, revoked_key = gateway_with_key("gw-old")
    integration.post(revoke_url(revoked))
    whoami(old_gateway.key)

    response = integration.get(LIST_URL)
    page = response.content.decode()

    rows = {gateway.username: gateway for gateway in response.context["cl"].result_list}
    assert set(rows) == {"gw-aoi-1", "gw-old"}
    assert rows["gw-aoi-1"].gateway_key.last_used_at is not None
    assert 'mes-badge-SUCCESS">active<' in page and 'mes-badge-REVOKED">revoked<' in page
    assert "never" in page  # gw-old has not been used
    assert old_gateway.key.split(".")[0] + "…" in page  # the prefix, never the secret


def test_the_list_reaches_no_user_who_is_not_a_gateway(integration, old_gateway):
    UserFactory(username="plain-user")
    UserFactory(username="root", is_staff=True, is_superuser=True)
    # Put in the Gateways group, a staff account is still out of reach.
    UserFactory(username="staff-in-gateways", is_staff=True, groups=["Gateways"])

    response = integration.get(LIST_URL)

    assert [gateway.username for gateway in response.context["cl"].result_list] == ["gw-aoi-1"]
    assert set(Gateway.objects.values_list("username", flat=True)) == {"gw-aoi-1"}


@pytest.mark.parametrize(
    "who", ["plain-user", "root", "staff-in-gateways", "integration-admin", "quality-staff"]
)
def test_other_users_cannot_be_opened_rekeyed_or_revoked_through_the_gateway_admin(
    integration, who
):
    other = {
        "plain-user": lambda: UserFactory(username="plain-user"),
        "root": lambda: UserFactory(username="root", is_staff=True, is_superuser=True),
        "staff-in-gateways": lambda: UserFactory(
            username="staff-in-gateways", is_staff=True, groups=["Gateways"]
        ),
        "integration-admin": lambda: User.objects.get(username="integration-admin"),
        "quality-staff": lambda: person_in_role("quality staff"),
    }[who]()
    before = User.objects.filter(pk=other.pk).values().get()

    opened = integration.get(change_url(other))
    renamed = integration.post(change_url(other), {"username": "hijacked"})
    rekeyed = integration.post(rekey_url(other))
    revoked = integration.post(revoke_url(other))

    assert opened.status_code == 302 and opened["Location"] == reverse("admin:index")
    assert renamed.status_code == 302
    assert rekeyed.status_code == 404 and revoked.status_code == 404
    assert User.objects.filter(pk=other.pk).values().get() == before
    assert not GatewayKey.objects.filter(user=other).exists()


def test_the_change_form_cannot_set_staff_superuser_or_groups(integration, old_gateway):
    response = integration.post(
        change_url(old_gateway),
        {
            "username": "gw-aoi-1",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": ["1", "2", "3"],
            "password": "pbkdf2_sha256$1$x$y",
        },
    )

    assert response.status_code == 302
    old_gateway.refresh_from_db()
    assert not old_gateway.is_staff and not old_gateway.is_superuser
    assert list(old_gateway.groups.values_list("name", flat=True)) == ["Gateways"]
    assert not old_gateway.has_usable_password()
    form = integration.get(change_url(old_gateway)).context["adminform"].form
    assert list(form.fields) == ["username"]


def test_gateways_cannot_be_deleted_through_the_admin(integration, old_gateway):
    response = integration.post(
        reverse("admin:integration_gateway_delete", args=[old_gateway.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert User.objects.filter(pk=old_gateway.pk).exists()


# --- re-key and revoke -------------------------------------------------------------------------


def test_rekey_shows_a_new_key_and_the_old_one_stops_working(integration, old_gateway):
    confirm = integration.get(rekey_url(old_gateway))
    assert confirm.status_code == 200
    assert whoami(old_gateway.key).status_code == 200  # asking is not doing

    response = integration.post(rekey_url(old_gateway), follow=True)

    new_key = shown_key(response)
    assert new_key != old_gateway.key
    assert "no-store" in response["Cache-Control"]
    assert whoami(old_gateway.key).status_code == 401
    assert whoami(new_key).json()["data"]["name"] == "gw-aoi-1"


def test_revoke_makes_the_key_fail_at_once(integration, old_gateway):
    confirm = integration.get(revoke_url(old_gateway))
    assert confirm.status_code == 200
    assert whoami(old_gateway.key).status_code == 200

    response = integration.post(revoke_url(old_gateway), follow=True)

    assert response.redirect_chain[-1][0] == change_url(old_gateway)
    assert "The key of gw-aoi-1 is revoked." in response.content.decode()
    assert whoami(old_gateway.key).status_code == 401
    assert GatewayKey.objects.get(user=old_gateway).revoked_at is not None


def test_a_revoked_gateway_can_be_given_a_new_key(integration, old_gateway):
    integration.post(revoke_url(old_gateway))

    new_key = shown_key(integration.post(rekey_url(old_gateway), follow=True))

    assert whoami(new_key).status_code == 200
    assert whoami(old_gateway.key).status_code == 401


def test_rekey_and_revoke_are_written_to_the_gateway_history(integration, old_gateway):
    integration.post(rekey_url(old_gateway))
    integration.post(revoke_url(old_gateway))

    history = integration.get(
        reverse("admin:integration_gateway_history", args=[old_gateway.pk])
    ).content.decode()

    assert "Re-keyed: the previous key no longer works." in history
    assert "Key revoked." in history


def issued_key_url(user):
    return reverse("admin:integration_gateway_issued_key", args=[user.pk])


@pytest.mark.parametrize("action", ["create", "re-key"])
def test_reloading_the_page_with_a_new_key_shows_no_key_and_issues_none(
    integration, old_gateway, action
):
    if action == "create":
        posted = integration.post(ADD_URL, {"username": "gw-spi-1"})
        gateway = User.objects.get(username="gw-spi-1")
    else:
        posted = integration.post(rekey_url(old_gateway))
        gateway = old_gateway
    # Post/Redirect/Get: the POST answers with a redirect, the key is on the page it leads to.
    assert posted.status_code == 302
    assert posted["Location"] == issued_key_url(gateway)
    key = shown_key(integration.get(posted["Location"]))
    digest = GatewayKey.objects.get(user=gateway).digest

    reloaded = integration.get(issued_key_url(gateway), follow=True)

    assert key not in reloaded.content.decode()
    assert "was shown once" in reloaded.content.decode()
    assert reloaded.redirect_chain[-1][0] == change_url(gateway)
    assert GatewayKey.objects.get(user=gateway).digest == digest
    assert whoami(key).status_code == 200


def test_the_key_is_not_left_in_the_session_once_shown(integration, old_gateway):
    integration.post(rekey_url(old_gateway), follow=True)

    assert not [name for name in dict(integration.session.items()) if "gateway-key" in name]


def test_revoke_is_offered_only_while_the_key_is_active(integration, old_gateway):
    assert 'id="gateway-revoke"' in integration.get(change_url(old_gateway)).content.decode()

    integration.post(revoke_url(old_gateway))

    page = integration.get(change_url(old_gateway)).content.decode()
    assert 'id="gateway-revoke"' not in page
    assert 'id="gateway-rekey"' in page
    asked_again = integration.get(revoke_url(old_gateway), follow=True)
    assert "has no active key to revoke" in asked_again.content.decode()


def test_gateways_are_one_entry_in_the_menu(integration):
    page = integration.get(reverse("admin:index")).content.decode()

    assert LIST_URL in page
    assert "/admin/integration/gatewaykey/" not in page
    assert "Gateway keys" not in page


def test_quality_staff_can_neither_rekey_nor_revoke(client, old_gateway):
    client.force_login(person_in_role("quality staff"))

    assert client.post(rekey_url(old_gateway)).status_code == 403
    assert client.post(revoke_url(old_gateway)).status_code == 403
    assert client.post(ADD_URL, {"username": "gw-rogue"}).status_code == 403
    assert whoami(old_gateway.key).status_code == 200
    assert not User.objects.filter(username="gw-rogue").exists()
