"""Statistical process control of one spec's values: I-MR limits, capability, Nelson rules.

Pure arithmetic on a list of numbers in collection order (oldest first): no
database and no Django here, so the figures can be checked against published
worked examples (tests/execution/test_spc.py cites them). spc_window.py reads the values;
spc_chart.py draws them. docs/quality.md ("SPC") states the constants and the
minimum counts in words.

Where a figure cannot be computed (too few values, no spread, no spec limit on
that side), it is a `Figure` with no value and the reason, never a number.
"""

import enum
import itertools
import statistics
from dataclasses import dataclass, field

# Bias-correction constants for moving ranges of two consecutive values
# (Montgomery, Introduction to Statistical Quality Control, appendix table VI; n = 2).
D2 = 1.128
D4 = 3.267

# Limits need one moving range. Capability needs enough values for its σ estimates to
# mean something: 25 is the conventional minimum (AIAG SPC manual: 25 subgroups or more).
LIMITS_MINIMUM = 2
CAPABILITY_MINIMUM = 25

# Nelson's run lengths (Nelson 1984, J. Quality Technology 16(4), tests 2-4).
SAME_SIDE_RUN = 9
TREND_RUN = 6
ALTERNATING_RUN = 14


@dataclass(frozen=True)
class Figure:
    """A computed figure, or the reason it has no value."""

    value: float | None = None
    missing: str = ""

    @property
    def known(self) -> bool:
        return self.value is not None


def too_few(needed: int, have: int) -> Figure:
    return Figure(missing=f"too few values (n = {have} < {needed})")


@dataclass(frozen=True)
class ImrLimits:
    """Individuals and moving-range chart limits, σ within estimated from the moving ranges."""

    mean: float
    moving_ranges: list[float]
    mr_mean: float
    sigma_within: float
    ucl: float
    lcl: float
    mr_ucl: float
    mr_lcl: float = 0.0


def moving_ranges(values: list[float]) -> list[float]:
    """|xᵢ − xᵢ₋₁| for each value after the first."""
    return [abs(current - previous) for previous, current in itertools.pairwise(values)]


def imr_limits(values: list[float]) -> ImrLimits | None:
    """The I-MR limits of `values`, or None with fewer than LIMITS_MINIMUM values.

    Individuals: X̄ ± 3·MR̄/d₂. Moving ranges: centre MR̄, UCL D₄·MR̄, LCL 0.
    """
    if len(values) < LIMITS_MINIMUM:
        return None
    mean = statistics.fmean(values)
    ranges = moving_ranges(values)
    mr_mean = statistics.fmean(ranges)
    sigma_within = mr_mean / D2
    return ImrLimits(
        mean=mean,
        moving_ranges=ranges,
        mr_mean=mr_mean,
        sigma_within=sigma_within,
        ucl=mean + 3 * sigma_within,
        lcl=mean - 3 * sigma_within,
        mr_ucl=D4 * mr_mean,
    )


def capability_indexes(
    mean: float, sigma: float, lsl: float | None, usl: float | None
) -> tuple[Figure, Figure]:
    """(Cp, Cpk) for σ within, or equally (Pp, Ppk) for σ overall.

    Cp = (USL − LSL) / 6σ needs both limits. Cpk = min(USL − μ, μ − LSL) / 3σ over the
    sides the spec gives: with one limit it is that side's index (Cpu or Cpl).
    """
    if lsl is None and usl is None:
        nothing = Figure(missing="no spec limits")
        return nothing, nothing
    if sigma <= 0:
        flat = Figure(missing="σ is 0 (all values equal)")
        return flat, flat
    if lsl is not None and usl is not None:
        spread = Figure((usl - lsl) / (6 * sigma))
    else:
        spread = Figure(missing="needs both spec limits")
    sides = []
    if usl is not None:
        sides.append((usl - mean) / (3 * sigma))
    if lsl is not None:
        sides.append((mean - lsl) / (3 * sigma))
    return spread, Figure(min(sides))


@dataclass(frozen=True)
class Capability:
    """How the values sit within the spec limits: σ within (short term) and overall."""

    n: int
    mean: Figure
    sigma_within: Figure
    sigma_overall: Figure
    cp: Figure
    cpk: Figure
    pp: Figure
    ppk: Figure


def capability(
    values: list[float], lsl: float | None, usl: float | None, limits: ImrLimits | None = None
) -> Capability:
    """Capability of `values` against the spec limits (either may be None).

    σ within = MR̄/d₂ (from the moving ranges), σ overall = the sample standard
    deviation (n − 1). The indexes need CAPABILITY_MINIMUM values.
    """
    n = len(values)
    limits = limits or imr_limits(values)
    mean = Figure(statistics.fmean(values)) if values else too_few(1, n)
    if limits is None:
        sigma_within = sigma_overall = too_few(LIMITS_MINIMUM, n)
    else:
        sigma_within = Figure(limits.sigma_within)
        sigma_overall = Figure(statistics.stdev(values))
    if n < CAPABILITY_MINIMUM:
        missing = too_few(CAPABILITY_MINIMUM, n)
        return Capability(n, mean, sigma_within, sigma_overall, *[missing] * 4)
    cp, cpk = capability_indexes(mean.value, sigma_within.value, lsl, usl)
    pp, ppk = capability_indexes(mean.value, sigma_overall.value, lsl, usl)
    return Capability(n, mean, sigma_within, sigma_overall, cp, cpk, pp, ppk)


class NelsonRule(enum.IntEnum):
    """Nelson's tests for special causes, numbered as he numbered them."""

    BEYOND_3_SIGMA = 1
    NINE_ON_ONE_SIDE = 2
    SIX_TRENDING = 3
    FOURTEEN_ALTERNATING = 4

    @property
    def description(self) -> str:
        return RULE_DESCRIPTIONS[self]


RULE_DESCRIPTIONS = {
    NelsonRule.BEYOND_3_SIGMA: "a point beyond 3σ from the centre line",
    NelsonRule.NINE_ON_ONE_SIDE: f"{SAME_SIDE_RUN} points in a row on one side of the centre line",
    NelsonRule.SIX_TRENDING: f"{TREND_RUN} points in a row steadily increasing or decreasing",
    NelsonRule.FOURTEEN_ALTERNATING: f"{ALTERNATING_RUN} points in a row alternating up and down",
}


@dataclass(frozen=True, order=True)
class Violation:
    """Point `index` (0 = oldest) completes a pattern of `rule`."""

    index: int
    rule: NelsonRule


def _sign(number: float) -> int:
    return (number > 0) - (number < 0)


def _runs(signs: list[int], length: int, *, alternating: bool = False) -> list[int]:
    """Positions where a run of `length` signs ends: equal (or, if `alternating`, each the
    opposite of the one before), none of them 0. A longer run ends at each further position."""
    ends, run = [], 0
    for position, sign in enumerate(signs):
        if sign == 0:
            run = 0
        elif run and (sign == -signs[position - 1] if alternating else sign == signs[position - 1]):
            run += 1
        else:
            run = 1
        if run >= length:
            ends.append(position)
    return ends


def nelson_violations(values: list[float], centre: float, sigma: float) -> list[Violation]:
    """Nelson rules 1-4 over `values`, each violation at the point completing its pattern.

    1: |x − centre| > 3σ. 2: nine in a row strictly on one side of the centre.
    3: six in a row each higher (or each lower) than the one before.
    4: fourteen in a row alternating up and down. Equal neighbours break rules 3 and 4;
    a point on the centre line breaks rule 2.
    """
    found = []
    if sigma > 0:
        found += [
            Violation(index, NelsonRule.BEYOND_3_SIGMA)
            for index, value in enumerate(values)
            if abs(value - centre) > 3 * sigma
        ]
    sides = [_sign(value - centre) for value in values]
    found += [Violation(end, NelsonRule.NINE_ON_ONE_SIDE) for end in _runs(sides, SAME_SIDE_RUN)]
    # Steps between neighbours: step i is from value i to value i + 1.
    steps = [_sign(current - previous) for previous, current in itertools.pairwise(values)]
    found += [Violation(end + 1, NelsonRule.SIX_TRENDING) for end in _runs(steps, TREND_RUN - 1)]
    found += [
        Violation(end + 1, NelsonRule.FOURTEEN_ALTERNATING)
        for end in _runs(steps, ALTERNATING_RUN - 1, alternating=True)
    ]
    return sorted(found)


@dataclass(frozen=True)
class Analysis:
    """Everything the SPC chart shows for one window of values."""

    values: list[float]
    limits: ImrLimits | None
    capability: Capability
    violations: list[Violation] = field(default_factory=list)

    @property
    def limits_missing(self) -> str:
        if self.limits is not None:
            return ""
        return too_few(LIMITS_MINIMUM, len(self.values)).missing


def analyse(values: list[float], lsl: float | None = None, usl: float | None = None) -> Analysis:
    """Limits, capability and rule violations of `values` (oldest first).

    The rules are tested against limits computed from the same values (trial limits).
    """
    values = [float(value) for value in values]
    limits = imr_limits(values)
    violations = (
        nelson_violations(values, limits.mean, limits.sigma_within) if limits is not None else []
    )
    return Analysis(values, limits, capability(values, lsl, usl, limits), violations)
