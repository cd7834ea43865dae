"""The X̄ charts' subgroups on a spec's page (`group=values|carrier|event|slot`), limits of
unequal sizes, the spec's frozen limits and its Nelson rules. The limits are the package's
(checked against Montgomery in tests/execution/spc/test_subgroups.py); here the page must
draw and print the ones of the groups it made."""

import html
import re
from datetime import timedelta

import pytest

from execution.charts import format_number
from execution.models import DataValue, SpcSettings
from execution.spc import standard_chart, xbar_r_chart, xbar_s_chart
from tests.execution.test_spc_chart import STEADY, add_values, elements, spec_page, title_of
from tests.execution.test_spc_subgroup_chart import chart_svg, limits_in, text_of
from tests.factories import BASE_TIME, CarrierTrackFactory

pytestmark = pytest.mark.django_db


def add_groups(spec, groups, *, key, track=None, every=timedelta(minutes=1)):
    """Values of `spec`, one group after the other, a minute apart; `key` "event" gives each
    group its own source_ref, "carrier" its own carrier pass."""
    moment, rows = BASE_TIME, []
    for number, group in enumerate(groups):
        carrier_track = CarrierTrackFactory() if key == "carrier" else None
        for value in group:
            rows.append(
                DataValue(
                    spec=spec,
                    track=None if carrier_track else track,
                    carrier_track=carrier_track,
                    station=(carrier_track or track).station,
                    collected_at=moment,
                    value_number=value,
                    limits=spec.limits,
                    judge="PASS",
                    source="AUTO",
                    source_ref=f"device-data:group-{number}",
                )
            )
            moment += every
    DataValue.objects.bulk_create(rows)


def errors_of(page: str) -> list[str]:
    found = re.search(r'<ul class="errorlist" id="spc-chart-errors">(.*?)</ul>', page, re.S)
    return [html.unescape(error) for error in re.findall(r"<li>([^<]+)</li>", found[1])]


def control_rows(page: str) -> dict[str, str]:
    table = re.search(r'<table aria-label="Control limits">.*?</table>', page, flags=re.S)[0]
    return dict(re.findall(r'<th scope="row">([^<]+)</th><td>([^<]+)</td>', table))


UNEQUAL = [
    [245.0, 245.6, 245.7],
    [245.3, 244.5, 244.4, 244.9, 245.2],
    [245.3, 244.8, 245.0, 245.6],
    [245.7, 245.3, 244.5],
    [244.4, 244.9, 245.2, 245.3, 244.8],
]


def test_subgroups_by_event_of_unequal_sizes_get_limits_per_size_on_the_xbar_s_chart(
    integration, line
):
    add_groups(line.peak, UNEQUAL, key="event", track=line.track)
    expected = xbar_s_chart(UNEQUAL)

    page = spec_page(integration, line.peak, chart="xbar-s", group="event")
    chart = chart_svg(page)

    assert chart.get("data-chart") == "xbar-s"
    [means] = elements(chart, "g", "mes-panel-means")
    assert len(elements(means, "circle", "mes-subgroup-mean")) == 5
    steps = {
        line.get("data-limit"): title_of(line)
        for line in elements(means, "polyline", "mes-limit-steps")
    }
    assert steps["UCL"] == (
        f"UCL by subgroup size: n = 3: {format_number(expected.mean_ucl[0])}, "
        f"n = 4: {format_number(expected.mean_ucl[2])}, "
        f"n = 5: {format_number(expected.mean_ucl[1])}"
    )
    assert limits_in(means) == {"X̿": f"X̿ {format_number(expected.grand_mean)}"}
    rows = control_rows(page)
    assert rows["X̄ UCL (n = 3)"] == f"{expected.mean_ucl[0]:.4f}"
    assert rows["X̄ LCL (n = 5)"] == f"{expected.mean_lcl[1]:.4f}"
    assert rows["S UCL (n = 4)"] == f"{expected.spread_ucl[2]:.4f}"
    assert rows["σ within"] == f"{expected.sigma_within:.4f}"  # the pooled s̄
    assert "Control limits (X̄-S, one subgroup per event)" in page
    first = elements(means, "circle", "mes-subgroup-mean")[0]
    assert title_of(first).startswith("subgroup 1: 3 values, ")


def test_an_xbar_r_chart_of_unequal_subgroups_is_refused_in_words(integration, line):
    add_groups(line.peak, UNEQUAL, key="event", track=line.track)

    page = spec_page(integration, line.peak, chart="xbar-r", group="event")

    assert chart_svg(page).get("data-chart") == "imr"
    assert errors_of(page) == [
        "The X̄-R chart of one subgroup per event cannot be drawn: subgroups of unequal "
        "size: use the X̄-S chart.",
        "The I-MR chart is shown instead.",
    ]


def test_subgroups_by_carrier_pass_leave_the_values_of_units_out_and_say_so(integration, line):
    panels = [STEADY[:4], STEADY[4:8], STEADY[6:10], STEADY[1:5]]
    add_groups(line.peak, panels, key="carrier")
    add_values(line.peak, line.track, [245.0, 245.1], start=BASE_TIME + timedelta(hours=1))
    expected = xbar_r_chart(panels)

    page = spec_page(integration, line.peak, chart="xbar-r", group="carrier")
    chart = chart_svg(page)

    [means] = elements(chart, "g", "mes-panel-means")
    assert len(elements(means, "circle", "mes-subgroup-mean")) == 4
    assert limits_in(means)["UCL"] == f"UCL {format_number(expected.mean_ucl[0])}"
    assert "Left out of the subgroups: 2 value(s) measured on a unit, not on a carrier." in (
        text_of(page)
    )


def test_subgroups_by_time_slot_take_the_values_of_each_quarter_hour(integration, line):
    add_values(line.peak, line.track, STEADY * 6)  # one a minute: four slots of 15
    numbers = STEADY * 6
    expected = xbar_r_chart([numbers[start : start + 15] for start in range(0, 60, 15)])

    page = spec_page(integration, line.peak, chart="xbar-r", group="slot", slot=15)
    chart = chart_svg(page)

    [spreads] = elements(chart, "g", "mes-panel-spreads")
    assert len(elements(spreads, "circle", "mes-subgroup-spread")) == 4
    assert limits_in(spreads)["UCL"] == f"UCL {format_number(expected.spread_ucl[0])}"
    assert control_rows(page)["X̄ UCL"] == f"{expected.mean_ucl[0]:.4f}"
    assert re.search(r'<option value="slot" selected>', page)
    assert re.search(r'<option value="15" selected>', page)


def test_slots_holding_one_value_each_are_left_out_and_the_chart_refused(integration, line):
    add_values(line.peak, line.track, STEADY, every=timedelta(minutes=20))

    page = spec_page(integration, line.peak, chart="xbar-s", group="slot", slot=15)

    assert chart_svg(page).get("data-chart") == "imr"
    assert errors_of(page)[0] == (
        "The X̄-S chart of one subgroup per 15 min slot cannot be drawn: "
        "too few subgroups (m = 0 < 2)."
    )
    assert "10 subgroup(s) of a single value" in text_of(page)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"group": "panel"},
            "Subgroups: choose n consecutive values, carrier pass (panel), event or time slot.",
        ),
        ({"group": "slot", "slot": "7"}, "Slot: choose 15 min, 1 h, 8 h."),
        ({"group": "slot", "slot": "hour"}, "Slot: choose 15 min, 1 h, 8 h."),
    ],
)
def test_an_unreadable_subgroup_choice_is_said_in_words(integration, line, query, message):
    add_values(line.peak, line.track, STEADY * 3)

    page = spec_page(integration, line.peak, chart="xbar-s", **query)

    assert errors_of(page) == [message, "The I-MR chart is shown instead."]
    assert chart_svg(page).get("data-chart") == "imr"


# --- the spec's decisions ----------------------------------------------------------------------

STEADY_GROUP = [245.0, 245.2, 245.1, 245.3, 244.9]  # mean 245.1


def freeze(spec, *, rules, mean=245.0, mr_mean=0.5):
    SpcSettings.objects.create(
        spec=spec, rules=rules, frozen_mean=mean, frozen_mr_mean=mr_mean, frozen_count=50
    )


def test_frozen_limits_draw_the_xbar_chart_from_the_baseline(integration, line):
    freeze(line.peak, rules=[1])
    add_values(line.peak, line.track, STEADY * 3)
    expected = standard_chart(
        [(STEADY * 3)[start : start + 5] for start in range(0, 30, 5)], "R", 245.0, 0.5 / 1.128
    )

    page = spec_page(integration, line.peak, chart="xbar-r", subgroup=5)
    chart = chart_svg(page)

    [means] = elements(chart, "g", "mes-panel-means")
    assert limits_in(means) == {
        "UCL": f"UCL {format_number(expected.mean_ucl[0])}",  # 245 + 1.342 σ
        "μ": "μ 245",
        "LCL": f"LCL {format_number(expected.mean_lcl[0])}",
    }
    assert expected.mean_ucl[0] == pytest.approx(245.0 + 1.342 * 0.5 / 1.128)
    rows = control_rows(page)
    assert rows["μ (frozen centre)"] == "245.0000"
    assert rows["R UCL"] == f"{4.918 * 0.5 / 1.128:.4f}"  # D₂σ for n = 5
    assert "Control limits (X̄-R, subgroups of 5 consecutive values, frozen)" in page


@pytest.mark.parametrize(("rules", "marked"), [([1, 2], ["2"]), ([1], [])])
def test_the_means_are_tested_with_the_specs_rules(integration, line, rules, marked):
    # Nine means of 245.1 above the frozen centre 245: rule 2 completes at the ninth.
    freeze(line.peak, rules=rules)
    add_values(line.peak, line.track, STEADY_GROUP * 9)

    page = spec_page(integration, line.peak, chart="xbar-s", subgroup=5)
    chart = chart_svg(page)

    [means] = elements(chart, "g", "mes-panel-means")
    assert [text.text for text in elements(means, "text", "mes-rule-mark")] == marked
    if marked:
        [point] = [p for p in elements(means, "circle", "mes-violation")]
        assert point.get("data-index") == "8"
        assert title_of(point).endswith("; Nelson rule 2")
        assert re.findall(r'<li class="mes-subgroup-beyond">([^<]+)</li>', page) == [
            "subgroup 9 (2026-01-24 10:44): X̄ rule 2: 9 points in a row on one side of the "
            "centre line"
        ]
    else:
        assert elements(means, "circle", "mes-violation") == []


def test_the_page_names_the_rules_the_spec_tests(integration, line):
    SpcSettings.objects.create(spec=line.peak, rules=[1, 5])
    add_values(line.peak, line.track, STEADY * 3)

    page = text_of(spec_page(integration, line.peak))

    assert "No point breaks rules 1, 5 in this window." in page
    assert "Rules (Nelson): 1 a point beyond 3σ from the centre line; 5 2 of 3 points" in page
