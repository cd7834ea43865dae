"""Individuals and moving-range (I-MR) chart limits of values in collection order.

σ within is estimated from the moving ranges of two consecutive values:
MR̄/d₂ with d₂ = 1.128 and the MR chart's UCL D₄·MR̄ with D₄ = 3.267
(Montgomery, appendix table VI, n = 2; NIST/SEMATECH e-Handbook §6.3.2.2).
"""

import itertools
import statistics
from dataclasses import dataclass

from execution.spc.constants import CONSTANTS

D2 = CONSTANTS[2].d2
D4 = CONSTANTS[2].D4

# Limits need one moving range.
LIMITS_MINIMUM = 2


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


def frozen_limits(values: list[float], mean: float, mr_mean: float) -> ImrLimits:
    """I-MR limits frozen to a baseline's centre and mean moving range, over `values`'
    own moving ranges (so those beyond the frozen MR limit can be marked)."""
    sigma_within = mr_mean / D2
    return ImrLimits(
        mean=mean,
        moving_ranges=moving_ranges(values),
        mr_mean=mr_mean,
        sigma_within=sigma_within,
        ucl=mean + 3 * sigma_within,
        lcl=mean - 3 * sigma_within,
        mr_ucl=D4 * mr_mean,
    )


def moving_ranges_beyond_limit(limits: ImrLimits) -> list[int]:
    """Indexes of the values whose moving range is above the MR chart's UCL (D₄·MR̄).

    The moving range |xᵢ − xᵢ₋₁| is plotted at value i, so the indexes are those of
    `values` (never 0, the first value has no moving range). A range exactly on the
    limit is not beyond it.
    """
    return [
        position + 1
        for position, moving_range in enumerate(limits.moving_ranges)
        if moving_range > limits.mr_ucl
    ]
