"""Subgrouped data (execution/spc/subgroups.py): grouping, X̄-R and X̄-S limits, rule checks.

Sources:
- Montgomery, D. C., Introduction to Statistical Quality Control: the piston-ring
  inside diameters (mm), 25 preliminary samples of n = 5 (6th ed., 2009, Table 6.3;
  X̄ and s charts of these data in Example 6.3). Values as transcribed in the R
  package qcc (luca-scr/qcc, data/pistonrings.txt, samples 1-25, "trial"), which cites
  Montgomery (1991, 2nd ed., pp. 206-213). The book's rounded figures: x̿ = 74.001,
  R̄ = 0.023, X̄ limits 74.014 and 73.988 (from R̄ and, in Example 6.3, from s̄), and
  no point of the preliminary samples outside them. Only those digits are asserted:
  the book multiplies rounded intermediates (e.g. D₄·R̄ = 2.114 × 0.023), so the R
  and s chart limits computed from the raw data differ from its hand figures in the
  third digit and are checked here against the formula instead.
- The same book's Table 6.4 (Example 6.4, X̄ and s charts with variable sample size):
  the piston rings with samples 2, 13, 15 and 20 cut to 3 values and 6, 7, 9 and 17
  to 4 (113 values). Its sample 21 reads 73.982, 74.001, 74.015, 74.005, 73.996
  (s = 0.0122 as printed there), not qcc's Table 6.3 row. The book's figures:
  x̿ = 74.001, Σ(nᵢ−1)sᵢ² = 0.009324, s̄ = √(0.009324/88) = 0.0103, and for n = 5
  X̄ limits 74.016 and 73.986, s chart UCL 0.022 (from the rounded x̿ and s̄).
- Limits from a standard: the same book's §5.2 (the piston rings with μ = 74 mm and
  σ = 0.01 mm known, n = 5): σ_x̄ = 0.0045, UCL = 74.0135, LCL = 73.9865.
- Small sets for unequal sizes and grouping are constructed and worked by hand from
  Montgomery's formulas (§6.3.2: pooled s̄ = √(Σ(nᵢ−1)sᵢ²/(Σnᵢ − m)), limits
  x̿ ± A₃(nᵢ)s̄, B₃(nᵢ)s̄, B₄(nᵢ)s̄), as each test says.
"""

import statistics
from datetime import UTC, datetime

import pytest

from execution.spc import (
    NelsonRule,
    standard_chart,
    subgroup_violations,
    subgroups_by_key,
    subgroups_of,
    time_slot,
    xbar_r_chart,
    xbar_s_chart,
)

PISTON_RINGS = [
    [74.030, 74.002, 74.019, 73.992, 74.008],
    [73.995, 73.992, 74.001, 74.011, 74.004],
    [73.988, 74.024, 74.021, 74.005, 74.002],
    [74.002, 73.996, 73.993, 74.015, 74.009],
    [73.992, 74.007, 74.015, 73.989, 74.014],
    [74.009, 73.994, 73.997, 73.985, 73.993],
    [73.995, 74.006, 73.994, 74.000, 74.005],
    [73.985, 74.003, 73.993, 74.015, 73.988],
    [74.008, 73.995, 74.009, 74.005, 74.004],
    [73.998, 74.000, 73.990, 74.007, 73.995],
    [73.994, 73.998, 73.994, 73.995, 73.990],
    [74.004, 74.000, 74.007, 74.000, 73.996],
    [73.983, 74.002, 73.998, 73.997, 74.012],
    [74.006, 73.967, 73.994, 74.000, 73.984],
    [74.012, 74.014, 73.998, 73.999, 74.007],
    [74.000, 73.984, 74.005, 73.998, 73.996],
    [73.994, 74.012, 73.986, 74.005, 74.007],
    [74.006, 74.010, 74.018, 74.003, 74.000],
    [73.984, 74.002, 74.003, 74.005, 73.997],
    [74.000, 74.010, 74.013, 74.020, 74.003],
    [73.988, 74.001, 74.009, 74.005, 73.996],
    [74.004, 73.999, 73.990, 74.006, 74.009],
    [74.010, 73.989, 73.990, 74.009, 74.014],
    [74.015, 74.008, 73.993, 74.000, 74.010],
    [73.982, 73.984, 73.995, 74.017, 74.013],
]


# Table 6.4: sample number → its size where it is not 5, and sample 21 as printed there.
VARIABLE_SIZES = {2: 3, 13: 3, 15: 3, 20: 3, 6: 4, 7: 4, 9: 4, 17: 4}
TABLE_6_4_SAMPLE_21 = [73.982, 74.001, 74.015, 74.005, 73.996]


def table_6_4() -> list[list[float]]:
    samples = [list(row) for row in PISTON_RINGS]
    samples[20] = TABLE_6_4_SAMPLE_21
    return [row[: VARIABLE_SIZES.get(number, 5)] for number, row in enumerate(samples, 1)]


# --- grouping -----------------------------------------------------------------------------------


def test_consecutive_values_make_subgroups_of_n_and_an_unfinished_last_group_waits():
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]

    assert subgroups_of(values, 3) == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert subgroups_of(values, 7) == [values]
    assert subgroups_of(values, 8) == []
    with pytest.raises(ValueError):
        subgroups_of(values, 0)


def test_values_group_by_their_key_in_order_of_first_appearance():
    pairs = [("panel-B", 1.0), ("panel-A", 2.0), ("panel-B", 3.0), ("panel-A", 4.0), ("C", 5.0)]

    assert subgroups_by_key(pairs) == [
        ("panel-B", [1.0, 3.0]),
        ("panel-A", [2.0, 4.0]),
        ("C", [5.0]),
    ]
    assert subgroups_by_key([]) == []


def test_a_time_slot_is_the_start_of_its_period_counted_from_midnight():
    moment = datetime(2026, 12, 7, 14, 47, 31, 500, tzinfo=UTC)

    assert time_slot(moment, 15) == datetime(2026, 12, 7, 14, 45, tzinfo=UTC)
    assert time_slot(moment, 60) == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    assert time_slot(moment, 480) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # shifts of 8 h
    assert time_slot(datetime(2026, 12, 7, 14, 45), 15) == datetime(2026, 12, 7, 14, 45)
    with pytest.raises(ValueError):
        time_slot(moment, 0)


def test_values_keyed_by_time_slot_become_subgroups():
    start = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    readings = [(start.replace(minute=minute), float(minute)) for minute in (1, 9, 14, 16, 29, 31)]

    groups = subgroups_by_key((time_slot(moment, 15), value) for moment, value in readings)

    assert [values for _, values in groups] == [[1.0, 9.0, 14.0], [16.0, 29.0], [31.0]]
    assert groups[1][0] == start.replace(minute=15)


# --- X̄-R: Montgomery's piston rings ------------------------------------------------------------


def test_xbar_r_limits_of_the_piston_rings_match_montgomery():
    chart = xbar_r_chart(PISTON_RINGS)

    assert chart.known and chart.kind == "R"
    assert chart.sizes == [5] * 25
    assert chart.grand_mean == pytest.approx(74.001, abs=5e-4)
    assert chart.spread_mean == pytest.approx(0.023, abs=5e-4)
    assert chart.mean_ucl == pytest.approx([74.014] * 25, abs=5e-4)
    assert chart.mean_lcl == pytest.approx([73.988] * 25, abs=5e-4)


def test_xbar_r_limits_follow_the_formulas_with_the_n_5_constants():
    chart = xbar_r_chart(PISTON_RINGS)
    r_bar = statistics.fmean(max(group) - min(group) for group in PISTON_RINGS)

    assert chart.spread_mean == pytest.approx(r_bar)
    assert chart.mean_ucl[0] == pytest.approx(chart.grand_mean + 0.577 * r_bar)
    assert chart.spread_ucl[0] == pytest.approx(2.114 * r_bar)
    assert chart.spread_lcl[0] == 0  # D₃ = 0 for n = 5
    assert chart.sigma_within == pytest.approx(r_bar / 2.326)
    assert chart.means[0] == pytest.approx(74.0102)  # (74.030 + … + 74.008)/5, by hand
    assert chart.spreads[0] == pytest.approx(0.038)  # 74.030 − 73.992


def test_the_preliminary_piston_ring_samples_are_in_control_on_both_charts():
    for chart in (xbar_r_chart(PISTON_RINGS), xbar_s_chart(PISTON_RINGS)):
        found = subgroup_violations(chart, rules={1})
        assert found.means == [] and found.spreads_beyond == []


# --- X̄-S ----------------------------------------------------------------------------------------


def test_xbar_s_limits_of_the_piston_rings_match_montgomery_example_6_3():
    chart = xbar_s_chart(PISTON_RINGS)
    s_bar = statistics.fmean(statistics.stdev(group) for group in PISTON_RINGS)

    assert chart.known and chart.kind == "S"
    assert chart.grand_mean == pytest.approx(74.001, abs=5e-4)
    assert chart.mean_ucl[0] == pytest.approx(74.014, abs=5e-4)
    assert chart.mean_lcl[0] == pytest.approx(73.988, abs=5e-4)
    # The s chart by the formulas: centre s̄ (plain mean for equal sizes), B₄s̄, B₃ = 0.
    assert chart.spread_mean == pytest.approx(s_bar)
    assert chart.spread_ucl[0] == pytest.approx(2.089 * s_bar)
    assert chart.spread_lcl[0] == 0
    assert chart.sigma_within == pytest.approx(s_bar / 0.9400)


def test_xbar_s_with_unequal_sizes_pools_s_and_gives_each_subgroup_its_own_limits():
    # Worked by hand from Montgomery §6.3.2. Subgroups of 3 and 5:
    # [1, 2, 3]: x̄ 2, s² 1; [4, 6, 8, 10, 12]: x̄ 8, s² 10.
    # x̿ = (3·2 + 5·8)/8 = 5.75; s̄ = √((2·1 + 4·10)/(8 − 2)) = √7.
    chart = xbar_s_chart([[1.0, 2.0, 3.0], [4.0, 6.0, 8.0, 10.0, 12.0]])
    s_bar = 7**0.5

    assert chart.sizes == [3, 5] and not chart.equal_sizes
    assert chart.grand_mean == pytest.approx(5.75)
    assert chart.spread_mean == pytest.approx(s_bar)
    assert chart.mean_ucl == pytest.approx([5.75 + 1.954 * s_bar, 5.75 + 1.427 * s_bar])
    assert chart.mean_lcl == pytest.approx([5.75 - 1.954 * s_bar, 5.75 - 1.427 * s_bar])
    assert chart.spread_ucl == pytest.approx([2.568 * s_bar, 2.089 * s_bar])
    assert chart.spread_lcl == [0, 0]


def test_xbar_r_refuses_unequal_sizes_and_points_to_xbar_s():
    chart = xbar_r_chart([[1.0, 2.0, 3.0], [4.0, 6.0]])

    assert not chart.known
    assert chart.missing == "subgroups of unequal size: use the X̄-S chart"


def test_subgroup_charts_need_two_subgroups_of_2_to_25_values():
    assert xbar_r_chart([[1.0, 2.0]]).missing == "too few subgroups (m = 1 < 2)"
    assert xbar_s_chart([[1.0], [2.0]]).missing == "subgroup sizes must be 2–25 (found 1)"
    assert xbar_s_chart([[1.0] * 26, [2.0] * 26]).missing == (
        "subgroup sizes must be 2–25 (found 26)"
    )


# --- rules on subgroup charts --------------------------------------------------------------------


def test_a_subgroup_mean_beyond_its_limit_breaks_rule_1_and_a_wide_range_is_flagged():
    # Worked by hand: ten subgroups of 2 with range 2 around 10, then one at 16 and one
    # with range 8. x̿ = (10·10 + 16 + 10)/12 = 10.5; R̄ = (11·2 + 8)/12 = 2.5;
    # X̄ UCL = 10.5 + 1.880·2.5 = 15.2 (16 is beyond); R UCL = 3.267·2.5 = 8.1675 (8 is not);
    # so the range of 8 is inside, and a second chart with range 9 instead is beyond.
    groups = [[9.0, 11.0]] * 10 + [[15.0, 17.0], [6.0, 14.0]]
    chart = xbar_r_chart(groups)

    found = subgroup_violations(chart, rules={1})

    assert chart.mean_ucl[0] == pytest.approx(15.2)
    assert chart.spread_ucl[0] == pytest.approx(8.1675)
    assert [(v.index, v.rule) for v in found.means] == [(10, NelsonRule.BEYOND_3_SIGMA)]
    assert found.spreads_beyond == []

    wider = xbar_r_chart([[9.0, 11.0]] * 10 + [[15.0, 17.0], [5.5, 14.5]])
    # R̄ = (11·2 + 9)/12 = 2.5833; R UCL = 8.4398: the range of 9 is beyond.
    assert subgroup_violations(wider, rules={1}).spreads_beyond == [11]


def test_run_rules_apply_to_subgroup_means_in_sigma_of_a_mean():
    # Nine subgroup means a little above x̿ (rule 2), then nine a little below: the rule
    # needs no σ, only the side. Both charts agree.
    groups = [[10.1, 10.3]] * 9 + [[9.7, 9.9]] * 9
    for chart in (xbar_r_chart(groups), xbar_s_chart(groups)):
        found = subgroup_violations(chart, rules={2})
        assert [v.index for v in found.means] == [8, 17]


def test_unequal_subgroups_are_tested_on_standardised_means():
    # Worked by hand: means 0, 2, 2, −2, −2 for sizes 2, 2, 5, 5, 2, so x̿ = 0;
    # s² = 2, 2, 0.5, 0.5, 2, pooled s̄ = √(10/11) = 0.9535. Limits: ±2.659·s̄ = ±2.535
    # for n = 2 and ±1.427·s̄ = ±1.361 for n = 5. A mean of ±2 is beyond only in the
    # subgroups of 5, and rule 1 on the standardised means finds just those.
    groups = [
        [-1.0, 1.0],
        [1.0, 3.0],
        [1.0, 2.0, 3.0, 2.0, 2.0],
        [-3.0, -2.0, -1.0, -2.0, -2.0],
        [-3.0, -1.0],
    ]
    chart = xbar_s_chart(groups)

    found = subgroup_violations(chart, rules={1})

    assert chart.grand_mean == pytest.approx(0)
    assert chart.spread_mean == pytest.approx((10 / 11) ** 0.5)
    assert chart.mean_ucl == pytest.approx([2.535, 2.535, 1.361, 1.361, 2.535], abs=5e-4)
    assert [(v.index, v.rule) for v in found.means] == [
        (2, NelsonRule.BEYOND_3_SIGMA),
        (3, NelsonRule.BEYOND_3_SIGMA),
    ]


def test_subgroups_without_spread_have_no_sigma_rules_but_keep_the_run_rules():
    groups = [[5.0, 5.0]] * 9
    chart = xbar_r_chart(groups)

    found = subgroup_violations(chart, rules=range(1, 9))

    assert chart.spread_mean == 0
    assert found.means == [] and found.spreads_beyond == []


# --- X̄-S with variable sample size: Montgomery's Example 6.4 -----------------------------------


def test_xbar_s_of_variable_sizes_matches_montgomery_example_6_4():
    samples = table_6_4()
    chart = xbar_s_chart(samples)
    pooled = sum((len(row) - 1) * statistics.stdev(row) ** 2 for row in samples)

    assert sum(chart.sizes) == 113 and sorted(set(chart.sizes)) == [3, 4, 5]
    assert pooled == pytest.approx(0.009324, abs=0.000005)
    assert round(chart.grand_mean, 3) == 74.001
    assert round(chart.spread_mean, 4) == 0.0103
    five = chart.sizes.index(5)
    # The book multiplies its rounded x̿ and s̄: agree to its last digit, within one unit.
    assert chart.mean_ucl[five] == pytest.approx(74.016, abs=0.0011)
    assert chart.mean_lcl[five] == pytest.approx(73.986, abs=0.0011)
    assert chart.spread_ucl[five] == pytest.approx(0.022, abs=0.0006)  # 2.089 × 0.0103
    three = chart.sizes.index(3)
    assert chart.mean_ucl[three] == pytest.approx(chart.grand_mean + 1.954 * chart.spread_mean)
    assert chart.spread_ucl[three] == pytest.approx(2.568 * chart.spread_mean)


# --- limits from a standard (frozen limits) ------------------------------------------------------


def test_xbar_limits_from_a_standard_match_montgomerys_piston_rings():
    chart = standard_chart(PISTON_RINGS, "R", mean=74.0, sigma=0.01)

    assert chart.from_standard
    assert chart.mean_ucl[0] == pytest.approx(74.0135, abs=0.0001)
    assert chart.mean_lcl[0] == pytest.approx(73.9865, abs=0.0001)
    assert chart.grand_mean == 74.0 and chart.sigma_within == 0.01


def test_spread_limits_from_a_standard_use_d2_d1_d2_and_c4_b5_b6():
    # Montgomery §6.2.1 / §6.3.1 with table VI's n = 5 and n = 10 rows.
    r_chart = standard_chart(PISTON_RINGS, "R", mean=74.0, sigma=0.01)
    assert r_chart.spread_centre(0) == pytest.approx(2.326 * 0.01)
    assert r_chart.spread_ucl[0] == pytest.approx(4.918 * 0.01)
    assert r_chart.spread_lcl[0] == 0

    s_chart = standard_chart([[float(i) for i in range(10)]] * 2 + [[1.0, 2.0]], "S", 4.5, 2.0)
    assert s_chart.sizes == [10, 10, 2]
    assert s_chart.spread_centre(0) == pytest.approx(0.9727 * 2.0)
    assert s_chart.spread_centre(2) == pytest.approx(0.7979 * 2.0)
    assert s_chart.spread_ucl[0] == pytest.approx(1.669 * 2.0)
    assert s_chart.spread_lcl[0] == pytest.approx(0.276 * 2.0)
    assert s_chart.mean_ucl[2] == pytest.approx(4.5 + 2.121 * 2.0)


def test_an_r_chart_from_a_standard_refuses_unequal_sizes():
    chart = standard_chart([[1.0, 2.0, 3.0], [4.0, 6.0]], "R", mean=3.0, sigma=1.0)

    assert not chart.known
    assert "use the X̄-S chart" in chart.missing


def test_rules_on_means_from_a_standard_measure_in_sigma_over_root_n():
    # σ = 1, n = 4: σ of a mean is 0.5. Means 0, 1.1, 1.1, 1.6 are 0, 2.2, 2.2, 3.2 σ_x̄
    # from μ: rule 5 (two of three beyond 2σ) completes at the third and the fourth
    # mean, rule 1 (beyond 3σ) at the fourth.
    groups = [[mean - 0.1, mean + 0.1, mean - 0.1, mean + 0.1] for mean in (0, 1.1, 1.1, 1.6)]
    chart = standard_chart(groups, "S", mean=0.0, sigma=1.0)

    found = subgroup_violations(chart, rules=[1, 5])

    assert sorted((violation.index, violation.rule.value) for violation in found.means) == [
        (2, 5),
        (3, 1),
        (3, 5),
    ]
