"""Nelson rules 5-8 and switching rules on and off (execution/spc/rules.py).

Definitions: Nelson, L. S. (1984), "The Shewhart Control Chart — Tests for Special
Causes", Journal of Quality Technology 16(4), 237-239: test 5, two out of three
points in a row in zone A or beyond (more than 2σ from the centre, same side);
test 6, four out of five in zone B or beyond (more than 1σ, same side); test 7,
fifteen in a row in zone C (within 1σ, above and below the centre); test 8, eight
in a row on both sides of the centre with none in zone C. The series are
constructed (centre 0, σ 1) and their violations counted by hand in each test.
Rules 1-4 are tested in tests/execution/test_spc.py.
"""

import pytest

from execution.spc import ALL_RULES, DEFAULT_RULES, NelsonRule, analyse, nelson_violations


def flagged(values, rules):
    return [(v.index, v.rule.value) for v in nelson_violations(values, 0.0, 1.0, rules)]


def test_rule_5_flags_the_second_of_two_points_beyond_2_sigma_within_three():
    # Beyond 2σ: index 1 (+), 3 (+), 6 (−), 8 (−), 9 (+).
    # 3 completes (1, 3) on the + side; 8 completes (6, 8) on the − side;
    # 9 has no + partner among 7, 8; 6 has none among 4, 5.
    values = [0.0, 2.5, 0.0, 2.1, 0.0, 0.0, -2.2, 0.5, -2.5, 2.5, 0.0]

    assert flagged(values, {5}) == [(3, 5), (8, 5)]


def test_rule_5_does_not_count_a_point_exactly_on_2_sigma_or_two_on_opposite_sides():
    assert flagged([2.0, 2.0, 2.0], {5}) == []
    assert flagged([2.5, -2.5, 2.5, -2.5], {5}) == [(2, 5), (3, 5)]  # ± pairs two apart


def test_rule_6_flags_the_fourth_of_five_points_beyond_1_sigma_on_one_side():
    # Beyond 1σ on the + side: 0, 1, 3, 4, 6, 8. Index 4's window 0-4 holds four (0, 1, 3,
    # 4); index 6's window 2-6 holds three; index 8's window 4-8 holds three.
    values = [1.5, 1.2, 0.3, 1.1, 1.4, -0.5, 1.3, 0.2, 1.6]

    assert flagged(values, {6}) == [(4, 6)]


def test_rule_6_needs_the_points_on_the_same_side():
    assert flagged([1.5, -1.5, 1.5, -1.5, 1.5], {6}) == []
    assert flagged([1.5, 1.5, 1.5, 1.5], {6}) == [(3, 6)]


def test_rule_7_flags_the_fifteenth_point_in_a_row_within_1_sigma():
    # Fourteen within, one exactly on 1σ (not within), then fifteen within: index 29.
    values = [0.5] * 14 + [1.0] + [-0.5] * 15

    assert flagged(values, {7}) == [(29, 7)]
    assert flagged([0.5, -0.5] * 8, {7}) == [(14, 7), (15, 7)]


def test_rule_8_flags_the_eighth_point_in_a_row_beyond_1_sigma_either_side():
    assert flagged([1.5, -1.5] * 4, {8}) == [(7, 8)]
    # Seven beyond, one within, eight beyond: only the last run reaches eight (index 15).
    assert flagged([1.5] * 7 + [0.5] + [-1.5] * 8, {8}) == [(15, 8)]


def test_by_default_only_rules_1_to_4_are_tested():
    # This series breaks rule 5 (index 3) and nothing else.
    values = [0.0, 2.5, 0.0, 2.1, 0.0]

    assert {1, 2, 3, 4} == DEFAULT_RULES
    assert nelson_violations(values, 0.0, 1.0) == []
    assert flagged(values, ALL_RULES) == [(3, 5)]


def test_each_rule_is_switched_on_alone():
    # Nine points at +2.5: rule 2 at 8, rule 5 from 1, rule 6 from 3, rule 8 from 7.
    values = [2.5] * 9

    assert [index for index, _ in flagged(values, {2})] == [8]
    assert [index for index, _ in flagged(values, {5})] == list(range(1, 9))
    assert [index for index, _ in flagged(values, {6})] == list(range(3, 9))
    assert [index for index, _ in flagged(values, {8})] == [7, 8]
    assert flagged(values, {1}) == flagged(values, {3}) == flagged(values, {7}) == []
    assert flagged(values, set()) == []


def test_rules_are_numbered_as_nelson_numbered_them():
    assert [rule.value for rule in NelsonRule] == list(range(1, 9))
    assert "2 of 3 points" in NelsonRule.TWO_OF_THREE_BEYOND_2_SIGMA.description
    assert "15 points in a row within 1σ" in NelsonRule(7).description
    with pytest.raises(ValueError):
        nelson_violations([0.0], 0.0, 1.0, rules={9})


def test_rules_measuring_sigma_are_skipped_when_sigma_is_0():
    assert nelson_violations([5.0] * 20, 5.0, 0.0, ALL_RULES) == []
    # All above a centre of 4 with σ = 0: rule 2 still counts sides, from the ninth point.
    found = nelson_violations([5.0] * 20, 4.0, 0.0, ALL_RULES)
    assert {v.rule for v in found} == {NelsonRule.NINE_ON_ONE_SIDE}
    assert [v.index for v in found] == list(range(8, 20))


def test_the_analysis_tests_the_rules_it_is_given():
    # Around 0 with a small spread, and two of three points high near the end: with the
    # window's own limits (σ within from the moving ranges) rule 5 fires, rule 1 not.
    values = [0.1, -0.1, 0.2, -0.2, 0.0, 0.1, -0.1, 0.2, -0.2, 0.0] * 3 + [0.55, 0.0, 0.55]

    default = analyse(values)
    everything = analyse(values, rules=ALL_RULES)

    sigma = default.limits.sigma_within
    assert 2 * sigma < 0.55 - default.limits.mean < 3 * sigma
    assert all(v.rule <= 4 for v in default.violations)
    assert (32, NelsonRule.TWO_OF_THREE_BEYOND_2_SIGMA) in [
        (v.index, v.rule) for v in everything.violations
    ]
