"""Pareto table of defect codes (execution/spc/pareto.py); counts constructed, percents by hand."""

import pytest

from execution.spc import pareto


def test_codes_are_sorted_by_count_with_percent_and_cumulative_percent():
    # 40 defects: 20 bridging, 10 tombstone, 6 missing part, 4 solder ball.
    # Percents 50, 25, 15, 10; cumulative 50, 75, 90, 100.
    rows = pareto({"SOLDER_BALL": 4, "BRIDGING": 20, "MISSING": 6, "TOMBSTONE": 10})

    assert [(row.code, row.count) for row in rows] == [
        ("BRIDGING", 20),
        ("TOMBSTONE", 10),
        ("MISSING", 6),
        ("SOLDER_BALL", 4),
    ]
    assert [row.percent for row in rows] == pytest.approx([50, 25, 15, 10])
    assert [row.cumulative_percent for row in rows] == pytest.approx([50, 75, 90, 100])


def test_a_list_of_codes_is_counted_and_equal_counts_keep_a_stable_order():
    rows = pareto(["B", "A", "C", "A", "B", "C", "D"])

    assert [(row.code, row.count) for row in rows] == [("A", 2), ("B", 2), ("C", 2), ("D", 1)]
    assert rows[-1].cumulative_percent == 100
    assert rows[0].percent == pytest.approx(200 / 7)


def test_codes_without_defects_are_left_out_and_no_defects_give_no_rows():
    assert [row.code for row in pareto({"A": 3, "B": 0})] == ["A"]
    assert pareto({}) == [] and pareto([]) == []
