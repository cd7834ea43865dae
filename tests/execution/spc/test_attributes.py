"""Attribute charts (execution/spc/attributes.py) against Montgomery's worked examples.

Source: Montgomery, D. C., Introduction to Statistical Quality Control, 6th ed.
(Wiley, 2009), chapter 7. Data as printed there (and transcribed in the R package
qcc, luca-scr/qcc, data/*.txt):

- Example 7.1, orange-juice cans (qcc `orangejuice`, samples 1-30): 30 samples of
  n = 50, nonconforming cans per sample; p̄ = 0.2313, UCL = 0.4102, LCL = 0.0524;
  samples 15 and 23 plot above the UCL.
- Example 7.3, printed-circuit boards (qcc `circuit`, samples 1-26): nonconformities
  in 26 samples of 100 boards; c̄ = 19.85, UCL = 33.22, LCL = 6.48; samples 6 and
  20 plot outside the limits.
- Example 7.4, personal computers (qcc `pcmanufact`): nonconformities in 20 samples
  of 5 computers; ū = 1.93. The limits are worked by hand from ū ± 3√(ū/n).
- The dyed-cloth example of chapter 7, the u chart with variable sample size (qcc
  `dyedcloth`, citing the 2nd ed. pp. 183-184):
  nonconformities on 10 rolls of 8-13 inspection units of 50 m²; ū = 153/107.5 = 1.42.
  The per-roll limits are worked by hand from ū ± 3√(ū/nᵢ).

np and variable-size p limits are worked by hand from the formulas of §7.2
(np̄ ± 3√(np̄(1 − p̄)); p̄ ± 3√(p̄(1 − p̄)/nᵢ)).
"""

import pytest

from execution.spc import c_chart, np_chart, p_chart, u_chart

ORANGE_JUICE = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22]
ORANGE_JUICE += [8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7, 13, 9, 6]
CIRCUIT_BOARDS = [21, 24, 16, 12, 15, 5, 28, 20, 31, 25, 20, 24, 16]
CIRCUIT_BOARDS += [19, 10, 17, 13, 22, 18, 39, 30, 24, 16, 19, 17, 15]
COMPUTERS = [10, 12, 8, 14, 10, 16, 11, 7, 10, 15, 9, 5, 7, 11, 12, 6, 8, 10, 7, 5]
DYED_CLOTH = [14, 12, 20, 11, 7, 10, 21, 16, 19, 23]
DYED_CLOTH_UNITS = [10, 8, 13, 10, 9.5, 10, 12, 10.5, 12, 12.5]


def test_the_orange_juice_p_chart_matches_example_7_1():
    chart = p_chart(ORANGE_JUICE, 50)

    assert len(ORANGE_JUICE) == 30 and sum(ORANGE_JUICE) == 347
    assert chart.centre == pytest.approx(0.2313, abs=5e-5)
    assert chart.ucl == pytest.approx([0.4102] * 30, abs=5e-5)
    assert chart.lcl == pytest.approx([0.0524] * 30, abs=5e-5)
    assert chart.points[14] == pytest.approx(0.44)  # sample 15: 22/50
    assert [index + 1 for index in chart.beyond] == [15, 23]


def test_the_np_chart_is_the_p_chart_times_n():
    # Worked by hand: np̄ = 347/30 = 11.567; 3√(11.567 × 0.7687) = 8.945.
    chart = np_chart(ORANGE_JUICE, 50)
    p = p_chart(ORANGE_JUICE, 50)

    assert chart.centre == pytest.approx(347 / 30)
    assert chart.ucl[0] == pytest.approx(50 * p.ucl[0])
    assert chart.lcl[0] == pytest.approx(50 * p.lcl[0])
    assert chart.ucl[0] == pytest.approx(20.512, abs=5e-4)
    assert chart.lcl[0] == pytest.approx(2.621, abs=5e-4)
    assert chart.points[22] == 24
    assert chart.beyond == p.beyond


def test_a_p_chart_with_variable_sample_sizes_has_limits_per_sample():
    # Worked by hand: p̄ = (10 + 20 + 5)/(100 + 400 + 25) = 35/525 = 0.0667.
    # Half-widths 3√(p̄(1 − p̄)/n): n = 100 → 0.07483, 400 → 0.03742, 25 → 0.14967
    # (LCL below 0 → 0). Sample 3 (5/25 = 0.2) is inside its wide limit, sample 1
    # (0.1) inside; none beyond.
    chart = p_chart([10, 20, 5], [100, 400, 25])
    p_bar = 35 / 525

    assert chart.centre == pytest.approx(p_bar)
    assert chart.ucl == pytest.approx([p_bar + 0.07483, p_bar + 0.03742, p_bar + 0.14967], abs=5e-5)
    assert chart.lcl == pytest.approx([0.0, p_bar - 0.03742, 0.0], abs=5e-5)
    assert chart.points == pytest.approx([0.1, 0.05, 0.2])
    assert chart.beyond == []


def test_the_circuit_board_c_chart_matches_example_7_3():
    chart = c_chart(CIRCUIT_BOARDS)

    assert len(CIRCUIT_BOARDS) == 26 and sum(CIRCUIT_BOARDS) == 516
    assert chart.centre == pytest.approx(19.85, abs=5e-3)
    # The book works from the rounded c̄ = 19.85 (19.85 + 3√19.85 = 33.216); from the
    # exact c̄ = 19.846 the UCL is 33.211: agreement to 0.01.
    assert chart.ucl[0] == pytest.approx(33.22, abs=1e-2)
    assert chart.lcl[0] == pytest.approx(6.48, abs=5e-3)
    assert [index + 1 for index in chart.beyond] == [6, 20]


def test_the_computer_u_chart_has_the_centre_of_example_7_4():
    chart = u_chart(COMPUTERS, 5)

    assert chart.centre == pytest.approx(1.93)
    # Worked by hand: 1.93 ± 3√(1.93/5) = 1.93 ± 1.8639.
    assert chart.ucl[0] == pytest.approx(3.7939, abs=5e-5)
    assert chart.lcl[0] == pytest.approx(0.0661, abs=5e-5)
    assert chart.points[5] == pytest.approx(3.2)  # 16/5
    assert chart.beyond == []


def test_the_dyed_cloth_u_chart_has_limits_per_roll():
    chart = u_chart(DYED_CLOTH, DYED_CLOTH_UNITS)
    u_bar = 153 / 107.5

    assert chart.centre == pytest.approx(1.42, abs=5e-3)
    # Worked by hand for the rolls of 10 and 8 units: 1.4233 ± 3√(1.4233/n).
    assert chart.ucl[0] == pytest.approx(u_bar + 3 * (u_bar / 10) ** 0.5)
    assert (chart.ucl[0], chart.lcl[0]) == pytest.approx((2.555, 0.291), abs=5e-4)
    assert (chart.ucl[1], chart.lcl[1]) == pytest.approx((2.689, 0.158), abs=5e-4)
    assert chart.points[4] == pytest.approx(7 / 9.5)
    assert chart.beyond == []


def test_a_negative_lower_limit_is_zero():
    # c̄ = 4: 4 − 3·2 = −2 → 0. The point 0 is on the limit, not beyond it.
    chart = c_chart([0, 4, 8])

    assert chart.lcl == [0.0, 0.0, 0.0]
    assert chart.ucl[0] == pytest.approx(10)
    assert chart.beyond == []


def test_attribute_charts_refuse_what_they_cannot_chart():
    assert p_chart([1], 50).missing == "too few samples (m = 1 < 2)"
    assert p_chart([1, 2], [50]).missing == "2 counts but 1 sample sizes"
    assert p_chart([1, 60], 50).missing == "more defectives than items in a sample"
    assert p_chart([1, 2], [50, 0]).missing == "a sample size is 0 or less"
    assert c_chart([3, -1]).missing == "a count is negative"
    assert np_chart([1, 2], [50, 40]).missing == (
        "an np chart needs one sample size for all samples: use the p chart"
    )
    assert not u_chart([1, 2], [1.0]).known
