"""Pareto table of defect codes: counts in descending order with percent and cumulative percent."""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ParetoRow:
    code: str
    count: int
    percent: float  # of all counted defects
    cumulative_percent: float  # this row and those above it


def pareto(counts: Mapping[str, int] | Iterable[str]) -> list[ParetoRow]:
    """Rows by count, largest first (equal counts by code, so the order is stable).

    `counts` maps a defect code to its count, or lists one code per defect found.
    Codes with a count of 0 are left out; no defects give no rows. The last row's
    cumulative percent is 100 exactly (summed counts, not rounded percents).
    """
    tally = Counter(counts)  # a mapping is taken as counts, an iterable as one code per defect
    rows = sorted(
        ((code, count) for code, count in tally.items() if count > 0),
        key=lambda row: (-row[1], row[0]),
    )
    total = sum(count for _, count in rows)
    table, running = [], 0
    for code, count in rows:
        running += count
        table.append(ParetoRow(code, count, 100 * count / total, 100 * running / total))
    return table
