"""The X̄-R and X̄-S charts on a spec's page (`chart=xbar-r|xbar-s&subgroup=N`)."""

import html
import re
from datetime import timedelta

import pytest

from execution.charts import format_number
from execution.spc import subgroups_of, xbar_r_chart, xbar_s_chart
from tests.execution.test_spc_chart import (
    STEADY,
    add_values,
    elements,
    parsed,
    spec_page,
    title_of,
)
from tests.factories import BASE_TIME


def chart_svg(page: str):
    match = re.search(r'<svg[^>]*class="mes-spc-chart".*?</svg>', page, flags=re.S)
    assert match, "no SPC chart on the page"
    return parsed(match.group(0))


def limits_in(panel) -> dict[str, str]:
    return {line.get("data-limit"): title_of(line) for line in elements(panel, "line", "mes-limit")}


def text_of(page: str) -> str:
    """The page's words, tags removed and entities read (what a reader sees)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_an_xbar_r_chart_draws_the_means_over_the_ranges_with_their_limits(integration, line):
    add_values(line.peak, line.track, STEADY * 3)  # 30 values: six subgroups of five
    expected = xbar_r_chart(subgroups_of(STEADY * 3, 5))

    page = spec_page(integration, line.peak, chart="xbar-r", subgroup=5)
    chart = chart_svg(page)

    assert chart.get("data-chart") == "xbar-r"
    [means] = elements(chart, "g", "mes-panel-means")
    [spreads] = elements(chart, "g", "mes-panel-spreads")
    assert len(elements(means, "circle", "mes-subgroup-mean")) == 6
    assert len(elements(spreads, "circle", "mes-subgroup-spread")) == 6
    assert limits_in(means) == {
        "UCL": f"UCL {format_number(expected.mean_ucl[0])}",
        "X̿": f"X̿ {format_number(expected.grand_mean)}",
        "LCL": f"LCL {format_number(expected.mean_lcl[0])}",
    }
    assert limits_in(spreads) == {
        "UCL": f"UCL {format_number(expected.spread_ucl[0])}",
        "R̄": f"R̄ {format_number(expected.spread_mean)}",
        "LCL": "LCL 0",  # D₃ = 0 for n = 5
    }
    first = elements(means, "circle", "mes-subgroup-mean")[0]
    assert title_of(first) == (
        "subgroup 1: values #1–#5, 2026-01-24 10:00:00 to 2026-01-24 10:04:00 — X̄ 245.22"
    )
    table = re.search(r'<table aria-label="Control limits">.*?</table>', page, flags=re.S)[0]
    assert "Control limits (X̄-R, subgroups of 5 consecutive values)" in table
    assert f"{expected.mean_ucl[0]:.4f}" in table and f"{expected.sigma_within:.4f}" in table


def test_an_xbar_s_chart_draws_the_standard_deviations(integration, line):
    add_values(line.peak, line.track, STEADY * 3)
    expected = xbar_s_chart(subgroups_of(STEADY * 3, 3))

    chart = chart_svg(spec_page(integration, line.peak, chart="xbar-s", subgroup=3))

    assert chart.get("data-chart") == "xbar-s"
    [spreads] = elements(chart, "g", "mes-panel-spreads")
    assert len(elements(spreads, "circle", "mes-subgroup-spread")) == 10
    assert limits_in(spreads)["S̄"] == f"S̄ {format_number(expected.spread_mean)}"
    assert [text.text for text in spreads.iter() if text.text == "Standard deviation (S)"]


def test_a_last_unfinished_subgroup_is_left_out(integration, line):
    add_values(line.peak, line.track, STEADY * 3 + [245.0, 245.1])  # 32 values
    chart = chart_svg(spec_page(integration, line.peak, chart="xbar-r", subgroup=5))
    assert len(elements(chart, "circle", "mes-subgroup-mean")) == 6


def test_a_mean_beyond_its_limits_is_ringed_and_listed(integration, line):
    shifted = [246.5, 247.5, 247.0, 246.8, 247.2]  # mean 247, well above x̿ + A₂R̄
    add_values(line.peak, line.track, STEADY * 4 + shifted)

    page = spec_page(integration, line.peak, chart="xbar-r", subgroup=5)
    chart = chart_svg(page)

    [means] = elements(chart, "g", "mes-panel-means")
    marked = [
        point
        for point in elements(means, "circle", "mes-subgroup-mean")
        if "mes-violation" in point.get("class").split()
    ]
    assert [point.get("data-index") for point in marked] == ["8"]
    [ring] = elements(means, "circle", "mes-ring")
    assert (ring.get("cx"), ring.get("cy")) == (marked[0].get("cx"), marked[0].get("cy"))
    assert title_of(marked[0]).endswith("beyond its control limit (rule 1)")
    [spreads] = elements(chart, "g", "mes-panel-spreads")
    assert elements(spreads, "circle", "mes-ring") == []
    assert re.findall(r'<li class="mes-subgroup-beyond">([^<]+)</li>', page) == [
        "subgroup 9 (2026-01-24 10:44): X̄ rule 1: a point beyond 3σ from the centre line"
    ]


def test_a_range_beyond_its_limit_is_ringed_on_the_range_panel(integration, line):
    add_values(line.peak, line.track, STEADY * 4 + [243.0, 247.0, 245.0, 245.0, 245.0])

    chart = chart_svg(spec_page(integration, line.peak, chart="xbar-r", subgroup=5))

    [spreads] = elements(chart, "g", "mes-panel-spreads")
    marked = [
        point.get("data-index")
        for point in elements(spreads, "circle", "mes-subgroup-spread")
        if "mes-violation" in point.get("class").split()
    ]
    assert marked == ["8"]
    assert len(elements(spreads, "circle", "mes-ring")) == 1


def test_a_pause_between_subgroups_is_a_break_line(integration, line):
    add_values(line.peak, line.track, STEADY * 2)
    add_values(line.peak, line.track, STEADY * 2, start=BASE_TIME + timedelta(hours=3))

    chart = chart_svg(spec_page(integration, line.peak, chart="xbar-r", subgroup=5))

    [pause] = elements(chart, "g", "mes-break")
    assert pause.get("data-before") == "4"  # subgroups 1–4, the pause, subgroups 5–8
    assert elements(pause, "text", "mes-break-label")[0].text == "pause 2 h 41 min"


@pytest.mark.parametrize("size", ["1", "26", "five", "2.5"])
def test_a_bad_subgroup_size_is_said_in_words_and_the_i_mr_chart_drawn(integration, line, size):
    add_values(line.peak, line.track, STEADY * 3)

    page = spec_page(integration, line.peak, chart="xbar-r", subgroup=size)

    errors = re.search(r'<ul class="errorlist" id="spc-chart-errors">(.*?)</ul>', page, re.S)
    assert re.findall(r"<li>([^<]+)</li>", errors[1]) == [
        "Subgroup size: a whole number of values from 2 to 25.",
        "The I-MR chart is shown instead.",
    ]
    assert chart_svg(page).get("data-chart") == "imr"


def test_an_unknown_chart_is_said_in_words(integration, line):
    add_values(line.peak, line.track, STEADY)
    page = text_of(spec_page(integration, line.peak, chart="pareto"))
    assert "Chart: choose I-MR, X̄-R or X̄-S." in page
    assert "chart:" not in page  # no internal field name


def test_too_few_values_for_two_subgroups_is_said_in_words(integration, line):
    add_values(line.peak, line.track, STEADY[:7])

    page = spec_page(integration, line.peak, chart="xbar-s", subgroup=5)

    assert chart_svg(page).get("data-chart") == "imr"
    assert (
        "The X̄-S chart needs at least 2 subgroups of 5 consecutive values, 10 values; "
        "this window holds 7 (too few subgroups (m = 1 < 2))."
    ) in text_of(page)


def test_the_window_controls_keep_the_chart_and_apply_to_it(integration, line):
    add_values(line.peak, line.track, STEADY * 11)  # 110 values

    page = spec_page(integration, line.peak, chart="xbar-s", subgroup=4, values=50)

    assert re.search(r'<option value="xbar-s" selected>', page)
    assert re.search(r'<input type="number" name="subgroup" id="spc-subgroup"[^>]*value="4"', page)
    assert re.search(r'<option value="50" selected>', page)
    # The newest 50 values: twelve subgroups of four, two values waiting.
    assert len(elements(chart_svg(page), "circle", "mes-subgroup-mean")) == 12


def test_without_a_chart_parameter_the_i_mr_chart_is_drawn(integration, line):
    add_values(line.peak, line.track, STEADY)
    page = spec_page(integration, line.peak)
    assert chart_svg(page).get("data-chart") == "imr"
    assert re.search(r'<option value="imr" selected>', page)
    assert 'id="spc-chart-errors"' not in page
