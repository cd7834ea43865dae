"""Field-by-field comparison of two JSON payloads, for a CONFLICT's stored and incoming event.

Payloads are flattened to paths (`data[0].valueNumber`, `meta.raw`) so the
back office can show them side by side and mark the fields that differ.
Numbers compare by value (245 and 245.0 are the same reading, as for the
payload hash); a boolean never equals a number.
"""

from dataclasses import dataclass


class _Absent:
    """A field the payload does not have."""

    def __repr__(self):
        return "ABSENT"


ABSENT = _Absent()


@dataclass(frozen=True)
class FieldComparison:
    path: str
    stored: object
    incoming: object

    @property
    def differs(self) -> bool:
        return not same_json_value(self.stored, self.incoming)


def same_json_value(first, second) -> bool:
    if isinstance(first, bool) or isinstance(second, bool):
        return type(first) is type(second) and first == second
    if isinstance(first, _Absent) or isinstance(second, _Absent):
        return first is second
    return first == second


def flatten(value, path: str = "") -> dict[str, object]:
    """Every leaf of a JSON value by its path; an empty object or list is a leaf."""
    if isinstance(value, dict) and value:
        leaves = {}
        for key, item in value.items():
            leaves.update(flatten(item, f"{path}.{key}" if path else str(key)))
        return leaves
    if isinstance(value, list) and value:
        leaves = {}
        for index, item in enumerate(value):
            leaves.update(flatten(item, f"{path}[{index}]"))
        return leaves
    return {path or "(whole payload)": value}


def compare_payloads(stored, incoming) -> list[FieldComparison]:
    """Each field of either payload with both values: the stored one's order, then new fields."""
    stored_leaves, incoming_leaves = flatten(stored), flatten(incoming)
    paths = list(stored_leaves) + [path for path in incoming_leaves if path not in stored_leaves]
    return [
        FieldComparison(path, stored_leaves.get(path, ABSENT), incoming_leaves.get(path, ABSENT))
        for path in paths
    ]
