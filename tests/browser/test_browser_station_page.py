"""The station page in a real headless Chromium, at a 1280 × 800 touchscreen's size: an
operator signs in with their own account and takes units of the route line through the
whole route with the keyboard only (a barcode scanner types and presses Enter), including
a manual reading beyond a HOLD alarm that holds its unit, whose next track-in is refused.

Uses the browser fixtures of tests/browser/test_browser.py (Debian's chromium, playwright,
pytest-django's live server); skipped where no chromium is installed.
"""

from pathlib import Path

import pytest

from execution.models import DataSpec, Track, Unit
from tests.browser.test_browser import (  # noqa: F401 (fixture)
    CHROMIUM,
    PASSWORD,
    page,
    shoot,
    sync_api,
)
from tests.factories import UnitFactory, UserFactory
from tests.route_line import build_route_line

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"needs Debian's chromium at {CHROMIUM}"
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

expect = sync_api.expect if sync_api else None


@pytest.fixture
def station_line(db):
    """The route line with its reflow peak entered by hand (alarm action HOLD) and two
    units; an operator who is not staff."""
    line = build_route_line()
    line.peak.method = DataSpec.Method.MANUAL
    line.peak.save()
    UnitFactory(sn="SN-GOOD", run=line.run)
    UnitFactory(sn="SN-HOT", run=line.run)
    UserFactory(username="op-anna", groups=["Operators"])
    return line


def scan(tab, sn: str) -> None:
    """What a barcode scanner does: types into the focused field and presses Enter."""
    expect(tab.locator("#id_sn")).to_be_focused()
    tab.keyboard.type(sn)
    tab.keyboard.press("Enter")
    expect(tab.locator("#unit-sn")).to_have_text(sn)


def track_in_by_keyboard(tab, station: str, sn: str) -> None:
    tab.goto(f"/station/{station}/")
    scan(tab, sn)
    expect(tab.locator("#track-in-button")).to_be_focused()
    tab.keyboard.press("Enter")
    expect(tab.locator("#notice")).to_contain_text(f"{sn} tracked in at {station}")


def pass_by_keyboard(tab, sn: str) -> None:
    expect(tab.locator("#pass-button")).to_be_focused()
    tab.keyboard.press("Enter")
    expect(tab.locator("#notice")).to_contain_text(f"{sn} tracked out")


def test_an_operator_takes_units_through_the_route_by_keyboard_and_a_hot_reading_holds_one(
    page,  # noqa: F811
    station_line,
):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/station/SPI-01/")
    page.wait_for_url("**/station/login/?next=/station/SPI-01/")
    expect(page.locator("#id_username")).to_be_focused()
    page.keyboard.type("op-anna")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("SPI-01 — " + station_line.spi.name)

    # SN-GOOD: paste inspection and reflow (its peak typed in range), then the manual
    # inspection, where the visual check is chosen on the keyboard: DONE.
    track_in_by_keyboard(page, "SPI-01", "SN-GOOD")
    expect(page.locator("#queue")).to_contain_text("SN-GOOD")
    shoot(page, "station-page-1-in-station")
    pass_by_keyboard(page, "SN-GOOD")
    expect(page.locator("#unit-status")).to_have_text("Queued")

    track_in_by_keyboard(page, "OVEN-01", "SN-GOOD")
    page.keyboard.type("245")
    page.keyboard.press("Enter")  # Check: the server judges it
    expect(page.locator('tr[data-spec="Peak Temperature"] .judge')).to_have_text("PASS")
    pass_by_keyboard(page, "SN-GOOD")

    track_in_by_keyboard(page, "INSPECT-01", "SN-GOOD")
    page.keyboard.type("Y")  # the visual check's select: "Yes / OK"
    page.keyboard.press("Enter")
    expect(page.locator('tr[data-spec="Visual Check"] .judge')).to_have_text("PASS")
    pass_by_keyboard(page, "SN-GOOD")
    expect(page.locator("#unit-status")).to_have_text("Done")

    # SN-HOT: a peak of 260 °C, beyond its HOLD alarm, shown before the track-out.
    track_in_by_keyboard(page, "SPI-01", "SN-HOT")
    pass_by_keyboard(page, "SN-HOT")
    track_in_by_keyboard(page, "OVEN-01", "SN-HOT")
    page.keyboard.type("260")
    page.keyboard.press("Tab")  # leaving the field: the server judges it, the page stays
    judged = page.locator('tr[data-spec="Peak Temperature"] .judge')
    expect(judged).to_contain_text("opens a hold")
    expect(page.locator("#check-button")).to_be_focused()
    page.keyboard.press("Enter")  # Check: the same judgement, drawn by the page
    expect(judged).to_contain_text("FAIL")
    expect(judged).to_contain_text("opens a hold")
    shoot(page, "station-page-2-out-of-spec")
    pass_by_keyboard(page, "SN-HOT")
    expect(page.locator("#unit-status")).to_have_text("On hold")
    expect(page.locator("#unit-hold")).to_contain_text("Peak Temperature")

    # The held unit's track-in at the next station is refused, in words with its code.
    page.goto("/station/INSPECT-01/")
    scan(page, "SN-HOT")
    page.keyboard.press("Enter")  # the Track in button
    expect(page.locator("#refusal")).to_contain_text("UNIT_ON_HOLD")
    shoot(page, "station-page-3-refused")

    good, hot = Unit.objects.get(sn="SN-GOOD"), Unit.objects.get(sn="SN-HOT")
    assert (good.status, hot.status) == (Unit.Status.DONE, Unit.Status.ON_HOLD)
    operators = set(Track.objects.values_list("operator_id", flat=True))
    assert operators == {"op-anna"}
    assert Track.objects.filter(unit=good).count() == 3
