"""Rule 1's fast path agrees with DeviceEventSerializer, which defines the rule.

`plainly_valid_event` may step aside (None) for any event, but whenever it
answers, its answer must be exactly the serializer's, and it must never pass
an event the serializer refuses.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from integration.ingestion.shape import (
    DeviceEventSerializer,
    plainly_valid_event,
    validate_event_shape,
)
from tests.conftest import make_event

MISSING = object()

texts = st.sampled_from(
    ["SN-0001", "", " padded ", "x" * 101, "x" * 201, "nul\x00", "\ud800", "Größe", 5, True, None]
)
instants = st.sampled_from(
    [
        "2026-01-24T10:00:00Z",
        "2026-01-24T12:00:00+02:00",
        "2026-01-24T10:00:00",  # no offset
        "yesterday",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "2026-01-24T10:00:00Z" + " " * 60,
        20260124,
        None,
    ]
)
numbers = st.sampled_from([245, 245.5, -1, 0, True, "245", 10**400, float("inf"), None])
ids = st.sampled_from([1, "12", "0", 0, -3, 2**63, "9" * 20, "1e3", 1.0, True, None])
json_values = st.sampled_from(
    [{"a": [1, 2]}, [], "text", 3, None, {"bad": "\x00"}, {"deep": [[[[[[[]]]]]]]}]
)


def maybe(values):
    return st.one_of(st.just(MISSING), values)


items = st.fixed_dictionaries(
    {},
    optional={
        "specId": ids,
        "specName": st.sampled_from(["Peak Temperature", "", " Peak ", "x" * 201, 7, None]),
        "valueNumber": numbers,
        "valueText": st.sampled_from(["ok", "", "  kept  ", "x" * 10_001, "\x00", 1, None]),
        "valueBoolean": st.sampled_from([True, False, 0, "true", None]),
        "valueJson": json_values,
        "collectedAt": instants,
        "unknownField": st.just("ignored"),
    },
)


@st.composite
def events(draw):
    event = make_event()
    changes = {
        "eventId": maybe(texts),
        "eventTime": maybe(instants),
        "source": maybe(st.sampled_from(["AUTO", "MANUAL", "auto", "", 1, None])),
        "runNo": maybe(texts),
        "unitSn": maybe(texts),
        "stationCode": maybe(texts),
        "stepNo": maybe(st.sampled_from([10, 0, 2**31, "10", 10.0, True, None])),
        "trackId": maybe(ids),
        "carrierTrackId": maybe(ids),
        "operationId": maybe(ids),
        "equipmentId": maybe(texts),
        "operatorId": maybe(texts),
        "data": maybe(st.one_of(st.lists(items, max_size=3), st.just({}), st.just(None))),
        "meta": maybe(json_values),
    }
    # Most fields keep their valid value, so valid events are drawn often.
    for key in draw(st.lists(st.sampled_from(sorted(changes)), max_size=4, unique=True)):
        value = draw(changes[key])
        if value is MISSING:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def serializer_answer(payload):
    try:
        return DeviceEventSerializer().run_validation(payload)
    except ValidationError:
        return "refused"


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_the_fast_path_answers_exactly_as_the_serializer_or_steps_aside(payload):
    fast = plainly_valid_event(payload)
    if fast is not None:
        assert fast == serializer_answer(payload)


@settings(max_examples=300, deadline=None)
@given(events())
def test_the_shape_check_gives_the_serializers_answer_for_every_event(payload):
    try:
        checked = validate_event_shape(payload)
    except ValidationError:
        checked = "refused"
    assert checked == serializer_answer(payload)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"trackId": "12", "runNo": None, "unitSn": None, "stationCode": None, "stepNo": None},
        {"source": "MANUAL", "operatorId": "OP-7"},
        {"data": [{"specId": 5, "valueJson": {"profile": [1, 2, 3]}}]},
        {"meta": None, "equipmentId": ""},
    ],
)
def test_the_events_gateways_send_take_the_fast_path(changes):
    payload = make_event(**changes)
    fast = plainly_valid_event(payload)
    assert fast is not None
    assert fast == DeviceEventSerializer().run_validation(payload)


@pytest.mark.parametrize(
    "changes",
    [
        {"eventId": " evt-1 "},  # trimmed by the serializer
        {"eventId": ""},
        {"source": "MANUAL"},  # no operator
        {"trackId": 1, "carrierTrackId": 2},
        {"data": []},
        {"data": [{"valueNumber": 1}]},  # no spec
        {"eventTime": "2026-01-24T10:00:00"},
    ],
)
def test_events_needing_cleaning_or_an_explanation_are_left_to_the_serializer(changes):
    assert plainly_valid_event(make_event(**changes)) is None
