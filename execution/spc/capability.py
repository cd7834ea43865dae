"""Process capability of values against spec limits: indexes, expected and observed PPM, histogram.

Cp, Cpk (σ within) and Pp, Ppk (σ overall) as in the NIST/SEMATECH e-Handbook §6.1.6
and Montgomery, Introduction to Statistical Quality Control (6th ed., 2009), §8.3.
Cpm (Chan, Cheng and Spiring 1988, J. Quality Technology 20(3); Montgomery §8.3.4):
(USL − LSL) / (6·√(s² + (x̄ − T)²)) with s the overall standard deviation and T the
target. Expected PPM is the normal distribution's mass beyond each limit with σ
within or σ overall (Montgomery §8.3.1); observed PPM counts the values outside.

Where a figure cannot be computed it is a `Figure` with the reason. Warnings say
when the figures describe no stable process (rule violations) or too few values.
"""

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from execution.spc.figures import Figure, too_few
from execution.spc.individuals import LIMITS_MINIMUM, ImrLimits, imr_limits

# 25 is the conventional minimum for a capability study (AIAG SPC manual: 25 subgroups or more).
CAPABILITY_MINIMUM = 25
PER_MILLION = 1_000_000


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


def cpm(
    mean: float, sigma: float, lsl: float | None, usl: float | None, target: float | None
) -> Figure:
    """Taguchi's index: (USL − LSL) / (6·√(σ² + (μ − T)²)); needs both limits and a target."""
    if lsl is None or usl is None:
        return Figure(missing="needs both spec limits")
    if target is None:
        return Figure(missing="no target")
    spread = math.sqrt(sigma**2 + (mean - target) ** 2)
    if spread == 0:
        return Figure(missing="σ is 0 and the mean is on target")
    return Figure((usl - lsl) / (6 * spread))


def normal_below(z: float) -> float:
    """Φ(z), the standard normal distribution's mass below z (erfc keeps the tails exact)."""
    return 0.5 * math.erfc(-z / math.sqrt(2))


@dataclass(frozen=True)
class Ppm:
    """Parts per million below the LSL, above the USL and in all."""

    below: Figure
    above: Figure
    total: Figure


def _ppm(below: float | None, above: float | None, missing: str = "") -> Ppm:
    if missing:
        gone = Figure(missing=missing)
        return Ppm(gone, gone, gone)
    if below is None and above is None:
        gone = Figure(missing="no spec limits")
        return Ppm(gone, gone, gone)
    return Ppm(
        Figure(below) if below is not None else Figure(missing="no lower spec limit"),
        Figure(above) if above is not None else Figure(missing="no upper spec limit"),
        Figure((below or 0.0) + (above or 0.0)),
    )


def expected_ppm(mean: float, sigma: float, lsl: float | None, usl: float | None) -> Ppm:
    """PPM a normal distribution N(mean, σ) puts below the LSL and above the USL."""
    if sigma <= 0:
        return _ppm(None, None, "σ is 0 (all values equal)")
    below = PER_MILLION * normal_below((lsl - mean) / sigma) if lsl is not None else None
    above = PER_MILLION * normal_below((mean - usl) / sigma) if usl is not None else None
    return _ppm(below, above)


def observed_ppm(values: Sequence[float], lsl: float | None, usl: float | None) -> Ppm:
    """PPM of `values` below the LSL and above the USL (a value on a limit is inside)."""
    if not values:
        return _ppm(None, None, too_few(1, 0).missing)
    share = PER_MILLION / len(values)
    below = share * sum(value < lsl for value in values) if lsl is not None else None
    above = share * sum(value > usl for value in values) if usl is not None else None
    return _ppm(below, above)


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
    cpm: Figure = field(default_factory=lambda: Figure(missing="no target"))
    ppm_within: Ppm | None = None
    ppm_overall: Ppm | None = None
    ppm_observed: Ppm | None = None
    warnings: list[str] = field(default_factory=list)


def capability_warnings(n: int, violation_count: int) -> list[str]:
    """Why the figures may mislead: too few values, or a process not in control."""
    warnings = []
    if n < CAPABILITY_MINIMUM:
        warnings.append(
            f"too short: {n} values, a capability study needs at least {CAPABILITY_MINIMUM}"
        )
    if violation_count:
        warnings.append(
            f"not in control: {violation_count} rule violation{'s' if violation_count > 1 else ''}"
            " in the window, so the figures describe no stable process"
        )
    return warnings


def capability(
    values: list[float],
    lsl: float | None,
    usl: float | None,
    limits: ImrLimits | None = None,
    *,
    target: float | None = None,
    violation_count: int = 0,
) -> Capability:
    """Capability of `values` against the spec limits (either may be None).

    σ within = MR̄/d₂ (from the moving ranges), σ overall = the sample standard
    deviation (n − 1). The indexes, Cpm and the expected PPM need CAPABILITY_MINIMUM
    values; the observed PPM needs one. `violation_count` (the rule violations of the
    same window) and a short window become `warnings`.
    """
    n = len(values)
    limits = limits or imr_limits(values)
    mean = Figure(statistics.fmean(values)) if values else too_few(1, n)
    if limits is None:
        sigma_within = sigma_overall = too_few(LIMITS_MINIMUM, n)
    else:
        sigma_within = Figure(limits.sigma_within)
        sigma_overall = Figure(statistics.stdev(values))
    observed = observed_ppm(values, lsl, usl)
    warnings = capability_warnings(n, violation_count)
    if n < CAPABILITY_MINIMUM:
        missing = too_few(CAPABILITY_MINIMUM, n)
        expected = _ppm(None, None, missing.missing)
        return Capability(
            n, mean, sigma_within, sigma_overall, *[missing] * 5,
            expected, expected, observed, warnings,
        )  # fmt: skip
    cp, cpk = capability_indexes(mean.value, sigma_within.value, lsl, usl)
    pp, ppk = capability_indexes(mean.value, sigma_overall.value, lsl, usl)
    return Capability(
        n,
        mean,
        sigma_within,
        sigma_overall,
        cp,
        cpk,
        pp,
        ppk,
        cpm=cpm(mean.value, sigma_overall.value, lsl, usl, target),
        ppm_within=expected_ppm(mean.value, sigma_within.value, lsl, usl),
        ppm_overall=expected_ppm(mean.value, sigma_overall.value, lsl, usl),
        ppm_observed=observed,
        warnings=warnings,
    )


@dataclass(frozen=True)
class Histogram:
    """Bars of equal width: bar i spans edges[i] … edges[i + 1] and holds counts[i] values."""

    edges: list[float]
    counts: list[int]

    @property
    def width(self) -> float:
        return self.edges[1] - self.edges[0]


def sturges_bins(n: int) -> int:
    """⌈log₂ n⌉ + 1 bars (Sturges' rule), at least one."""
    return math.ceil(math.log2(n)) + 1 if n > 1 else 1


def histogram(
    values: Sequence[float],
    bins: int | None = None,
    low: float | None = None,
    high: float | None = None,
) -> Histogram | None:
    """Counts of `values` in `bins` bars of equal width (Sturges' rule by default).

    The bars span low … high, widened to hold every value (pass the spec limits to
    show them on the same axis). Each bar holds its left edge; the last holds its
    right edge too. All values equal: one bar, half a unit either side. No values: None.
    """
    if not values:
        return None
    bins = bins or sturges_bins(len(values))
    start = min([*values, *([low] if low is not None else [])])
    stop = max([*values, *([high] if high is not None else [])])
    if start == stop:
        start, stop, bins = start - 0.5, stop + 0.5, 1
    width = (stop - start) / bins
    edges = [start + index * width for index in range(bins)] + [stop]
    counts = [0] * bins
    for value in values:
        counts[min(bisect.bisect_right(edges, value) - 1, bins - 1)] += 1
    return Histogram(edges, counts)


def normal_curve(
    mean: float, sigma: float, low: float, high: float, points: int = 101, scale: float = 1.0
) -> list[tuple[float, float]]:
    """(x, y) points of the normal density N(mean, σ) from low to high, y times `scale`.

    To lay the curve over a histogram of counts, scale = n × the bar width. σ ≤ 0 or
    fewer than two points: no curve.
    """
    if sigma <= 0 or points < 2:
        return []
    step = (high - low) / (points - 1)
    factor = scale / (sigma * math.sqrt(2 * math.pi))
    curve = []
    for index in range(points):
        x = low + index * step
        curve.append((x, factor * math.exp(-0.5 * ((x - mean) / sigma) ** 2)))
    return curve
