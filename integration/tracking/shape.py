"""The shape of track-in and track-out calls (docs/api.md "Stations"): the replaced
system's bodies, validated into snake_case; a malformed call is a 400 and stores nothing.
"""

from functools import cache

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from execution.models import PassResult
from integration.ingestion.fields import (
    MAX_ITEMS_PER_EVENT,
    StrictCharField,
    StrictChoiceField,
)
from integration.ingestion.shape import DataItemSerializer

MAX_EVENT_ID_LENGTH = 200


def _optional_text(max_length: int, source: str):
    return StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=max_length, source=source
    )


class TrackInSerializer(serializers.Serializer):
    """A unit tracked in at the station of the URL."""

    sn = StrictCharField(max_length=100, help_text="The unit's serial number.")
    runNo = StrictCharField(max_length=100, source="run_no")
    woNo = _optional_text(100, "wo_no")
    operatorId = _optional_text(100, "operator_id")
    eventId = StrictCharField(
        required=False,
        allow_null=True,
        max_length=MAX_EVENT_ID_LENGTH,
        source="event_id",
        help_text="Exactly once: a re-send answers as the first call (or the "
        "Idempotency-Key header; the body's wins).",
    )


class TrackOutSerializer(TrackInSerializer):
    """A unit tracked out of its open pass at the station of the URL."""

    woNo = None
    result = StrictChoiceField(choices=PassResult.choices)
    defectCode = _optional_text(100, "defect_code")
    defectLocation = _optional_text(200, "defect_location")
    data = DataItemSerializer(
        many=True, required=False, allow_empty=True, max_length=MAX_ITEMS_PER_EVENT
    )


@cache
def _validator(kind: str) -> serializers.Serializer:
    return TrackInSerializer() if kind == "TRACK_IN" else TrackOutSerializer()


def validate_call_shape(kind: str, payload) -> dict:
    """A call's body as validated snake_case data; raises ValidationError (400)."""
    if not isinstance(payload, dict):
        raise ValidationError({"non_field_errors": ["The body must be a JSON object."]})
    return _validator(kind).run_validation(payload)


def event_id_of(validated: dict, idempotency_key: str | None) -> str | None:
    """The call's eventId: its body's, else its Idempotency-Key header's, which is held to
    the same length (1–200 characters); raises ValidationError (400) for a longer one."""
    if validated.get("event_id"):
        return validated["event_id"]
    if not idempotency_key:
        return None
    if len(idempotency_key) > MAX_EVENT_ID_LENGTH:
        raise ValidationError(
            {
                "Idempotency-Key": [
                    f"Ensure this header has no more than {MAX_EVENT_ID_LENGTH} characters."
                ]
            }
        )
    return idempotency_key
