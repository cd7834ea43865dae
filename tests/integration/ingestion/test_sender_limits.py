"""An item's `senderLimits` (docs/api.md): the sender's own limits, kept beside the value and
never judged by; the same on the fast path of rule 1 as in the serializer."""

import pytest
from rest_framework.exceptions import ValidationError

from execution.models import DataValue
from integration.ingestion.event_hash import canonical_event_hash
from integration.ingestion.service import receive_device_event
from integration.ingestion.shape import event_validator, plainly_valid_event
from tests.conftest import make_event

OVENS = {"min": 230, "max": 260, "expected": 245, "unit": "C"}


def with_limits(limits, **overrides):
    item = {"specName": "Peak Temperature", "valueNumber": 252, "senderLimits": limits}
    return make_event(data=[item], **overrides)


def test_sender_limits_are_kept_beside_ours_and_never_judged_by(line, gateway):
    outcome = receive_device_event(with_limits(OVENS), sent_by=gateway)
    value = DataValue.objects.get(pk=outcome.values[0].pk)
    assert value.sender_limits == OVENS
    assert value.judge == "FAIL"  # 252 is within the oven's 230–260, outside our 240–250


@pytest.mark.parametrize(
    "limits",
    [
        {"min": "230"},
        {"max": float("inf")},
        {"Min": 230},
        {"unit": 5},
        {"unit": "x" * 51},
        [230, 260],
        "230..260",
    ],
)
def test_malformed_sender_limits_are_refused_by_both_paths(line, gateway, limits):
    payload = with_limits(limits)
    assert plainly_valid_event(payload) is None
    with pytest.raises(ValidationError) as refused:
        event_validator().run_validation(payload)
    assert "senderLimits" in str(refused.value.detail)


@pytest.mark.parametrize("limits", [OVENS, {"max": 260}, {}, None, {"min": None, "unit": "C"}])
def test_the_fast_path_takes_sender_limits_as_the_serializer_does(limits):
    payload = with_limits(limits)
    assert plainly_valid_event(payload) == event_validator().run_validation(payload)


def test_sender_limits_compare_by_value_when_an_event_is_sent_again():
    one = event_validator().run_validation(with_limits({"min": 230, "max": 260}))
    same = event_validator().run_validation(with_limits({"max": 260.0, "min": 230.0}))
    other = event_validator().run_validation(with_limits({"min": 231, "max": 260}))
    assert canonical_event_hash(one) == canonical_event_hash(same)
    assert canonical_event_hash(one) != canonical_event_hash(other)
