"""A message stores only what its record does not hold, and gives back the payload as received."""

import json
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integration.ingestion.errors import EventIdConflict
from integration.ingestion.service import receive_device_event
from integration.ingestion.stored_payload import RECORD_FIELDS, payload_as_received, split_payload
from integration.models import IntegrationMessage
from tests.factories import reflow_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)
keys = [key for key, _attribute in RECORD_FIELDS] + ["eventTime", "trackId", "extra"]


@settings(max_examples=300, deadline=None)
@given(
    payload=st.dictionaries(st.sampled_from(keys), json_values),
    record_values=st.dictionaries(st.sampled_from(keys), json_values),
    shared=st.sets(st.sampled_from(keys)),
)
def test_any_payload_comes_back_exactly_as_received(payload, record_values, shared):
    # The record holds some of the payload's fields as they are, others differently.
    values = {**record_values, **{key: payload[key] for key in shared if key in payload}}
    record = SimpleNamespace(**{attr: values.get(key) for key, attr in RECORD_FIELDS})
    stored, bits = split_payload(payload, record)
    back = payload_as_received(json.loads(json.dumps(stored)), bits, record)
    assert json.dumps(back, sort_keys=True) == json.dumps(payload, sort_keys=True)


def test_a_number_written_another_way_is_stored_as_received():
    record = SimpleNamespace(**{attr: None for _key, attr in RECORD_FIELDS})
    record.data = [{"valueNumber": 245}]
    stored, bits = split_payload({"data": [{"valueNumber": 245.0}]}, record)
    assert stored == {"data": [{"valueNumber": 245.0}]} and bits == 0
    assert (
        json.dumps(payload_as_received(stored, bits, record))
        == '{"data": [{"valueNumber": 245.0}]}'
    )


def test_a_success_message_stores_only_what_its_record_lacks(line, gateway):
    sent = reflow_event()
    outcome = receive_device_event(sent, sent_by=gateway)
    message = IntegrationMessage.objects.get(pk=outcome.message.pk)
    assert message.payload == {"eventTime": "2026-01-24T10:00:00Z"}
    assert message.full_payload == sent


def test_a_duplicate_with_other_meta_keeps_its_own_meta(line, gateway):
    receive_device_event(reflow_event(), sent_by=gateway)
    again = reflow_event(meta={"raw": "second try"})
    outcome = receive_device_event(again, sent_by=gateway)
    message = IntegrationMessage.objects.get(pk=outcome.message.pk)
    assert message.status == IntegrationMessage.Status.DUPLICATE
    assert message.payload["meta"] == {"raw": "second try"}
    assert "data" not in message.payload
    assert message.full_payload == again


def test_a_conflict_keeps_the_data_that_differs(line, gateway):
    receive_device_event(reflow_event(), sent_by=gateway)
    other = reflow_event(value=246)
    with pytest.raises(EventIdConflict) as conflict:
        receive_device_event(other, sent_by=gateway)
    message = IntegrationMessage.objects.get(pk=conflict.value.conflict_message.pk)
    assert message.payload["data"] == other["data"]
    assert message.full_payload == other


def test_a_failed_message_keeps_its_whole_payload(line, gateway):
    from integration.ingestion.errors import EventRefused

    sent = reflow_event("evt-nowhere", unitSn="SN-LATE")
    with pytest.raises(EventRefused) as refused:
        receive_device_event(sent, sent_by=gateway)
    message = IntegrationMessage.objects.get(pk=refused.value.failed_message.pk)
    assert message.record_fields == 0
    assert message.payload == message.full_payload == sent


def test_the_message_page_shows_the_payload_as_received(quality, traffic):
    response = quality.get(f"/admin/integration/integrationmessage/{traffic.success.pk}/change/")
    page = response.content.decode()
    assert response.status_code == 200
    # The data lives on the record; the page shows it in the payload all the same.
    assert "&quot;specName&quot;: &quot;Peak Temperature&quot;" in page
    assert "&quot;equipmentId&quot;: &quot;EQ-01&quot;" in page
