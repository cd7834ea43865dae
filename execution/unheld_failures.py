"""Values out of spec and not held: judged FAIL, and behind no hold (docs/holds.md
"Out of spec, not held").

A FAIL value holds its unit only when it is also alarmed and its spec's alarm action is
HOLD. A spec whose alarm limits are wider than its limits, whose action is ALARM_ONLY,
or that has no alarm at all lets a unit measured out of spec go on; so does a carrier's
value (a carrier's pass names no unit). Quality staff find these values here: the values
list's filter, the holds list's link and the front page's figure all read this one rule.
"""

from django.db.models import Exists, OuterRef

from execution.models import DataValue, HoldValue


def behind_a_hold():
    """Whether a value is among the values of some hold, open or closed."""
    return Exists(HoldValue.objects.filter(value=OuterRef("pk")))


def out_of_spec_not_held(values=None):
    """The values (of `values`, else all) judged FAIL that no hold holds.

    A FAIL value of a unit held for another value is listed too: that hold's decision
    named other values, not this one.
    """
    values = DataValue.objects.all() if values is None else values
    return values.filter(judge=DataValue.Judge.FAIL).filter(~behind_a_hold())
