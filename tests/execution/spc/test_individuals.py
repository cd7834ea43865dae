"""Moving ranges beyond their limit (execution/spc/individuals.py).

Source: NIST/SEMATECH e-Handbook of Statistical Methods §6.3.2.2 (flow rate of ten
batches): MR̄ = 1.8778, moving-range UCL = D₄·MR̄ = 6.1349, and the largest moving
range 3.5, so no point is beyond. The second series is constructed and worked by hand.
"""

from execution.spc import analyse, imr_limits, moving_ranges_beyond_limit

NIST_FLOW_RATE = [49.6, 47.6, 49.9, 51.3, 47.8, 51.2, 52.6, 52.4, 53.6, 52.1]


def test_no_moving_range_of_the_nist_flow_rate_batches_is_beyond_its_limit():
    limits = imr_limits(NIST_FLOW_RATE)

    assert max(limits.moving_ranges) == 3.5 < limits.mr_ucl
    assert moving_ranges_beyond_limit(limits) == []


def test_a_jump_is_flagged_at_the_value_that_ends_it():
    # Worked by hand: nine moving ranges of 0.1 and one of 3.9 (10.1 → 14):
    # MR̄ = 4.8/10 = 0.48, UCL = 3.267 × 0.48 = 1.568; the jump ends at value 10.
    values = [10.0, 10.1] * 5 + [14.0]

    limits = imr_limits(values)

    assert abs(limits.mr_ucl - 1.568) < 1e-3
    assert moving_ranges_beyond_limit(limits) == [10]
    analysis = analyse(values)
    assert analysis.moving_ranges_beyond == [10]
    # The moving range beyond its limit counts with the rule violations in the warning.
    signals = len(analysis.violations) + 1
    assert analysis.capability.warnings[1] == (
        f"not in control: {signals} rule violations in the window,"
        " so the figures describe no stable process"
    )


def test_too_few_values_have_no_moving_ranges_to_flag():
    assert analyse([1.0]).moving_ranges_beyond == []
