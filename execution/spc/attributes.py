"""Attribute control charts: p and np for defectives, c and u for defects (nonconformities).

Formulas from Montgomery, Introduction to Statistical Quality Control (6th ed.,
2009), chapter 7, and the NIST/SEMATECH e-Handbook §6.3.3:

- p: p̄ = Σdᵢ/Σnᵢ, limits p̄ ± 3√(p̄(1 − p̄)/nᵢ), one pair per sample (variable nᵢ).
- np: centre np̄, limits np̄ ± 3√(np̄(1 − p̄)); equal sample sizes only.
- c: c̄ the mean count per sample, limits c̄ ± 3√c̄; equal inspection units.
- u: ū = Σcᵢ/Σnᵢ (nᵢ inspection units, not necessarily whole), limits ū ± 3√(ū/nᵢ).

An LCL below 0 is 0, as the sources set it. The UCL of a p chart is not clipped
at 1 (3σ limits of small samples may pass it; no point can).
"""

import math
from dataclasses import dataclass

from execution.spc.figures import NoChart
from execution.spc.rules import beyond_limits

ATTRIBUTE_MINIMUM = 2  # samples


@dataclass(frozen=True)
class AttributeChart:
    """Points, centre and per-point limits of a p, np, c or u chart."""

    kind: str  # "p", "np", "c" or "u"
    points: list[float]  # pᵢ, dᵢ, cᵢ or uᵢ
    sizes: list[float]  # nᵢ: units inspected (items for p/np, inspection units for c/u)
    centre: float
    ucl: list[float]
    lcl: list[float]

    @property
    def known(self) -> bool:
        return True

    @property
    def beyond(self) -> list[int]:
        """Indexes of the points above their UCL or below their LCL (rule 1)."""
        return beyond_limits(self.points, self.lcl, self.ucl)


def _sizes(counts: list[float], sizes: list[float] | float) -> list[float] | NoChart:
    listed = list(sizes) if isinstance(sizes, list | tuple) else [sizes] * len(counts)
    if len(listed) != len(counts):
        return NoChart(f"{len(counts)} counts but {len(listed)} sample sizes")
    if len(counts) < ATTRIBUTE_MINIMUM:
        return NoChart(f"too few samples (m = {len(counts)} < {ATTRIBUTE_MINIMUM})")
    if any(size <= 0 for size in listed):
        return NoChart("a sample size is 0 or less")
    if any(count < 0 for count in counts):
        return NoChart("a count is negative")
    return listed


def _limits(centre: float, spreads: list[float]) -> tuple[list[float], list[float]]:
    return (
        [centre + 3 * spread for spread in spreads],
        [max(0.0, centre - 3 * spread) for spread in spreads],
    )


def p_chart(defectives: list[int], sizes: list[int] | int) -> AttributeChart | NoChart:
    """Fraction defective per sample: pᵢ = dᵢ/nᵢ; `sizes` one number or one per sample."""
    listed = _sizes(defectives, sizes)
    if isinstance(listed, NoChart):
        return listed
    if any(count > size for count, size in zip(defectives, listed, strict=True)):
        return NoChart("more defectives than items in a sample")
    p_bar = sum(defectives) / sum(listed)
    ucl, lcl = _limits(p_bar, [math.sqrt(p_bar * (1 - p_bar) / size) for size in listed])
    points = [count / size for count, size in zip(defectives, listed, strict=True)]
    return AttributeChart("p", points, listed, p_bar, ucl, lcl)


def np_chart(defectives: list[int], size: int) -> AttributeChart | NoChart:
    """Number defective per sample of `size` items (one size for all: else use p_chart)."""
    if not isinstance(size, int):
        return NoChart("an np chart needs one sample size for all samples: use the p chart")
    listed = _sizes(defectives, size)
    if isinstance(listed, NoChart):
        return listed
    if any(count > size for count in defectives):
        return NoChart("more defectives than items in a sample")
    p_bar = sum(defectives) / (size * len(defectives))
    centre = size * p_bar
    ucl, lcl = _limits(centre, [math.sqrt(centre * (1 - p_bar))] * len(defectives))
    return AttributeChart("np", [float(count) for count in defectives], listed, centre, ucl, lcl)


def c_chart(counts: list[int]) -> AttributeChart | NoChart:
    """Defects per sample, every sample the same inspection unit (else use u_chart)."""
    listed = _sizes(counts, 1)
    if isinstance(listed, NoChart):
        return listed
    c_bar = sum(counts) / len(counts)
    ucl, lcl = _limits(c_bar, [math.sqrt(c_bar)] * len(counts))
    return AttributeChart("c", [float(count) for count in counts], listed, c_bar, ucl, lcl)


def u_chart(counts: list[int], units: list[float] | float) -> AttributeChart | NoChart:
    """Defects per inspection unit: uᵢ = cᵢ/nᵢ, `units` one number or one per sample."""
    listed = _sizes(counts, units)
    if isinstance(listed, NoChart):
        return listed
    u_bar = sum(counts) / sum(listed)
    ucl, lcl = _limits(u_bar, [math.sqrt(u_bar / size) for size in listed])
    points = [count / size for count, size in zip(counts, listed, strict=True)]
    return AttributeChart("u", points, listed, u_bar, ucl, lcl)
