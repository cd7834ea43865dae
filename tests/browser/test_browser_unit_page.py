"""The unit's page in a real headless Chromium: quality staff find a unit from the admin
index and read its history; staff without the view permission are refused.

Uses the browser fixtures of tests/browser/test_browser.py (Debian's chromium, playwright,
pytest-django's live server); skipped where no chromium is installed.
"""

from pathlib import Path

import pytest

from tests.browser.test_browser import (  # noqa: F401 (fixture)
    CHROMIUM,
    page,
    shoot,
    sign_in,
    sync_api,
)
from tests.factories import UserFactory, person_in_role

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"needs Debian's chromium at {CHROMIUM}"
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_quality_staff_search_a_serial_and_read_the_units_history(page, traffic, line):  # noqa: F811
    person_in_role("quality staff")
    sign_in(page, "quality-staff")

    page.fill("#unit-search-sn", "SN-0001")
    page.click("#unit-search input[type=submit]")
    page.wait_for_url(f"**/admin/execution/unit/{line.unit.pk}/page/")

    sync_api.expect(page.locator("#unit-sn")).to_have_text("SN-0001")
    sync_api.expect(page.locator("#unit-status")).to_contain_text("ON HOLD")
    sync_api.expect(page.locator("#unit-route-steps")).to_contain_text("step 40: OP-REFLOW")
    sync_api.expect(page.locator('[data-count="conflict"]')).to_have_text("1")
    sync_api.expect(page.locator('[data-count="duplicate"]')).to_have_text("1")
    hot = page.locator("#unit-history li.mes-row-fail")
    sync_api.expect(hot).to_have_count(1)
    sync_api.expect(hot).to_contain_text("240 – 250 C; target 245; alarm 235 – 255 (HOLD)")
    kinds = page.locator("#unit-history > li").evaluate_all(
        "rows => rows.map(row => row.dataset.kind)"
    )
    assert {"TRACK_IN", "RECORD", "VALUE", "MESSAGE", "HOLD_OPENED"} <= set(kinds)
    shoot(page, "unit-page-1-history")

    # Each row opens its own page: here the failing value's.
    hot.locator("a").first.click()
    page.wait_for_url("**/admin/execution/datavalue/*/change/")
    sync_api.expect(page.locator("#content")).to_contain_text("260")

    # And the CSV link answers a file.
    page.go_back()
    with page.expect_download() as download:
        page.click("#unit-history-csv")
    assert download.value.suggested_filename == "unit-SN-0001-history.csv"


def test_staff_without_permission_to_view_units_are_refused_the_unit_page(page, line):  # noqa: F811
    UserFactory(username="clerk", is_staff=True)
    sign_in(page, "clerk")

    assert page.locator("#unit-search").count() == 0
    response = page.goto(f"/admin/execution/unit/{line.unit.pk}/page/")

    assert response.status == 403
