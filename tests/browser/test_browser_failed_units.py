"""A failed unit's disposition in a real headless Chromium (docs/back-office.md): quality
staff follow the dashboard's failed unit to its disposition, send it to rework at a step
of its route, and read the journey on the unit's page."""

import pytest

from execution.models import FailureDisposition, Unit
from tests.browser import test_browser
from tests.browser.test_browser import CHROMIUM, shoot, sign_in, sync_api
from tests.factories import person_in_role
from tests.route_line import fail_at_first_step

page = test_browser.page  # the browser tab fixture

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="no chromium"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def failed_unit(line, sn="SN-B-0001"):
    return fail_at_first_step(line, sn, operator_id="op-7").unit


def test_quality_staff_send_a_failed_unit_to_rework_from_the_dashboard(page, route_line):
    unit = failed_unit(route_line)
    person_in_role("quality staff")
    sign_in(page, "quality-staff")

    failed = page.locator("#dashboard-failed-units")
    sync_api.expect(failed).to_contain_text("Failed units waiting for a disposition: 1")
    sync_api.expect(failed.locator("tbody tr").first).to_contain_text("BRIDGE at U7")
    shoot(page, "failed-1-dashboard")

    failed.locator("a.mes-dispose-link").click()
    page.wait_for_selector("#failure-disposition-form")
    sync_api.expect(page.locator("#failed-pass")).to_contain_text("step 10 at SPI-01")
    page.check("#failure-disposition-form input[value=REWORK]")
    # A note of blanks first: the service refuses it, and the form says why.
    page.select_option("#id_rework_step_no", "20")
    page.fill("#failure-disposition-form textarea[name=note]", "   ")
    page.click("#failure-disposition-form input[type=submit]")
    sync_api.expect(page.locator("#failure-disposition-form")).to_contain_text(
        "Say why in the note."
    )
    page.check("#failure-disposition-form input[value=REWORK]")
    page.select_option("#id_rework_step_no", "20")
    page.fill("#failure-disposition-form textarea[name=note]", "Bridge removed by hand")
    shoot(page, "failed-2-disposition")
    page.click("#failure-disposition-form input[type=submit]")

    # Back on the unit's page: the decision, the journey and no more button.
    sync_api.expect(page.locator(".messagelist")).to_contain_text("rework at step 20")
    sync_api.expect(page.locator("#unit-status")).to_contain_text("In rework")
    sync_api.expect(page.locator("#unit-current-step")).to_contain_text("step 20")
    sync_api.expect(page.locator("#unit-dispositions")).to_contain_text("Bridge removed by hand")
    sync_api.expect(page.locator("#unit-passes")).to_contain_text("BRIDGE")
    sync_api.expect(page.locator("#unit-dispose")).to_have_count(0)
    shoot(page, "failed-3-unit-page")
    decision = FailureDisposition.objects.get()
    assert (decision.rework_step_no, decision.decided_by.username) == (20, "quality-staff")
    assert Unit.objects.get(pk=unit.pk).status == Unit.Status.REWORK
    page.goto("/admin/")
    sync_api.expect(page.locator("#dashboard-failed-units")).to_contain_text(
        "No unit is waiting for a disposition."
    )
