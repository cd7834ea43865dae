"""Subgrouped data: grouping values, X̄-R and X̄-S chart limits, and their rule checks.

Formulas from Montgomery, Introduction to Statistical Quality Control (6th ed.,
2009), §6.2 (X̄ and R: x̿ ± A₂R̄, R chart D₃R̄ … D₄R̄, σ̂ = R̄/d₂) and §6.3 (X̄ and s:
x̿ ± A₃s̄, s chart B₃s̄ … B₄s̄, σ̂ = s̄/c₄), with the constants of constants.py.

Unequal subgroup sizes: X̄-R refuses them (a range's meaning depends on n, and R̄
over mixed sizes has no standard form); X̄-S takes them with Montgomery's
variable-size formulas (§6.3.2): x̿ weighted by size, s̄ pooled,
s̄ = √(Σ(nᵢ − 1)sᵢ² / (Σnᵢ − m)), and limits per subgroup from the factors of its
own size. With equal sizes s̄ is the plain mean of the sᵢ, as in §6.3.1.

Limits from a standard (frozen limits: μ and σ known from a baseline), Montgomery
§6.2.1 and §6.3.1, "standard values given": X̄ chart μ ± Aσ (A = 3/√n), R chart
centre d₂σ, limits D₁σ … D₂σ; s chart centre c₄σ, limits B₅σ … B₆σ, each subgroup
with the factors of its own size.
"""

import statistics
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from execution.spc.constants import SUBGROUP_SIZES, chart_constants
from execution.spc.figures import NoChart
from execution.spc.rules import DEFAULT_RULES, Violation, beyond_limits, nelson_violations

SUBGROUPS_MINIMUM = 2


def subgroups_of(values: list[float], size: int) -> list[list[float]]:
    """`values` cut into subgroups of `size` consecutive values, oldest first.

    A last group with fewer than `size` values is left out: it is still filling.
    """
    if size < 1:
        raise ValueError("a subgroup holds at least one value")
    whole = len(values) - len(values) % size
    return [values[start : start + size] for start in range(0, whole, size)]


def subgroups_by_key(pairs: Iterable[tuple[Hashable, float]]) -> list[tuple[Hashable, list]]:
    """Values grouped by their key (a panel, a time slot), keys in order of first appearance.

    `pairs` are (key, value) in collection order; each group keeps its values' order.
    """
    groups: dict[Hashable, list] = {}
    for key, value in pairs:
        groups.setdefault(key, []).append(value)
    return list(groups.items())


def time_slot(moment: datetime, minutes: int) -> datetime:
    """The start of the `minutes`-long slot holding `moment`, slots counted from its midnight.

    A key for subgroups_by_key: values collected in the same slot share it. The
    time zone (or its absence) of `moment` is kept.
    """
    if minutes < 1:
        raise ValueError("a time slot lasts at least one minute")
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    slot = timedelta(minutes=minutes)
    return midnight + ((moment - midnight) // slot) * slot


@dataclass(frozen=True)
class SubgroupChart:
    """An X̄ chart with its R or s chart. Limits are per subgroup (equal when sizes are)."""

    kind: str  # "R" or "S": the spread chart
    sizes: list[int]
    means: list[float]
    spreads: list[float]  # each subgroup's range or standard deviation
    grand_mean: float  # x̿, the X̄ chart's centre
    spread_mean: float  # R̄ or s̄, the spread chart's centre
    sigma_within: float  # R̄/d₂ or s̄/c₄ (pooled s̄ with unequal sizes)
    mean_ucl: list[float]
    mean_lcl: list[float]
    spread_ucl: list[float]
    spread_lcl: list[float]
    # Each subgroup's spread centre when it depends on the size (limits from a standard:
    # d₂σ or c₄σ); empty when it is spread_mean for all.
    spread_centres: list[float] = field(default_factory=list)
    from_standard: bool = False  # limits from a given μ and σ (frozen), not from the data

    @property
    def known(self) -> bool:
        return True

    def spread_centre(self, index: int) -> float:
        return self.spread_centres[index] if self.spread_centres else self.spread_mean

    @property
    def equal_sizes(self) -> bool:
        return len(set(self.sizes)) == 1


def _refusal(subgroups: list[list[float]]) -> NoChart | None:
    if len(subgroups) < SUBGROUPS_MINIMUM:
        return NoChart(f"too few subgroups (m = {len(subgroups)} < {SUBGROUPS_MINIMUM})")
    sizes = {len(group) for group in subgroups}
    if not sizes <= set(SUBGROUP_SIZES):
        return NoChart(
            f"subgroup sizes must be {SUBGROUP_SIZES.start}–{SUBGROUP_SIZES.stop - 1} "
            f"(found {', '.join(str(size) for size in sorted(sizes))})"
        )
    return None


def xbar_r_chart(subgroups: list[list[float]]) -> SubgroupChart | NoChart:
    """X̄ and R chart limits: x̿ ± A₂R̄; R chart D₃R̄ … D₄R̄; σ within R̄/d₂.

    Needs at least SUBGROUPS_MINIMUM subgroups, all of one size of 2–25; otherwise
    a NoChart saying why (for unequal sizes use xbar_s_chart).
    """
    refused = _refusal(subgroups)
    if refused is not None:
        return refused
    sizes = [len(group) for group in subgroups]
    if len(set(sizes)) > 1:
        return NoChart("subgroups of unequal size: use the X̄-S chart")
    factors = chart_constants(sizes[0])
    means = [statistics.fmean(group) for group in subgroups]
    ranges = [max(group) - min(group) for group in subgroups]
    grand_mean = statistics.fmean(means)
    r_bar = statistics.fmean(ranges)
    count = len(subgroups)
    return SubgroupChart(
        kind="R",
        sizes=sizes,
        means=means,
        spreads=ranges,
        grand_mean=grand_mean,
        spread_mean=r_bar,
        sigma_within=r_bar / factors.d2,
        mean_ucl=[grand_mean + factors.A2 * r_bar] * count,
        mean_lcl=[grand_mean - factors.A2 * r_bar] * count,
        spread_ucl=[factors.D4 * r_bar] * count,
        spread_lcl=[factors.D3 * r_bar] * count,
    )


def xbar_s_chart(subgroups: list[list[float]]) -> SubgroupChart | NoChart:
    """X̄ and s chart limits: x̿ ± A₃s̄; s chart B₃s̄ … B₄s̄; σ within s̄/c₄.

    Sizes may differ (2–25 each): then x̿ is weighted by size, s̄ is pooled and each
    subgroup's limits use the factors of its own size (module docstring); σ within
    is then the pooled s̄ itself.
    """
    refused = _refusal(subgroups)
    if refused is not None:
        return refused
    sizes = [len(group) for group in subgroups]
    means = [statistics.fmean(group) for group in subgroups]
    deviations = [statistics.stdev(group) for group in subgroups]
    if len(set(sizes)) == 1:
        grand_mean = statistics.fmean(means)
        s_bar = statistics.fmean(deviations)
        sigma_within = s_bar / chart_constants(sizes[0]).c4
    else:
        grand_mean = sum(n * mean for n, mean in zip(sizes, means, strict=True)) / sum(sizes)
        pooled = sum((n - 1) * s**2 for n, s in zip(sizes, deviations, strict=True))
        s_bar = (pooled / (sum(sizes) - len(sizes))) ** 0.5
        sigma_within = s_bar
    factors = [chart_constants(n) for n in sizes]
    return SubgroupChart(
        kind="S",
        sizes=sizes,
        means=means,
        spreads=deviations,
        grand_mean=grand_mean,
        spread_mean=s_bar,
        sigma_within=sigma_within,
        mean_ucl=[grand_mean + factor.A3 * s_bar for factor in factors],
        mean_lcl=[grand_mean - factor.A3 * s_bar for factor in factors],
        spread_ucl=[factor.B4 * s_bar for factor in factors],
        spread_lcl=[factor.B3 * s_bar for factor in factors],
    )


def standard_chart(
    subgroups: list[list[float]], spread: str, mean: float, sigma: float
) -> SubgroupChart | NoChart:
    """X̄ and R (`spread` "R") or s ("S") chart limits from a standard μ = `mean`, σ = `sigma`:
    X̄ μ ± Aσ; R chart d₂σ, D₁σ … D₂σ; s chart c₄σ, B₅σ … B₆σ (module docstring).

    Sizes may differ (each subgroup takes its own factors), but an R chart keeps the
    rule of xbar_r_chart: one size for all.
    """
    refused = _refusal(subgroups)
    if refused is not None:
        return refused
    sizes = [len(group) for group in subgroups]
    if spread == "R" and len(set(sizes)) > 1:
        return NoChart("subgroups of unequal size: use the X̄-S chart")
    factors = [chart_constants(n) for n in sizes]
    if spread == "R":
        spreads = [max(group) - min(group) for group in subgroups]
        centres = [factor.d2 * sigma for factor in factors]
        ucl = [factor.D2 * sigma for factor in factors]
        lcl = [factor.D1 * sigma for factor in factors]
    else:
        spreads = [statistics.stdev(group) for group in subgroups]
        centres = [factor.c4 * sigma for factor in factors]
        ucl = [factor.B6 * sigma for factor in factors]
        lcl = [factor.B5 * sigma for factor in factors]
    return SubgroupChart(
        kind=spread,
        sizes=sizes,
        means=[statistics.fmean(group) for group in subgroups],
        spreads=spreads,
        grand_mean=mean,
        spread_mean=centres[0],
        sigma_within=sigma,
        mean_ucl=[mean + factor.A * sigma for factor in factors],
        mean_lcl=[mean - factor.A * sigma for factor in factors],
        spread_ucl=ucl,
        spread_lcl=lcl,
        spread_centres=centres,
        from_standard=True,
    )


@dataclass(frozen=True)
class SubgroupViolations:
    """Rule violations of an X̄ chart's means, and the R/s points beyond their limits."""

    means: list[Violation] = field(default_factory=list)
    spreads_beyond: list[int] = field(default_factory=list)


def subgroup_violations(
    chart: SubgroupChart, rules: Iterable[int] = DEFAULT_RULES
) -> SubgroupViolations:
    """The chosen Nelson rules on the subgroup means, and rule 1 on the R or s points.

    The means are tested in σ of a mean, (UCLᵢ − x̿)/3 for subgroup i: with equal
    sizes this is the chart as drawn; with unequal sizes the means are standardised
    first, zᵢ = (x̄ᵢ − x̿)/σᵢ, so one scale serves every point. The spread chart is
    tested against its own limits only (rule 1), as its points are not symmetric.
    """
    spreads_beyond = beyond_limits(chart.spreads, chart.spread_lcl, chart.spread_ucl)
    if chart.spread_mean <= 0:
        # No spread: only the rules that do not measure in σ apply (as for I-MR).
        means = nelson_violations(chart.means, chart.grand_mean, 0.0, rules)
        return SubgroupViolations(means, spreads_beyond)
    scores = []
    for mean, ucl in zip(chart.means, chart.mean_ucl, strict=True):
        sigma_of_mean = (ucl - chart.grand_mean) / 3
        scores.append((mean - chart.grand_mean) / sigma_of_mean)
    return SubgroupViolations(nelson_violations(scores, 0.0, 1.0, rules), spreads_beyond)
