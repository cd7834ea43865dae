"""How a window's values are cut into subgroups for the X̄-R and X̄-S charts (docs/quality.md
"Subgroups on the chart"): n consecutive values, one carrier pass (the panel, tray or boat
a value was measured on), one event (the values a machine sent together), or one time
slot. The arithmetic of the groups is execution/spc/subgroups.py's; this module only
says which values belong together, and which groups it leaves out and why.

A value measured on a unit has no panel: the models keep a carrier pass only for values
sent with a `carrierTrackId`, so "by carrier" charts those values and leaves the others
out, said on the page.
"""

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from django.db import models

from execution.models import DataValue
from execution.spc import SUBGROUP_SIZES, subgroups_by_key, subgroups_of, time_slot


class Grouping(models.TextChoices):
    CONSECUTIVE = "values", "n consecutive values"
    CARRIER = "carrier", "carrier pass (panel)"
    EVENT = "event", "event"
    SLOT = "slot", "time slot"


# Slot lengths offered, in minutes (slots counted from midnight UTC, as the p chart's).
SLOT_MINUTES = {15: "15 min", 60: "1 h", 480: "8 h"}
DEFAULT_SLOT_MINUTES = 60
SMALLEST, LARGEST = SUBGROUP_SIZES.start, SUBGROUP_SIZES.stop - 1


@dataclass(frozen=True)
class Subgrouping:
    """The window's subgroups (values oldest first in each), what they are, and what was
    left out of them, in words."""

    groups: list[list[DataValue]]
    description: str  # "subgroups of 5 consecutive values", "one subgroup per event", …
    left_out: list[str] = field(default_factory=list)
    consecutive: bool = False  # n consecutive values of the window, in its order
    size: int | None = None  # n, for consecutive values

    @property
    def equal_sizes(self) -> bool:
        return len({len(group) for group in self.groups}) <= 1


def _keyed(values: list[DataValue], key_of: Callable[[DataValue], Hashable | None]):
    keyed = [(key_of(value), value) for value in values]
    without = sum(1 for key, _ in keyed if key is None)
    groups = [group for _, group in subgroups_by_key(pair for pair in keyed if pair[0] is not None)]
    return groups, without


def subgroup_values(
    values: list[DataValue],
    grouping: str,
    *,
    size: int = 5,
    slot_minutes: int = DEFAULT_SLOT_MINUTES,
    window_cut: bool = False,
) -> Subgrouping:
    """The window's `values` (oldest first) in subgroups by `grouping` (a Grouping value).

    By n consecutive values, a last unfinished group waits. By key (carrier pass, event,
    slot), groups are ordered by their first value; a group of fewer than 2 or more than
    25 values is left out (no control chart factors outside 2–25), and when the window
    held fewer values than matched (`window_cut`), the oldest group is too: the window
    may have cut it.
    """
    if grouping == Grouping.CONSECUTIVE:
        groups = subgroups_of(values, size)
        waiting = len(values) - sum(len(group) for group in groups)
        left_out = [f"the newest {waiting} value(s) wait for their subgroup"] if waiting else []
        description = f"subgroups of {size} consecutive values"
        return Subgrouping(groups, description, left_out, consecutive=True, size=size)
    left_out = []
    if grouping == Grouping.CARRIER:
        groups, without = _keyed(values, lambda value: value.carrier_track_id)
        description = "one subgroup per carrier pass"
        if without:
            left_out.append(f"{without} value(s) measured on a unit, not on a carrier")
    elif grouping == Grouping.EVENT:
        groups, without = _keyed(values, lambda value: value.source_ref or None)
        description = "one subgroup per event"
    elif grouping == Grouping.SLOT:
        groups, without = _keyed(values, lambda value: time_slot(value.collected_at, slot_minutes))
        description = f"one subgroup per {SLOT_MINUTES.get(slot_minutes, slot_minutes)} slot"
    else:
        raise ValueError(f"unknown grouping {grouping!r}")
    if window_cut and groups:
        groups = groups[1:]
        left_out.append("the oldest subgroup, which the window may have cut")
    small = [group for group in groups if len(group) < SMALLEST]
    large = [group for group in groups if len(group) > LARGEST]
    if small:
        left_out.append(f"{len(small)} subgroup(s) of a single value")
    if large:
        sizes = ", ".join(str(len(group)) for group in large)
        left_out.append(f"{len(large)} subgroup(s) of more than {LARGEST} values ({sizes})")
    kept = [group for group in groups if SMALLEST <= len(group) <= LARGEST]
    return Subgrouping(kept, description, left_out)
