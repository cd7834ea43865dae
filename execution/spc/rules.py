"""Nelson's eight tests for special causes over points in order, each switchable.

Definitions from Nelson, L. S. (1984), "The Shewhart Control Chart — Tests for
Special Causes", Journal of Quality Technology 16(4), 237-239, with the zones in σ
of the chart: beyond 3σ (rule 1), beyond 2σ (zone A or beyond), beyond 1σ (zone B
or beyond), within 1σ (zone C). A violation is placed at the point completing the
pattern; in a longer run each further point completes it again.
"""

import enum
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

# Nelson's run lengths.
SAME_SIDE_RUN = 9
TREND_RUN = 6
ALTERNATING_RUN = 14
WITHIN_ONE_SIGMA_RUN = 15
BEYOND_ONE_SIGMA_RUN = 8


class NelsonRule(enum.IntEnum):
    """Nelson's tests for special causes, numbered as he numbered them."""

    BEYOND_3_SIGMA = 1
    NINE_ON_ONE_SIDE = 2
    SIX_TRENDING = 3
    FOURTEEN_ALTERNATING = 4
    TWO_OF_THREE_BEYOND_2_SIGMA = 5
    FOUR_OF_FIVE_BEYOND_1_SIGMA = 6
    FIFTEEN_WITHIN_1_SIGMA = 7
    EIGHT_BEYOND_1_SIGMA = 8

    @property
    def description(self) -> str:
        return RULE_DESCRIPTIONS[self]


RULE_DESCRIPTIONS = {
    NelsonRule.BEYOND_3_SIGMA: "a point beyond 3σ from the centre line",
    NelsonRule.NINE_ON_ONE_SIDE: f"{SAME_SIDE_RUN} points in a row on one side of the centre line",
    NelsonRule.SIX_TRENDING: f"{TREND_RUN} points in a row steadily increasing or decreasing",
    NelsonRule.FOURTEEN_ALTERNATING: f"{ALTERNATING_RUN} points in a row alternating up and down",
    NelsonRule.TWO_OF_THREE_BEYOND_2_SIGMA: "2 of 3 points in a row beyond 2σ on the same side",
    NelsonRule.FOUR_OF_FIVE_BEYOND_1_SIGMA: "4 of 5 points in a row beyond 1σ on the same side",
    NelsonRule.FIFTEEN_WITHIN_1_SIGMA: (
        f"{WITHIN_ONE_SIGMA_RUN} points in a row within 1σ of the centre line"
    ),
    NelsonRule.EIGHT_BEYOND_1_SIGMA: (
        f"{BEYOND_ONE_SIGMA_RUN} points in a row beyond 1σ, on either side"
    ),
}

# Today's rules (1–4); every rule is listed in ALL_RULES.
DEFAULT_RULES = frozenset(
    {
        NelsonRule.BEYOND_3_SIGMA,
        NelsonRule.NINE_ON_ONE_SIDE,
        NelsonRule.SIX_TRENDING,
        NelsonRule.FOURTEEN_ALTERNATING,
    }
)
ALL_RULES = frozenset(NelsonRule)


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


def _streaks(flags: list[bool], length: int) -> list[int]:
    """Positions where `length` or more True flags in a row end."""
    ends, run = [], 0
    for position, flag in enumerate(flags):
        run = run + 1 if flag else 0
        if run >= length:
            ends.append(position)
    return ends


def _k_of_m(zones: list[int], k: int, m: int) -> list[int]:
    """Positions i beyond a zone on one side (zones[i] = +1 or −1) where at least `k` of
    the points i−m+1 … i (those that exist) are beyond it on that side: point i completes
    "k of m in a row"."""
    ends = []
    for position, side in enumerate(zones):
        if side == 0:
            continue
        window = zones[max(0, position - m + 1) : position + 1]
        if window.count(side) >= k:
            ends.append(position)
    return ends


def _zones(values: list[float], centre: float, width: float) -> list[int]:
    """+1 above centre + width, −1 below centre − width, 0 between (on the boundary too)."""
    return [_sign(value - centre) if abs(value - centre) > width else 0 for value in values]


def _checked_rules(rules: Iterable[int]) -> frozenset[NelsonRule]:
    return frozenset(NelsonRule(rule) for rule in rules)


def nelson_violations(
    values: list[float], centre: float, sigma: float, rules: Iterable[int] = DEFAULT_RULES
) -> list[Violation]:
    """The violations of the chosen Nelson `rules` (numbers 1–8) over `values`, in point order.

    1: |x − centre| > 3σ. 2: nine in a row strictly on one side of the centre.
    3: six in a row each higher (or each lower) than the one before.
    4: fourteen in a row alternating up and down. Equal neighbours break rules 3 and 4;
    a point on the centre line breaks rule 2.
    5: two of three in a row more than 2σ from the centre on the same side.
    6: four of five in a row more than 1σ from the centre on the same side.
    7: fifteen in a row less than 1σ from the centre (either side).
    8: eight in a row more than 1σ from the centre (either side, none within 1σ).
    A point exactly on a zone boundary is not beyond it (and, for rule 7, not within).
    For rules 5 and 6 the completing point is itself beyond the zone. Rules 1 and 5–8
    need σ > 0. The default is rules 1–4.
    """
    chosen = _checked_rules(rules)
    found = []
    if sigma > 0:
        found += _zone_violations(values, centre, sigma, chosen)
    if NelsonRule.NINE_ON_ONE_SIDE in chosen:
        sides = [_sign(value - centre) for value in values]
        found += [
            Violation(end, NelsonRule.NINE_ON_ONE_SIDE) for end in _runs(sides, SAME_SIDE_RUN)
        ]
    # Steps between neighbours: step i is from value i to value i + 1.
    steps = [_sign(current - previous) for previous, current in itertools.pairwise(values)]
    if NelsonRule.SIX_TRENDING in chosen:
        found += [
            Violation(end + 1, NelsonRule.SIX_TRENDING) for end in _runs(steps, TREND_RUN - 1)
        ]
    if NelsonRule.FOURTEEN_ALTERNATING in chosen:
        found += [
            Violation(end + 1, NelsonRule.FOURTEEN_ALTERNATING)
            for end in _runs(steps, ALTERNATING_RUN - 1, alternating=True)
        ]
    return sorted(found)


def _zone_violations(
    values: list[float], centre: float, sigma: float, chosen: frozenset[NelsonRule]
) -> list[Violation]:
    """Rules 1 and 5–8: those that measure distance from the centre in σ."""
    found = []
    if NelsonRule.BEYOND_3_SIGMA in chosen:
        beyond_3 = _zones(values, centre, 3 * sigma)
        found += [
            Violation(index, NelsonRule.BEYOND_3_SIGMA)
            for index, side in enumerate(beyond_3)
            if side
        ]
    if NelsonRule.TWO_OF_THREE_BEYOND_2_SIGMA in chosen:
        found += [
            Violation(end, NelsonRule.TWO_OF_THREE_BEYOND_2_SIGMA)
            for end in _k_of_m(_zones(values, centre, 2 * sigma), 2, 3)
        ]
    beyond_1 = _zones(values, centre, sigma)
    if NelsonRule.FOUR_OF_FIVE_BEYOND_1_SIGMA in chosen:
        found += [
            Violation(end, NelsonRule.FOUR_OF_FIVE_BEYOND_1_SIGMA)
            for end in _k_of_m(beyond_1, 4, 5)
        ]
    if NelsonRule.FIFTEEN_WITHIN_1_SIGMA in chosen:
        within = [abs(value - centre) < sigma for value in values]
        found += [
            Violation(end, NelsonRule.FIFTEEN_WITHIN_1_SIGMA)
            for end in _streaks(within, WITHIN_ONE_SIGMA_RUN)
        ]
    if NelsonRule.EIGHT_BEYOND_1_SIGMA in chosen:
        found += [
            Violation(end, NelsonRule.EIGHT_BEYOND_1_SIGMA)
            for end in _streaks([side != 0 for side in beyond_1], BEYOND_ONE_SIGMA_RUN)
        ]
    return found


def beyond_limits(
    points: list[float], lcl: float | list[float], ucl: float | list[float]
) -> list[int]:
    """Indexes of points above their UCL or below their LCL (rule 1 with given limits).

    The limits are one number for every point or a list with one per point (charts
    with variable sample sizes). A point on a limit is not beyond it.
    """
    count = len(points)
    lows = lcl if isinstance(lcl, list) else [lcl] * count
    highs = ucl if isinstance(ucl, list) else [ucl] * count
    return [
        index
        for index, (point, low, high) in enumerate(zip(points, lows, highs, strict=True))
        if point > high or point < low
    ]
