"""Acknowledging a conflict in a real headless Chromium (issue 14), with the fixtures of
tests/browser/test_browser.py: an integration admin acknowledges it from the dashboard's figure,
and a person without the permission is offered no form and refused when posting anyway."""

from django.contrib.auth.models import Permission

from integration.models import IntegrationMessage
from tests.browser.test_browser import page, pytestmark, shoot, sign_in, sync_api  # noqa: F401
from tests.factories import UserFactory, person_in_role

NOTE = "Second reading was a gateway retry with a stale buffer; first one is right."


def test_integration_admin_acknowledges_a_conflict_from_the_dashboard(page, traffic):  # noqa: F811
    person_in_role("integration admin")
    sign_in(page, "integration-admin")

    conflicts = page.locator('[data-figure="conflicts"]')
    sync_api.expect(conflicts.locator(".mes-number")).to_have_text("1")
    conflicts.click()
    page.wait_for_url("**/integrationmessage/?**acknowledged=no**")
    page.click(f'#result_list a[href*="/{traffic.conflict.pk}/change/"] >> nth=0')

    page.fill("#acknowledge textarea[name=note]", NOTE)
    shoot(page, "acknowledge-1-conflict-with-note")
    page.click("#acknowledge-submit")

    sync_api.expect(page.locator(".messagelist .success")).to_contain_text("1 message(s)")
    acknowledgement = page.locator("#acknowledgement")
    sync_api.expect(acknowledgement).to_contain_text("integration-admin")
    sync_api.expect(acknowledgement).to_contain_text(NOTE)
    sync_api.expect(page.locator("#acknowledge-form")).to_have_count(0)
    shoot(page, "acknowledge-2-acknowledged")
    traffic.conflict.refresh_from_db()
    assert traffic.conflict.acknowledged_by.username == "integration-admin"

    page.goto("/admin/")
    sync_api.expect(conflicts.locator(".mes-number")).to_have_text("0")
    page.goto("/admin/integration/integrationmessage/?acknowledged=yes")
    rows = page.locator("#result_list tbody tr")
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first).to_contain_text("acknowledged")


def test_a_person_without_the_permission_gets_no_form_and_is_refused(page, traffic):  # noqa: F811
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_integrationmessage"))
    sign_in(page, "viewer")

    page.goto("/admin/integration/integrationmessage/")
    options = page.locator("select[name=action] option")
    sync_api.expect(options.filter(has_text="Acknowledge")).to_have_count(0)
    page.goto(f"/admin/integration/integrationmessage/{traffic.conflict.pk}/change/")
    sync_api.expect(page.locator(".field-status_badge")).to_contain_text("CONFLICT")
    sync_api.expect(page.locator("#acknowledge-form")).to_have_count(0)
    shoot(page, "acknowledge-3-no-permission")

    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"/admin/integration/integrationmessage/{traffic.conflict.pk}/acknowledge/",
        form={"csrfmiddlewaretoken": token, "note": "not mine to say"},
    )

    assert response.status == 403
    assert not IntegrationMessage.objects.filter(acknowledged_at__isnull=False).exists()
