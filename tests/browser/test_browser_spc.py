"""The spec page's SPC chart in a real headless Chromium (fixtures from
tests/browser/test_browser.py)."""

from datetime import timedelta
from pathlib import Path

import pytest

from execution.models import DataValue
from tests.browser.test_browser import (  # noqa: F401 (fixture)
    CHROMIUM,
    page,
    shoot,
    sign_in,
    sync_api,
)
from tests.factories import BASE_TIME, person_in_role

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs chromium at {CHROMIUM}"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Thirty steady readings, then a pause, then six rising ones (Nelson rule 3).
STEADY = [245.0, 245.6, 245.7, 245.3, 244.5, 244.4, 244.9, 245.2, 245.3, 244.8] * 3
RISING = [245.5, 245.9, 246.3, 246.8, 247.2, 247.7]


def add_readings(line) -> None:
    times = [BASE_TIME + timedelta(minutes=i) for i in range(len(STEADY))]
    times += [BASE_TIME + timedelta(hours=4, minutes=i) for i in range(len(RISING))]
    DataValue.objects.bulk_create(
        DataValue(
            spec=line.peak,
            track=line.track,
            station=line.track.station,
            collected_at=moment,
            value_number=number,
            limits=line.peak.limits,
            judge="PASS",
            source="AUTO",
            source_ref=f"device-data:browser-spc-{index}",
        )
        for index, (moment, number) in enumerate(zip(times, STEADY + RISING, strict=True))
    )


def test_quality_staff_see_the_i_mr_chart_with_labelled_limits_and_figures(page, line):  # noqa: F811
    add_readings(line)
    person_in_role("quality staff")
    sign_in(page, "quality-staff")

    page.goto(f"/admin/execution/dataspec/{line.peak.pk}/change/")

    chart = page.locator("svg.mes-spc-chart")
    sync_api.expect(chart).to_be_visible()
    sync_api.expect(chart.locator("circle.mes-point")).to_have_count(36)
    individuals = chart.locator("g.mes-panel-individuals")
    for label in ("UCL", "X̄", "LCL", "USL 250", "LSL 240", "target 245"):
        sync_api.expect(individuals.locator("text.mes-limit-label", has_text=label)).to_have_count(
            1
        )
    moving_range = chart.locator("g.mes-panel-moving-range")
    sync_api.expect(moving_range.locator("line.mes-limit")).to_have_count(2)
    # Observation order: the four-hour stop is a labelled break line, not width.
    sync_api.expect(chart.locator("g.mes-break")).to_have_count(1)
    sync_api.expect(chart.locator("text.mes-break-label")).to_have_text("pause 3 h 31 min")
    sync_api.expect(chart.locator("circle.mes-violation").first).to_be_visible()

    figures = page.locator('table[aria-label="Capability figures"]')
    sync_api.expect(figures).to_contain_text("Cpk")
    sync_api.expect(figures).to_contain_text("36")
    # Beside the chart, not under it.
    assert figures.bounding_box()["x"] > chart.bounding_box()["x"] + 400
    sync_api.expect(page.locator("ul.mes-capability-warnings")).to_contain_text("Not in control")
    histogram = page.locator("svg.mes-spc-histogram")
    sync_api.expect(histogram).to_be_visible()
    assert histogram.bounding_box()["x"] > chart.bounding_box()["x"] + 400
    rising = page.locator("tr.mes-violation-row", has_text="steadily increasing")
    sync_api.expect(rising).to_have_count(2)  # 244.8 then the six: two points complete it
    sync_api.expect(rising.last).to_contain_text("247.7")
    shoot(page, "quality-4-spc-chart")

    page.select_option("#spc-values", "50")
    page.fill("#spc-from", "2026-01-24T14:00")
    page.click('#spc-window input[type="submit"]')
    page.wait_for_url("**values=50**")
    sync_api.expect(chart.locator("circle.mes-point")).to_have_count(6)
    sync_api.expect(figures).to_contain_text("too few values (n = 6 < 25)")
    shoot(page, "quality-5-spc-window")

    # The X̄-R chart of the same spec, chosen on the page; the window controls keep it.
    page.fill("#spc-from", "")
    page.select_option("#spc-chart", "xbar-r")
    page.fill("#spc-subgroup", "6")
    page.click('#spc-window input[type="submit"]')
    page.wait_for_url("**chart=xbar-r**")
    sync_api.expect(chart).to_have_attribute("data-chart", "xbar-r")
    sync_api.expect(chart.locator("circle.mes-subgroup-mean")).to_have_count(6)
    sync_api.expect(page.locator("#spc-values")).to_have_value("50")
    shoot(page, "quality-6-spc-xbar-r")
