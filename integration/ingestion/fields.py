"""Strict fields of the event's shape (rule 1, docs/ingestion.md): a JSON string is not a
number, `1` is not `true`, and times need an offset.
"""

import math
from datetime import UTC, datetime

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mes.api.parsers import json_problem, unstorable_text

MAX_ITEMS_PER_EVENT = 1000
MAX_DATABASE_ID = 2**63 - 1
MAX_TEXT_VALUE_LENGTH = 10_000


def as_database_id(data) -> int | None:
    """A primary key from a JSON number or a string of digits, or None if it is not one."""
    if isinstance(data, bool):
        return None
    if isinstance(data, str) and data.isascii() and data.isdigit() and len(data) <= 19:
        data = int(data)
    if not isinstance(data, int) or not 1 <= data <= MAX_DATABASE_ID:
        return None
    return data


def as_finite_number(data) -> float | None:
    """A finite JSON number as a float, or None if it is not one."""
    if isinstance(data, bool) or not isinstance(data, int | float):
        return None
    try:
        number = float(data)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def as_instant(data) -> datetime | None:
    """An ISO 8601 time with an offset as a UTC instant, or None if it is not one."""
    if not isinstance(data, str) or len(data) > 64:
        return None
    try:
        moment = datetime.fromisoformat(data)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """A choice given as a JSON string: ChoiceField alone would take 1 for "1"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not a string, a boolean or a float."""

    default_error_messages = {"invalid": "Must be a JSON integer."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_DATABASE_ID},
            {"type": "string", "pattern": "^[0-9]{1,19}$"},
        ],
        "description": "A database id, as a JSON number or a string of digits.",
    }
)
class DatabaseIdField(serializers.Field):
    """A primary key, as a JSON number or a string of digits (docs/api.md)."""

    default_error_messages = {"invalid": "Must be a positive integer id, as a number or digits."}

    def to_internal_value(self, data):
        database_id = as_database_id(data)
        if database_id is None:
            self.fail("invalid")
        return database_id

    def to_representation(self, value):
        return str(value)


@extend_schema_field({"type": "number"})
class FiniteNumberField(serializers.Field):
    default_error_messages = {"invalid": "Must be a finite JSON number."}

    def to_internal_value(self, data):
        number = as_finite_number(data)
        if number is None:
            self.fail("invalid")
        return number


@extend_schema_field({"type": "boolean"})
class StrictBooleanField(serializers.Field):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


@extend_schema_field(OpenApiTypes.ANY)
class AnyJsonField(serializers.Field):
    """Any JSON value the database can store, within the depth bound counted from
    the event (`levels_above`: the containers between the event and this field,
    the event included). The HTTP parser checks the same on the whole body; this
    keeps the service as strict for its other callers (replay, commands)."""

    def __init__(self, *, levels_above: int = 1, **kwargs):
        self.levels_above = levels_above
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        bound = settings.INGEST_MAX_JSON_DEPTH
        problem = json_problem(data, bound - self.levels_above, bound)
        if problem:
            raise serializers.ValidationError(problem)
        return data


@extend_schema_field({"type": "string", "format": "date-time"})
class InstantField(serializers.Field):
    """An ISO 8601 time with an offset, as a UTC instant."""

    default_error_messages = {
        "invalid": "Must be an ISO 8601 time with an offset, e.g. 2026-01-24T10:00:00Z."
    }

    def to_internal_value(self, data):
        instant = as_instant(data)
        if instant is None:
            self.fail("invalid")
        return instant


def utc_text(moment: datetime) -> str:
    """A time as docs/api.md answers it: ISO 8601 in UTC with "Z" (as UtcDateTimeField)."""
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class UtcDateTimeField(serializers.DateTimeField):
    """Answers are in UTC with "Z" (docs/api.md), whatever the server's TIME_ZONE."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=UTC, **kwargs)


SENDER_LIMIT_NUMBERS = ("min", "max", "expected")
SENDER_LIMIT_KEYS = (*SENDER_LIMIT_NUMBERS, "unit")


def as_sender_limits(data) -> dict | None:
    """The sender's own limits of a reading, or None if they are not such an object:
    `min`, `max` and `expected` finite numbers (or null), `unit` a short string (or null),
    nothing else. Kept beside the value for people to compare; our spec judges."""
    if not isinstance(data, dict) or not data.keys() <= set(SENDER_LIMIT_KEYS):
        return None
    for key in SENDER_LIMIT_NUMBERS:
        if data.get(key) is not None and as_finite_number(data[key]) is None:
            return None
    unit = data.get("unit")
    if unit is not None and (
        not isinstance(unit, str) or len(unit) > 50 or unstorable_text(unit) is not None
    ):
        return None
    return data


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "min": {"type": "number", "nullable": True},
            "max": {"type": "number", "nullable": True},
            "expected": {"type": "number", "nullable": True},
            "unit": {"type": "string", "nullable": True, "maxLength": 50},
        },
        "additionalProperties": False,
        "description": "The sender's own limits of the reading, kept beside the value; "
        "the spec judges.",
    }
)
class SenderLimitsField(serializers.Field):
    default_error_messages = {
        "invalid": "Must be an object of min, max, expected (finite numbers) and unit (text)."
    }

    def to_internal_value(self, data):
        limits = as_sender_limits(data)
        if limits is None:
            self.fail("invalid")
        return limits
