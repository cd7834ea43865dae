"""Capability additions (execution/spc/capability.py): Cpm, PPM, warnings, histogram, curve.

Sources:
- Montgomery, D. C., Introduction to Statistical Quality Control, 6th ed. (Wiley,
  2009), chapter 8, the table of Cp against the process fallout in defective ppm of
  a centred normal process: Cp 0.50 → 66,807 ppm one-sided, 133,614 two-sided;
  Cp 1.00 → 1,350 and 2,700.
- Montgomery and Runger, Applied Statistics and Probability for Engineers (the
  edition whose chapter 16 is statistical quality control; §16-7 "Process
  Capability", p. 623), Example 16-3: specifications 100 ± 10 mA, mean 107.0,
  standard deviation 1.5; PCR = 2.22, PCRk = 0.67, P(X > USL) = P(Z > 2) = 0.023,
  P(X < LSL) = P(Z < −11.33) ≈ 0.
- Cpm: the formula of Chan, Cheng and Spiring (1988), J. Quality Technology 20(3),
  162-175, as given by Montgomery (6th ed.) §8.3.4: Cpm = (USL − LSL)/(6τ),
  τ² = σ² + (μ − T)². The example figures are worked by hand from it.
- Histogram counts, observed PPM, the normal curve and the warnings are constructed
  and worked by hand.
"""

import math

import pytest

from execution.spc import (
    CAPABILITY_MINIMUM,
    analyse,
    capability,
    capability_indexes,
    cpm,
    expected_ppm,
    histogram,
    normal_curve,
    observed_ppm,
)

# --- Cpm -----------------------------------------------------------------------------------------


def test_cpm_falls_as_the_mean_moves_off_target():
    # Worked by hand: LSL 35, USL 65, T 50. Centred (μ 50, σ 5): Cpm = 30/30 = 1.0 = Cp.
    # Off target (μ 57.5, σ 2.5): τ = √(2.5² + 7.5²) = 7.9057, Cpm = 30/47.434 = 0.6325,
    # while Cp = 2.0 and Cpk = 1.0.
    assert cpm(50, 5, 35, 65, 50).value == pytest.approx(1.0)
    assert cpm(57.5, 2.5, 35, 65, 50).value == pytest.approx(0.6325, abs=5e-5)
    cp, cpk = capability_indexes(57.5, 2.5, 35, 65)
    assert (cp.value, cpk.value) == pytest.approx((2.0, 1.0))


def test_cpm_needs_both_limits_and_a_target():
    assert cpm(50, 5, 35, 65, None).missing == "no target"
    assert cpm(50, 5, None, 65, 50).missing == "needs both spec limits"
    assert cpm(50, 0, 35, 65, 50).missing == "σ is 0 and the mean is on target"
    assert cpm(51, 0, 35, 65, 50).value == pytest.approx(5.0)  # τ = |μ − T| = 1


# --- expected and observed PPM -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cp", "one_side", "both_sides"),
    [(0.50, 66_807, 133_614), (1.00, 1_350, 2_700)],
)
def test_expected_ppm_of_a_centred_process_matches_montgomerys_table(cp, one_side, both_sides):
    ppm = expected_ppm(mean=0.0, sigma=1.0, lsl=-3 * cp, usl=3 * cp)

    assert ppm.above.value == pytest.approx(one_side, abs=0.5)
    assert ppm.below.value == pytest.approx(one_side, abs=0.5)
    assert ppm.total.value == pytest.approx(both_sides, abs=0.5)


def test_expected_ppm_keeps_the_far_tail_of_a_very_capable_process():
    # Cp = 2: the tail beyond 6σ is Q(6) = 9.8659e-10 (the standard normal upper tail);
    # erfc keeps it where 1 − Φ(6) in floating point would lose most digits.
    ppm = expected_ppm(mean=0.0, sigma=1.0, lsl=-6.0, usl=6.0)

    assert ppm.above.value == pytest.approx(9.8659e-10 * 1e6, rel=1e-4)
    assert ppm.total.value == pytest.approx(2 * 9.8659e-10 * 1e6, rel=1e-4)


def test_expected_ppm_of_an_off_centre_process_matches_montgomery_and_runger_16_3():
    ppm = expected_ppm(mean=107.0, sigma=1.5, lsl=90.0, usl=110.0)
    cp, cpk = capability_indexes(107.0, 1.5, 90.0, 110.0)

    assert (cp.value, cpk.value) == pytest.approx((2.22, 0.67), abs=5e-3)
    assert ppm.above.value / 1e6 == pytest.approx(0.023, abs=5e-4)
    assert ppm.below.value / 1e6 == pytest.approx(0.0, abs=1e-12)
    assert ppm.total.value == pytest.approx(ppm.above.value)


def test_expected_ppm_with_one_limit_has_that_side_only():
    ppm = expected_ppm(mean=0.0, sigma=1.0, lsl=None, usl=3.0)

    assert ppm.below.missing == "no lower spec limit"
    assert ppm.above.value == pytest.approx(1_350, abs=0.5)
    assert ppm.total.value == ppm.above.value
    assert expected_ppm(0.0, 1.0, None, None).total.missing == "no spec limits"
    assert expected_ppm(0.0, 0.0, -1.0, 1.0).total.missing == "σ is 0 (all values equal)"


def test_observed_ppm_counts_values_outside_and_a_value_on_a_limit_is_inside():
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]

    ppm = observed_ppm(values, lsl=2.0, usl=9.0)

    # One of ten below (1), one above (10): 100,000 ppm each.
    assert (ppm.below.value, ppm.above.value, ppm.total.value) == (100_000, 100_000, 200_000)
    assert observed_ppm(values, lsl=None, usl=20.0).total.value == 0
    assert not observed_ppm([], 1.0, 2.0).total.known


# --- the capability result ----------------------------------------------------------------------


def test_capability_gives_cpm_from_sigma_overall_and_ppm_within_and_overall():
    values = [244.0, 246.0] * 13  # σ within 2/d₂ = 1.773, σ overall √(26/25) = 1.0198

    figures = capability(values, lsl=240, usl=250, target=244)

    sigma_overall = (26 / 25) ** 0.5
    assert figures.cpm.value == pytest.approx(10 / (6 * math.sqrt(sigma_overall**2 + 1)))
    within = expected_ppm(245, figures.sigma_within.value, 240, 250)
    assert figures.ppm_within.total.value == pytest.approx(within.total.value)
    assert figures.ppm_overall.total.value == pytest.approx(
        expected_ppm(245, sigma_overall, 240, 250).total.value
    )
    assert figures.ppm_within.total.value > figures.ppm_overall.total.value  # wider σ within
    assert figures.ppm_observed.total.value == 0
    assert figures.warnings == []


def test_capability_without_a_target_has_no_cpm():
    figures = capability([244.0, 246.0] * 13, lsl=240, usl=250)
    assert figures.cpm.missing == "no target"


def test_a_short_window_warns_and_has_no_expected_ppm_but_an_observed_one():
    figures = capability([244.0, 251.0] * 5, lsl=240, usl=250, target=245)

    assert figures.warnings == ["too short: 10 values, a capability study needs at least 25"]
    assert figures.cpm.missing == f"too few values (n = 10 < {CAPABILITY_MINIMUM})"
    assert figures.ppm_within.total.missing == "too few values (n = 10 < 25)"
    assert figures.ppm_observed.above.value == 500_000


def test_rule_violations_make_the_capability_warn_that_the_window_is_not_in_control():
    figures = capability([244.0, 246.0] * 13, lsl=240, usl=250, violation_count=3)

    assert figures.warnings == [
        "not in control: 3 rule violations in the window, so the figures describe no stable process"
    ]
    assert figures.cpk.known  # the figures are still shown, with the warning


def test_the_analysis_passes_its_violations_and_target_to_the_capability():
    # Flat then a climb of eight: rule 3 fires (tests/execution/test_spc.py).
    values = [245.0, 245.4, 244.7, 245.2, 244.9, 245.3, 244.8, 245.1] * 3
    values += [245.5, 245.9, 246.3, 246.8, 247.2, 247.7, 248.1, 248.6]

    analysis = analyse(values, lsl=240, usl=250, target=245)

    count = len(analysis.violations)
    assert count > 0
    assert analysis.capability.warnings == [
        f"not in control: {count} rule violations in the window,"
        " so the figures describe no stable process"
    ]
    assert analysis.capability.cpm.known


# --- histogram and normal curve -----------------------------------------------------------------


def test_a_histogram_counts_each_value_once_with_the_last_bar_closed():
    # Worked by hand: 1 … 5 in four bars of width 1: [1,2) 1, [2,3) 2, [3,4) 3, [4,5] 3.
    bars = histogram([1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0, 5.0], bins=4)

    assert bars.edges == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert bars.counts == [1, 2, 3, 3]
    assert bars.width == 1.0


def test_the_default_number_of_bars_follows_sturges_rule():
    bars = histogram([float(value) for value in range(9)])  # ⌈log₂ 9⌉ + 1 = 5

    assert len(bars.counts) == 5 and sum(bars.counts) == 9
    assert len(histogram([float(value) for value in range(100)]).counts) == 8  # ⌈6.64⌉ + 1


def test_a_histogram_widens_to_the_spec_limits_and_handles_equal_values():
    bars = histogram([3.0, 4.0], bins=4, low=0.0, high=8.0)

    assert bars.edges == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert bars.counts == [0, 1, 1, 0]
    flat = histogram([2.0, 2.0, 2.0])
    assert (flat.edges, flat.counts) == ([1.5, 2.5], [3])
    assert histogram([]) is None


def test_the_normal_curve_is_the_density_scaled_for_the_histogram():
    curve = normal_curve(mean=0.0, sigma=1.0, low=-3.0, high=3.0, points=7, scale=10.0)

    assert [x for x, _ in curve] == pytest.approx([-3, -2, -1, 0, 1, 2, 3])
    assert curve[3][1] == pytest.approx(10 / math.sqrt(2 * math.pi))  # 3.9894 at the mean
    assert curve[0][1] == pytest.approx(curve[6][1])
    assert curve[2][1] == pytest.approx(10 * math.exp(-0.5) / math.sqrt(2 * math.pi))
    assert normal_curve(0.0, 0.0, -1.0, 1.0) == []
