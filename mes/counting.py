"""Counts of lists that may hold millions of rows: exact while small, estimated beyond.

`COUNT(*)` reads every row it counts: at ten million events the back office's
"N values" and the API's `total` alone took seconds. A list is counted
exactly up to `EXACT_UP_TO` rows (a bounded read, `LIMIT` in a subquery);
past that PostgreSQL's planner estimate is given instead (its statistics, no
read), and pages say "about". SQLite, for development, always counts exactly.
docs/growth.md lists where estimates are shown; the figures
that need someone (unresolved FAILED messages, CONFLICTs) are small and exact.
"""

from dataclasses import dataclass

from django.db import connections

EXACT_UP_TO = 10_000


@dataclass(frozen=True)
class Count:
    value: int
    is_estimate: bool = False

    def __str__(self) -> str:
        return f"about {self.value:,}" if self.is_estimate else str(self.value)


def planner_estimate(queryset) -> int | None:
    """PostgreSQL's estimate of the rows `queryset` selects, or None on other databases."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.get_compiler(using=queryset.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset, exact_up_to: int | None = None) -> Count:
    """The rows `queryset` selects: exact up to `exact_up_to` (default EXACT_UP_TO), else
    an estimate above it."""
    if exact_up_to is None:
        exact_up_to = EXACT_UP_TO
    counted = queryset.order_by()[: exact_up_to + 1].count()
    if counted <= exact_up_to:
        return Count(counted)
    estimate = planner_estimate(queryset)
    if estimate is None:
        return Count(queryset.count())
    # The planner can guess low; the count already saw more than exact_up_to rows.
    return Count(max(estimate, exact_up_to + 1), is_estimate=True)


def far_past(estimate: int) -> int:
    """An offset no list estimated at `estimate` rows reaches: planner estimates are off by
    a factor, not by orders of magnitude. A page starting past it is empty."""
    return 2 * estimate + EXACT_UP_TO
