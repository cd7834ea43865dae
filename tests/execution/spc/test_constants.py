"""The control chart constants of execution/spc/constants.py against the printed table.

Source: Montgomery, D. C., Introduction to Statistical Quality Control, 6th ed.
(Wiley, 2009), Appendix Table VI "Factors for Constructing Variables Control
Charts" (the same values are in the AIAG SPC manual). The printed values checked
here are the rows n = 2, 5, 10 and 25. The whole table is also checked against the
factors' definitions (Montgomery §6.2-6.3; SAS/QC "Deriving Control Chart
Constants"): c₄ = √(2/(n−1))·Γ(n/2)/Γ((n−1)/2), d₂ = ∫(1 − Φ(x)ⁿ − (1 − Φ(x))ⁿ)dx,
A₂ = 3/(d₂√n), A₃ = 3/(c₄√n), B₃,₄ = 1 ∓ 3√(1 − c₄²)/c₄, D₃ + D₄ = 2 — each to the
last printed digit (the printed D₄ for n = 18 and D₃ for n = 24 are one unit off the
exact values, so the check allows one unit).
"""

import math

import pytest

from execution.spc import CONSTANTS, SUBGROUP_SIZES, chart_constants

PRINTED = {
    # n: A2, A3, c4, B3, B4, d2, D3, D4
    2: (1.880, 2.659, 0.7979, 0, 3.267, 1.128, 0, 3.267),
    5: (0.577, 1.427, 0.9400, 0, 2.089, 2.326, 0, 2.114),
    10: (0.308, 0.975, 0.9727, 0.284, 1.716, 3.078, 0.223, 1.777),
    25: (0.153, 0.606, 0.9896, 0.565, 1.435, 3.931, 0.459, 1.541),
}


@pytest.mark.parametrize("n", sorted(PRINTED))
def test_the_constants_are_the_printed_ones(n):
    factors = chart_constants(n)
    assert (
        factors.A2,
        factors.A3,
        factors.c4,
        factors.B3,
        factors.B4,
        factors.d2,
        factors.D3,
        factors.D4,
    ) == PRINTED[n]


def test_the_table_covers_subgroups_of_2_to_25_and_refuses_others():
    assert sorted(CONSTANTS) == list(SUBGROUP_SIZES) == list(range(2, 26))
    for n in (1, 26):
        with pytest.raises(ValueError, match="2–25"):
            chart_constants(n)


def c4_exact(n):
    return math.sqrt(2 / (n - 1)) * math.exp(math.lgamma(n / 2) - math.lgamma((n - 1) / 2))


def d2_exact(n, steps=4000, span=10.0):
    """Mean range of n standard normal values, by Simpson's rule on [−10, 10]."""

    def phi(x):
        return 0.5 * math.erfc(-x / math.sqrt(2))

    def f(x):
        return 1 - phi(x) ** n - (1 - phi(x)) ** n

    h = 2 * span / steps
    total = f(-span) + f(span)
    total += sum((4 if i % 2 else 2) * f(-span + i * h) for i in range(1, steps))
    return total * h / 3


@pytest.mark.parametrize("n", list(SUBGROUP_SIZES))
def test_each_row_agrees_with_the_definitions_to_the_last_printed_digit(n):
    factors = chart_constants(n)
    c4, d2 = c4_exact(n), d2_exact(n)
    spread = 3 * math.sqrt(1 - c4**2) / c4

    assert factors.c4 == pytest.approx(c4, abs=0.5e-4)
    assert factors.d2 == pytest.approx(d2, abs=0.5e-3)
    assert pytest.approx(3 / (d2 * math.sqrt(n)), abs=0.5e-3) == factors.A2
    assert pytest.approx(3 / (c4 * math.sqrt(n)), abs=0.5e-3) == factors.A3
    assert pytest.approx(max(0.0, 1 - spread), abs=0.5e-3) == factors.B3
    assert pytest.approx(1 + spread, abs=0.5e-3) == factors.B4
    if n <= 6:
        assert factors.D3 == 0
    else:
        assert pytest.approx(2, abs=1.01e-3) == factors.D3 + factors.D4
        # From the printed, rounded d₃ and d₂: one unit plus their rounding.
        assert pytest.approx(1 + 3 * factors.d3 / factors.d2, abs=1.5e-3) == factors.D4


STANDARD_PRINTED = {
    # n: A, B5, B6, D1, D2 (the same table's factors for a standard μ, σ given)
    2: (2.121, 0, 2.606, 0, 3.686),
    5: (1.342, 0, 1.964, 0, 4.918),
    10: (0.949, 0.276, 1.669, 0.687, 5.469),
    25: (0.600, 0.559, 1.420, 1.806, 6.056),
}


@pytest.mark.parametrize("n", sorted(STANDARD_PRINTED))
def test_the_factors_for_a_standard_given_are_the_printed_ones(n):
    factors = chart_constants(n)
    assert STANDARD_PRINTED[n] == (factors.A, factors.B5, factors.B6, factors.D1, factors.D2)


@pytest.mark.parametrize("n", list(SUBGROUP_SIZES))
def test_the_factors_for_a_standard_agree_with_their_definitions(n):
    # A = 3/√n, B₅,₆ = c₄ ∓ 3√(1 − c₄²), D₁,₂ = d₂ ∓ 3d₃ (Montgomery §6.2.1, §6.3.1).
    factors = chart_constants(n)
    c4 = c4_exact(n)

    assert pytest.approx(3 / math.sqrt(n), abs=0.5e-3) == factors.A
    assert pytest.approx(max(0.0, c4 - 3 * math.sqrt(1 - c4**2)), abs=0.5e-3) == factors.B5
    assert pytest.approx(c4 + 3 * math.sqrt(1 - c4**2), abs=0.5e-3) == factors.B6
    # d₃ is printed to three digits only: three of its units, times 3, plus rounding.
    assert pytest.approx(max(0.0, factors.d2 - 3 * factors.d3), abs=2.5e-3) == factors.D1
    assert pytest.approx(factors.d2 + 3 * factors.d3, abs=2.5e-3) == factors.D2
