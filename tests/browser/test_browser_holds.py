"""The hold → disposition flow in a real headless Chromium (docs/holds.md): quality staff
follow the dashboard's open hold to the unit's hold and release it; integration admins
are not offered the form."""

import pytest

from execution.models import Hold, Unit
from tests.browser import test_browser
from tests.browser.test_browser import CHROMIUM, shoot, sign_in, sync_api
from tests.factories import person_in_role

page = test_browser.page  # the browser tab fixture

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="no chromium"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_quality_staff_close_an_open_hold_from_the_dashboard_with_a_disposition(page, traffic):
    hold = Hold.objects.get()
    person_in_role("quality staff")
    sign_in(page, "quality-staff")

    holds = page.locator("#dashboard-holds")
    sync_api.expect(holds).to_contain_text("Open holds: 1")
    sync_api.expect(holds.locator("tbody tr")).to_have_count(1)
    sync_api.expect(holds.locator("tbody tr").first).to_contain_text("SN-0001")
    shoot(page, "holds-1-dashboard")

    holds.locator(f'a[href*="/hold/{hold.pk}/change/"]').click()
    page.wait_for_selector("#disposition-form")
    sync_api.expect(page.locator("#collected-values")).to_contain_text("260")
    page.check("#disposition-form input[value=RELEASE]")
    page.fill("#disposition-form textarea[name=note]", "Thermocouple fault; board re-measured OK")
    shoot(page, "holds-2-disposition")
    page.click("#disposition-form input[type=submit]")

    sync_api.expect(page.locator(".messagelist")).to_contain_text("closed: release")
    sync_api.expect(page.locator("#disposition-form")).to_have_count(0)
    hold.refresh_from_db()
    assert hold.disposition == Hold.Disposition.RELEASE
    assert hold.closed_by.username == "quality-staff"
    assert Unit.objects.get(sn="SN-0001").status == Unit.Status.QUEUED
    page.goto("/admin/")
    sync_api.expect(page.locator("#dashboard-holds")).to_contain_text("No unit is on hold.")


def test_integration_admins_see_the_hold_but_are_not_offered_the_disposition(page, traffic):
    hold = Hold.objects.get()
    person_in_role("integration admin")
    sign_in(page, "integration-admin")

    page.goto(f"/admin/execution/hold/{hold.pk}/change/")

    sync_api.expect(page.locator("#collected-values")).to_contain_text("260")
    sync_api.expect(page.locator("#disposition-form")).to_have_count(0)
    response = page.request.post(
        f"/admin/execution/hold/{hold.pk}/close/",
        form={"disposition": "RELEASE", "note": "not mine to decide"},
    )
    assert response.status == 403
    assert Hold.objects.get().is_open
