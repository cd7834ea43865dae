"""The capability panel of a spec's page: histogram with normal curve, Cpm, PPM, warnings."""

import re
import statistics

import pytest

from execution.spc import capability, cpm, expected_ppm, imr_limits
from tests.execution.test_spc_chart import (
    STEADY,
    add_values,
    elements,
    figures_of,
    parsed,
    spec_page,
    title_of,
)


def histogram_of(page: str):
    match = re.search(r'<svg[^>]*class="mes-spc-histogram".*?</svg>', page, flags=re.S)
    assert match, "no histogram on the page"
    return parsed(match.group(0))


def ppm_of(page: str) -> dict[str, list[str]]:
    table = re.search(r'<table aria-label="Parts per million">.*?</table>', page, flags=re.S)
    assert table, "no PPM table"
    rows = re.findall(r'<tr class="mes-ppm"><th scope="row">([^<]+)</th>(.*?)</tr>', table[0])
    return {label: re.findall(r"<td[^>]*>([^<]*)</td>", cells) for label, cells in rows}


def warnings_of(page: str) -> list[str]:
    block = re.search(r'<ul class="mes-capability-warnings"[^>]*>(.*?)</ul>', page, flags=re.S)
    return re.findall(r"<li>([^<]+)</li>", block[1]) if block else []


def test_the_histogram_counts_every_value_and_marks_the_spec_limits(integration, line):
    add_values(line.peak, line.track, STEADY * 3)

    page = spec_page(integration, line.peak)
    chart = histogram_of(page)

    bars = elements(chart, "rect", "mes-histogram-bar")
    assert len(bars) == 6  # Sturges: ⌈log₂ 30⌉ + 1
    assert sum(int(bar.get("data-count")) for bar in bars) == 30
    marks = {mark.get("data-limit"): mark for mark in elements(chart, "line", "mes-spec-mark")}
    assert set(marks) == {"LSL", "USL", "target"}
    lsl, target, usl = (float(marks[name].get("x1")) for name in ("LSL", "target", "USL"))
    assert lsl < target < usl
    # The bars span LSL … USL (the histogram is widened to the spec limits).
    assert float(bars[0].get("x")) == pytest.approx(lsl, abs=0.11)
    last = bars[-1]
    assert float(last.get("x")) + float(last.get("width")) == pytest.approx(usl - 1, abs=0.11)


def test_the_normal_curve_peaks_at_the_mean_with_sigma_within(integration, line):
    add_values(line.peak, line.track, STEADY * 3)
    limits = imr_limits(STEADY * 3)

    chart = histogram_of(spec_page(integration, line.peak))

    [curve] = elements(chart, "polyline", "mes-normal-curve")
    points = [tuple(map(float, pair.split(","))) for pair in curve.get("points").split()]
    highest = min(points, key=lambda point: point[1])  # SVG's y grows downwards
    marks = {mark.get("data-limit"): mark for mark in elements(chart, "line", "mes-spec-mark")}
    lsl, usl = float(marks["LSL"].get("x1")), float(marks["USL"].get("x1"))
    peak_value = 240 + (highest[0] - lsl) / (usl - lsl) * 10
    assert peak_value == pytest.approx(limits.mean, abs=0.15)
    assert f"σ within {limits.sigma_within:.6g}" in title_of(curve)


def test_a_spec_without_limits_still_has_a_histogram_without_marks(integration, line):
    add_values(line.peak, line.track, STEADY * 3)
    line.peak.spec = None
    line.peak.save()

    chart = histogram_of(spec_page(integration, line.peak))

    assert sum(int(bar.get("data-count")) for bar in elements(chart, "rect", "mes-histogram-bar"))
    assert elements(chart, "line", "mes-spec-mark") == []


def test_cpm_is_shown_when_the_spec_has_a_target(integration, line):
    numbers = STEADY * 3
    add_values(line.peak, line.track, numbers)
    expected = cpm(statistics.fmean(numbers), statistics.stdev(numbers), 240, 250, 245)

    figures = figures_of(spec_page(integration, line.peak))

    assert figures["Cpm"] == f"{expected.value:.2f}"


def test_without_a_target_cpm_says_so(integration, line):
    add_values(line.peak, line.track, STEADY * 3)
    line.peak.spec = {"min": 240, "max": 250}
    line.peak.save()
    assert figures_of(spec_page(integration, line.peak))["Cpm"] == "no target"


def test_ppm_within_overall_and_observed_are_shown(integration, line):
    numbers = STEADY * 3 + [251.0]  # one value above the USL
    add_values(line.peak, line.track, numbers)
    figures = capability(numbers, 240, 250)
    within = expected_ppm(figures.mean.value, figures.sigma_within.value, 240, 250)

    rows = ppm_of(spec_page(integration, line.peak))

    assert list(rows) == ["expected, σ within", "expected, σ overall", "observed"]
    assert rows["expected, σ within"] == [
        f"{within.below.value:,.2f}",
        f"{within.above.value:,.2f}",
        f"{within.total.value:,.2f}",
    ]
    assert rows["observed"] == ["0.00", "32,258.06", "32,258.06"]  # 1 of 31


def test_ppm_says_why_it_is_missing_with_few_values(integration, line):
    add_values(line.peak, line.track, STEADY)
    rows = ppm_of(spec_page(integration, line.peak))
    assert rows["expected, σ within"] == ["too few values (n = 10 &lt; 25)"] * 3
    assert rows["observed"] == ["0.00", "0.00", "0.00"]


def test_a_short_window_is_warned_of_beside_the_capability_figures(integration, line):
    add_values(line.peak, line.track, STEADY)
    assert warnings_of(spec_page(integration, line.peak)) == [
        "Too short: 10 values, a capability study needs at least 25."
    ]


def test_a_window_not_in_control_is_warned_of_in_words(integration, line):
    drift = [245.5, 245.9, 246.3, 246.8, 247.2, 247.7]
    add_values(line.peak, line.track, STEADY * 3 + drift)

    [warning] = warnings_of(spec_page(integration, line.peak))

    assert warning.startswith("Not in control: ")
    assert warning.endswith("so the figures describe no stable process.")


def test_a_steady_window_of_enough_values_has_no_warning(integration, line):
    add_values(line.peak, line.track, STEADY * 3)
    page = spec_page(integration, line.peak)
    assert warnings_of(page) == []
    assert 'class="mes-capability-warnings"' not in page
