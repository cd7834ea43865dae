"""The back office in a real headless Chromium, as quality staff and integration admins use it.

Debian's chromium (installed by .ci/run) driven by playwright against
pytest-django's live server. Screenshots of each step go to `screenshots/`
(ignored by git). Skipped where no chromium is installed.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from execution.models import Track, Unit
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.factories import person_in_role

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "screenshots"
PASSWORD = "correct-horse-battery"  # UserFactory's

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"needs Debian's chromium at {CHROMIUM}"
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def page(db, live_server):
    """A browser tab on the live server, started after the test's database is ready.

    Playwright's sync API runs an event loop in this thread, in which Django would
    refuse the tests' own (synchronous) ORM calls; they are safe here. While it
    runs, Django hands this thread other connection objects (they are kept per
    context), so the browser starts only once the database and its serialized
    rollback are set up, and those connections are closed before it stops.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(
                base_url=live_server.url, viewport={"width": 1400, "height": 900}
            )
            context.set_default_timeout(15_000)
            yield context.new_page()
            context.close()
            browser.close()
            connections.close_all()


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, username: str) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def test_quality_staff_follow_the_failed_figure_and_compare_a_conflicts_payloads(page, traffic):
    person_in_role("quality staff")
    sign_in(page, "quality-staff")

    dashboard = page.locator('[aria-label="Quality dashboard"]')
    sync_api.expect(dashboard).to_be_visible()
    failed_figure = page.locator('[data-figure="failed-unresolved"]')
    sync_api.expect(failed_figure.locator(".mes-number")).to_have_text("1")
    shoot(page, "quality-1-dashboard")

    failed_figure.click()
    page.wait_for_url("**/integrationmessage/?**")
    rows = page.locator("#result_list tbody tr")
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first).to_contain_text("UNIT_NOT_FOUND")
    sync_api.expect(rows.first).to_contain_text("unresolved")
    shoot(page, "quality-2-failed-messages")

    page.goto("/admin/")
    page.click('[data-figure="conflicts"]')
    page.click(f'#result_list a[href*="/{traffic.conflict.pk}/change/"] >> nth=0')
    stored = page.locator("#conflict-payloads > div").nth(0)
    incoming = page.locator("#conflict-payloads > div").nth(1)
    sync_api.expect(stored).to_contain_text('"valueNumber": 245')
    sync_api.expect(incoming).to_contain_text('"valueNumber": 246')
    changed = page.locator("#conflict-diff tr.mes-diff-changed")
    sync_api.expect(changed).to_have_count(1)
    sync_api.expect(changed).to_contain_text("data[0].valueNumber")
    # Side by side: the incoming payload is to the right of the stored one.
    assert incoming.bounding_box()["x"] > stored.bounding_box()["x"] + 100
    shoot(page, "quality-3-conflict")


def test_integration_admin_creates_the_missing_unit_and_replays_the_failed_message(
    page, traffic, line
):
    person_in_role("integration admin")
    sign_in(page, "integration-admin")

    # The unit the gateway named, created in the admin, and its pass at the reflow oven.
    page.goto("/admin/execution/unit/add/")
    page.fill("#id_sn", "SN-LATE")
    page.fill("#id_run", str(line.run.pk))
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    unit = Unit.objects.get(sn="SN-LATE")

    page.goto("/admin/execution/track/add/")
    page.fill("#id_unit", str(unit.pk))
    page.fill("#id_step_no", "40")
    page.select_option("#id_station", label="REFLOW-01")
    page.fill("#id_in_at_0", "2026-01-24")
    page.fill("#id_in_at_1", "09:59:00")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert Track.objects.filter(unit=unit, step_no=40, station=line.station).exists()

    page.goto("/admin/integration/integrationmessage/?resolved=no")
    page.check(f'input[name=_selected_action][value="{traffic.failed.pk}"]')
    page.select_option("select[name=action]", label="Replay selected failed messages")
    shoot(page, "integration-1-replay-selected")
    page.click("button[name=index]")

    success = page.locator(".messagelist .success")
    sync_api.expect(success).to_contain_text("replayed")
    sync_api.expect(success).to_contain_text("written with 1 value(s)")
    shoot(page, "integration-2-replayed")

    record = DeviceDataRecord.objects.get(event_id="evt-late-unit")
    assert record.track.unit == unit
    traffic.failed.refresh_from_db()
    assert traffic.failed.resolved_at is not None

    page.goto(f"/admin/integration/integrationmessage/{traffic.failed.pk}/change/")
    sync_api.expect(page.locator(".field-resolution")).to_contain_text("resolved")
    retry = IntegrationMessage.objects.get(replay_of=traffic.failed)
    sync_api.expect(page.locator(".field-replays_links")).to_contain_text(f"#{retry.pk}")
    shoot(page, "integration-3-resolved")

    page.goto("/admin/integration/integrationmessage/?resolved=no")
    sync_api.expect(page.locator("#result_list")).to_have_count(0)


@pytest.fixture(autouse=True, scope="module")
def _no_stale_screenshots():
    # Each run's pictures replace the last run's, so what is in the folder is current.
    if SCREENSHOTS.exists() and os.environ.get("KEEP_SCREENSHOTS") is None:
        shutil.rmtree(SCREENSHOTS)
    yield
