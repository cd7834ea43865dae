"""Which values the X̄ charts put together (execution/spc_subgrouping.py), and what they
leave out: values in memory, as the window gives them (oldest first)."""

from datetime import timedelta

from execution.models import DataValue
from execution.spc_subgrouping import Grouping, subgroup_values
from tests.factories import BASE_TIME


def values(*refs: str, carrier=None, every=timedelta(minutes=1)) -> list[DataValue]:
    return [
        DataValue(
            pk=index + 1,
            collected_at=BASE_TIME + every * index,
            value_number=245.0 + index,
            source_ref=ref,
            carrier_track_id=carrier(index) if carrier else None,
        )
        for index, ref in enumerate(refs)
    ]


def test_values_of_one_event_make_one_subgroup_in_order_of_their_first_value():
    window = values("a", "b", "a", "b", "a", "c", "c")

    made = subgroup_values(window, Grouping.EVENT)

    assert [[value.pk for value in group] for group in made.groups] == [[1, 3, 5], [2, 4], [6, 7]]
    assert made.left_out == [] and not made.equal_sizes


def test_a_window_that_was_cut_leaves_its_oldest_subgroup_out():
    made = subgroup_values(values("a", "a", "b", "b", "c", "c"), Grouping.EVENT, window_cut=True)

    assert [group[0].source_ref for group in made.groups] == ["b", "c"]
    assert made.left_out == ["the oldest subgroup, which the window may have cut"]


def test_subgroups_of_one_value_or_of_more_than_25_are_left_out_and_counted():
    window = values(*(["big"] * 26 + ["one", "x", "x"]))

    made = subgroup_values(window, Grouping.EVENT)

    assert [len(group) for group in made.groups] == [2]
    assert made.left_out == [
        "1 subgroup(s) of a single value",
        "1 subgroup(s) of more than 25 values (26)",
    ]


def test_consecutive_values_say_how_many_wait_for_their_subgroup():
    made = subgroup_values(values(*"abcdefg"), Grouping.CONSECUTIVE, size=3)

    assert [len(group) for group in made.groups] == [3, 3] and made.consecutive
    assert made.left_out == ["the newest 1 value(s) wait for their subgroup"]


def test_time_slots_group_values_from_midnight():
    # A value every 10 minutes from 10:00: the hour slots hold six each.
    window = values(*"abcdefghijkl", every=timedelta(minutes=10))

    made = subgroup_values(window, Grouping.SLOT, slot_minutes=60)

    assert [len(group) for group in made.groups] == [6, 6]
    assert made.description == "one subgroup per 1 h slot"


def test_by_carrier_only_values_measured_on_a_carrier_count():
    window = values(*"abcdef", carrier=lambda index: None if index == 5 else 10 + index // 2)

    made = subgroup_values(window, Grouping.CARRIER)

    assert [[value.pk for value in group] for group in made.groups] == [[1, 2], [3, 4]]
    assert made.left_out == [
        "1 value(s) measured on a unit, not on a carrier",
        "1 subgroup(s) of a single value",
    ]
