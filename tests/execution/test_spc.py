"""The SPC arithmetic of execution/spc/ (I-MR, capability, rules 1-4) against published examples.

Sources:
- NIST/SEMATECH e-Handbook of Statistical Methods, section 6.3.2.2 "Individuals
  Control Charts" (https://www.itl.nist.gov/div898/handbook/pmc/section3/pmc322.htm):
  flow rate of the first 10 batches of a new process, with its moving ranges,
  x̄ = 50.81, MR̄ = 1.8778, individuals UCL = 55.8041, LCL = 45.8159, and the
  moving-range chart UCL = 6.1349 (D₄·MR̄ with D₄ = 3.267).
- The same handbook, section 6.1.6 "What is Process Capability?"
  (https://www.itl.nist.gov/div898/handbook/pmc/section1/pmc16.htm): USL = 20,
  LSL = 8, process mean 16, standard deviation 2 → Cp = 1.0, Cpk = 0.6667
  (Cpu = 0.6667, Cpl = 1.3333).
- Nelson, L. S. (1984), "The Shewhart Control Chart — Tests for Special Causes",
  Journal of Quality Technology 16(4), 237-239: the definitions of tests 1-4; the
  sequences for them below are constructed, not published.
"""

import statistics

import pytest

from execution.spc import (
    CAPABILITY_MINIMUM,
    D2,
    NelsonRule,
    Violation,
    analyse,
    capability,
    capability_indexes,
    imr_limits,
    moving_ranges,
    nelson_violations,
)

NIST_FLOW_RATE = [49.6, 47.6, 49.9, 51.3, 47.8, 51.2, 52.6, 52.4, 53.6, 52.1]
NIST_MOVING_RANGES = [2.0, 2.3, 1.4, 3.5, 3.4, 1.4, 0.2, 1.2, 1.5]


# --- I-MR limits: NIST 6.3.2.2 ------------------------------------------------------------------


def test_moving_ranges_are_the_published_ones_for_the_nist_flow_rate_batches():
    assert moving_ranges(NIST_FLOW_RATE) == pytest.approx(NIST_MOVING_RANGES)


def test_individuals_limits_match_the_nist_flow_rate_example():
    limits = imr_limits(NIST_FLOW_RATE)

    assert limits.mean == pytest.approx(50.81, abs=5e-5)
    assert limits.mr_mean == pytest.approx(1.8778, abs=5e-5)
    assert limits.ucl == pytest.approx(55.8041, abs=5e-5)
    assert limits.lcl == pytest.approx(45.8159, abs=5e-5)


def test_moving_range_limits_match_the_nist_flow_rate_example():
    limits = imr_limits(NIST_FLOW_RATE)

    # NIST multiplies rounded intermediates: agreement to the third decimal.
    assert limits.mr_ucl == pytest.approx(6.1349, abs=5e-4)
    assert limits.mr_lcl == 0
    assert limits.sigma_within == pytest.approx(1.8778 / D2, abs=5e-5)


def test_the_nist_flow_rate_batches_break_no_nelson_rule():
    # The handbook finds this process in control.
    assert analyse(NIST_FLOW_RATE).violations == []


def test_limits_need_two_values():
    assert imr_limits([245.0]) is None
    assert analyse([245.0]).limits_missing == "too few values (n = 1 < 2)"
    assert analyse([]).limits is None


# --- capability: NIST 6.1.6 ---------------------------------------------------------------------


def test_cp_and_cpk_match_the_nist_capability_example():
    cp, cpk = capability_indexes(mean=16, sigma=2, lsl=8, usl=20)

    assert cp.value == pytest.approx(1.0)
    assert cpk.value == pytest.approx(0.6667, abs=5e-5)


def test_an_upper_limit_alone_gives_cpu_as_cpk_and_no_cp():
    cp, cpk = capability_indexes(mean=16, sigma=2, lsl=None, usl=20)

    assert cpk.value == pytest.approx(0.6667, abs=5e-5)  # NIST's Cpu
    assert not cp.known and cp.missing == "needs both spec limits"


def test_a_lower_limit_alone_gives_cpl_as_cpk_and_no_cp():
    cp, cpk = capability_indexes(mean=16, sigma=2, lsl=8, usl=None)

    assert cpk.value == pytest.approx(1.3333, abs=5e-5)  # NIST's Cpl
    assert not cp.known


def test_no_spec_limits_give_no_indexes():
    cp, cpk = capability_indexes(mean=16, sigma=2, lsl=None, usl=None)
    assert (cp.missing, cpk.missing) == ("no spec limits", "no spec limits")


def test_cp_uses_sigma_within_and_pp_uses_the_sample_standard_deviation():
    # Alternating 244, 246: every moving range is 2, so σ within = 2/d₂ = 1.773, while
    # the values themselves spread by only ±1 around 245 (σ overall = √(26/25)).
    values = [244.0, 246.0] * 13

    figures = capability(values, lsl=240, usl=250)

    assert figures.n == 26
    assert figures.mean.value == pytest.approx(245)
    assert figures.sigma_within.value == pytest.approx(2 / D2)
    assert figures.sigma_overall.value == pytest.approx(statistics.stdev(values))
    assert figures.sigma_overall.value == pytest.approx((26 / 25) ** 0.5)
    assert figures.cp.value == pytest.approx(10 / (6 * 2 / D2))
    assert figures.cpk.value == pytest.approx(5 / (3 * 2 / D2))
    assert figures.pp.value == pytest.approx(10 / (6 * (26 / 25) ** 0.5))
    assert figures.ppk.value == pytest.approx(figures.pp.value)  # centred


def test_capability_needs_the_documented_minimum_of_values():
    values = NIST_FLOW_RATE  # ten values: limits yes, capability no

    figures = capability(values, lsl=45, usl=55)

    assert CAPABILITY_MINIMUM == 25
    assert figures.sigma_within.known and figures.sigma_overall.known
    for index in (figures.cp, figures.cpk, figures.pp, figures.ppk):
        assert not index.known
        assert index.missing == "too few values (n = 10 < 25)"


def test_constant_values_have_zero_sigma_and_no_indexes_instead_of_a_division_by_zero():
    figures = capability([245.0] * 30, lsl=240, usl=250)

    assert figures.sigma_within.value == 0 and figures.sigma_overall.value == 0
    assert figures.cp.missing == "σ is 0 (all values equal)"
    assert not figures.ppk.known
    assert analyse([245.0] * 30).violations == []  # nothing beyond a zero-width band


# --- Nelson rules on constructed sequences -------------------------------------------------------


def rules_at(values, centre=0.0, sigma=1.0):
    return [(v.index, v.rule) for v in nelson_violations(values, centre, sigma)]


def test_rule_1_flags_a_point_beyond_three_sigma_on_either_side():
    values = [0.5, -0.5, 3.2, 0.5, -3.01, 3.0]
    beyond = [i for i, rule in rules_at(values) if rule == NelsonRule.BEYOND_3_SIGMA]
    assert beyond == [2, 4]  # exactly 3σ is not beyond


def test_rule_2_flags_the_ninth_point_in_a_row_on_one_side_and_each_after_it():
    values = [1.0] * 8 + [-1.0] + [1.0] * 10

    same_side = [i for i, rule in rules_at(values) if rule == NelsonRule.NINE_ON_ONE_SIDE]

    # The first eight are too few; after the break, the ninth and tenth of the run.
    assert same_side == [17, 18]


def test_rule_2_is_broken_by_a_point_on_the_centre_line():
    values = [1.0] * 5 + [0.0] + [1.0] * 5
    assert NelsonRule.NINE_ON_ONE_SIDE not in [rule for _, rule in rules_at(values)]


def test_rule_3_flags_six_points_steadily_increasing_or_decreasing():
    rising = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    falling = [0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    five_rising = [0.0, 0.1, 0.2, 0.3, 0.4, 0.4]  # an equal neighbour breaks the trend

    assert (5, NelsonRule.SIX_TRENDING) in rules_at(rising)
    assert (5, NelsonRule.SIX_TRENDING) in rules_at(falling)
    assert NelsonRule.SIX_TRENDING not in [rule for _, rule in rules_at(five_rising)]


def test_rule_4_flags_fourteen_points_alternating_up_and_down():
    fourteen = [0.5, -0.5] * 7
    thirteen = fourteen[:13]

    assert rules_at(fourteen) == [(13, NelsonRule.FOURTEEN_ALTERNATING)]
    assert rules_at(thirteen) == []


def test_violations_are_listed_in_point_order_with_the_rule_number():
    values = [1.0] * 9 + [5.0]

    violations = nelson_violations(values, centre=0.0, sigma=1.0)

    assert violations == [
        Violation(8, NelsonRule.NINE_ON_ONE_SIDE),
        Violation(9, NelsonRule.BEYOND_3_SIGMA),
        Violation(9, NelsonRule.NINE_ON_ONE_SIDE),
    ]
    assert NelsonRule.NINE_ON_ONE_SIDE.value == 2
    assert "9 points in a row" in NelsonRule.NINE_ON_ONE_SIDE.description


def test_analysis_tests_the_rules_against_the_windows_own_limits():
    # A drift: flat around 245, then eight values climbing. The trial limits come from
    # these same values, and the climb breaks rule 3.
    values = [245.0, 245.4, 244.7, 245.2, 244.9, 245.3, 244.8, 245.1] * 3
    values += [245.5, 245.9, 246.3, 246.8, 247.2, 247.7, 248.1, 248.6]

    analysis = analyse(values, lsl=240, usl=250)

    rules = {violation.rule for violation in analysis.violations}
    assert NelsonRule.SIX_TRENDING in rules
    assert analysis.capability.n == 32 and analysis.capability.cpk.known
