"""A window's X̄-R or X̄-S chart: its values in subgroups (execution/spc_subgrouping.py), the
chart's limits and the spec's rules tested on them (execution/spc/subgroups.py).

The spec's SPC decisions apply as on the I-MR chart (docs/quality.md "Decisions on a
chart"): the kept values only, the Nelson rules the spec tests, and, when its limits
are frozen, limits from that baseline: μ its centre and σ its mean moving range / d₂,
the X̄ chart μ ± 3σ/√n and the R or s chart from the same σ (Montgomery's "standard
given" factors), instead of limits from the window.
"""

from dataclasses import dataclass

from execution.models import DataValue
from execution.spc import (
    D2,
    NoChart,
    SubgroupChart,
    SubgroupViolations,
    standard_chart,
    subgroup_violations,
    xbar_r_chart,
    xbar_s_chart,
)
from execution.spc_subgrouping import Subgrouping
from execution.spc_window import WindowAnalysis

# chart parameter → (title, spread chart's name, spread symbol, limits from the data)
SUBGROUP_CHARTS = {
    "xbar-r": ("X̄-R", "Range", "R", xbar_r_chart),
    "xbar-s": ("X̄-S", "Standard deviation", "S", xbar_s_chart),
}


@dataclass(frozen=True)
class SubgroupAnalysis:
    """A window cut into subgroups, their chart's limits and the rule violations."""

    kind: str  # a key of SUBGROUP_CHARTS
    subgrouping: Subgrouping
    chart: SubgroupChart
    violations: SubgroupViolations
    rules: list[int]

    @property
    def groups(self) -> list[list[DataValue]]:
        return self.subgrouping.groups

    @property
    def title(self) -> str:
        return SUBGROUP_CHARTS[self.kind][0]

    @property
    def spread_name(self) -> str:
        return SUBGROUP_CHARTS[self.kind][1]

    @property
    def spread_symbol(self) -> str:
        return self.chart.kind  # "R" or "S"

    @property
    def frozen(self) -> bool:
        return self.chart.from_standard


def subgroup_analysis(
    result: WindowAnalysis, kind: str, subgrouping: Subgrouping
) -> SubgroupAnalysis | NoChart:
    """The window's X̄-R or X̄-S chart of `subgrouping`'s groups, or a NoChart saying why not."""
    title, _name, symbol, limits_of = SUBGROUP_CHARTS[kind]
    numbers = [[value.value_number for value in group] for group in subgrouping.groups]
    settings = result.settings
    if settings is not None and settings.is_frozen:
        chart = standard_chart(numbers, symbol, settings.frozen_mean, settings.frozen_mr_mean / D2)
    else:
        chart = limits_of(numbers)
    if not chart.known and subgrouping.consecutive and len(numbers) < 2:
        size = subgrouping.size
        return NoChart(
            f"The {title} chart needs at least 2 subgroups of {size} consecutive values, "
            f"{2 * size} values; this window holds {len(result.values)} ({chart.missing})."
        )
    if not chart.known:
        return NoChart(
            f"The {title} chart of {subgrouping.description} cannot be drawn: {chart.missing}."
        )
    rules = result.rules
    return SubgroupAnalysis(
        kind, subgrouping, chart, subgroup_violations(chart, rules=rules), rules
    )
