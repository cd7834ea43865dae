"""One window of individual values analysed: I-MR limits, capability and rule violations."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from execution.spc.capability import Capability, capability
from execution.spc.figures import too_few
from execution.spc.individuals import (
    LIMITS_MINIMUM,
    ImrLimits,
    frozen_limits,
    imr_limits,
    moving_ranges_beyond_limit,
)
from execution.spc.rules import DEFAULT_RULES, Violation, nelson_violations


@dataclass(frozen=True)
class Analysis:
    """Everything the SPC chart shows for one window of values."""

    values: list[float]
    limits: ImrLimits | None
    capability: Capability
    violations: list[Violation] = field(default_factory=list)
    moving_ranges_beyond: list[int] = field(default_factory=list)  # value indexes

    @property
    def limits_missing(self) -> str:
        if self.limits is not None:
            return ""
        return too_few(LIMITS_MINIMUM, len(self.values)).missing


def analyse(
    values: list[float],
    lsl: float | None = None,
    usl: float | None = None,
    *,
    target: float | None = None,
    rules: Iterable[int] = DEFAULT_RULES,
    frozen: tuple[float, float] | None = None,
) -> Analysis:
    """Limits, capability and the chosen rules' violations of `values` (oldest first).

    The rules are tested against limits computed from the same values (trial
    limits), or against `frozen` (centre, mean moving range) of a baseline; their
    violations and the moving ranges beyond D₄·MR̄ become the capability's "not in
    control" warning.
    """
    values = [float(value) for value in values]
    if frozen is not None and len(values) >= 1:
        limits = frozen_limits(values, *frozen)
    else:
        limits = imr_limits(values)
    if limits is None:
        violations, beyond = [], []
    else:
        violations = nelson_violations(values, limits.mean, limits.sigma_within, rules)
        beyond = moving_ranges_beyond_limit(limits)
    # A moving range beyond its limit is rule 1 of the MR chart: not in control either.
    signals = len(violations) + len(beyond)
    figures = capability(values, lsl, usl, limits, target=target, violation_count=signals)
    return Analysis(values, limits, figures, violations, beyond)
