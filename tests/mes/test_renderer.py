"""The API's answers encoded by orjson (mes/api/renderers.py) are the bytes DRF's own
JSONRenderer writes, with the same settings, for everything the API answers with: text
in any script, numbers, dates and times in DRF's form, decimals, ids, lazy text, error
details, and the two line separators JavaScript refuses raw; a number in exponent form is
the same number in orjson's shorter notation (1e-7 for 1e-07). What orjson cannot encode
goes through DRF's renderer; what neither can is still an error."""

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer

from mes.api.renderers import EnvelopeJSONRenderer


class DrfRenderer(JSONRenderer):
    compact = True
    ensure_ascii = False


ANSWERS = [
    {"eventId": "evt-1", "isDuplicate": False, "values": [245.3, -0.001, 0, 12, None, True]},
    {"text": "Lötstelle ü 焊点 \U0001f600", "control": 'a\nb\t"c" \\ \x00 \x1f'},
    {"separators": "line\u2028para\u2029end"},
    {"numbers": [245.25, 123456789012345678, -(2**63), 2**64 - 1, 0.1 + 0.2, 1e15, 2.5e-3]},
    {
        "at": datetime(2026, 12, 7, 14, 3, 25, 123456, tzinfo=UTC),
        "naive": datetime(2026, 12, 7, 14, 3, 25),
        "day": date(2026, 12, 7),
        "clock": time(14, 3, 25, 500),
        "took": timedelta(seconds=1.5),
        "amount": Decimal("1.10"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "lazy": gettext_lazy("This field is required."),
        "error": ErrorDetail("Invalid value.", code="invalid"),
    },
    [],
    "text alone",
]


@pytest.mark.parametrize("answer", ANSWERS, ids=range(len(ANSWERS)))
def test_an_answer_is_the_bytes_drfs_renderer_writes(answer):
    assert EnvelopeJSONRenderer().render(answer) == DrfRenderer().render(answer)


def test_a_number_in_exponent_form_is_the_same_number_in_orjsons_notation():
    answer = {"numbers": [1e-07, 1.5e300, 1e16, -2.5e-12]}
    assert EnvelopeJSONRenderer().render(answer) == b'{"numbers":[1e-7,1.5e+300,1e+16,-2.5e-12]}'
    assert DrfRenderer().render(answer) == b'{"numbers":[1e-07,1.5e+300,1e+16,-2.5e-12]}'
    assert json.loads(EnvelopeJSONRenderer().render(answer)) == answer


def test_an_integer_beyond_64_bits_is_written_as_drf_writes_it():
    answer = {"big": 2**70, "negative": -(2**70)}
    assert EnvelopeJSONRenderer().render(answer) == b'{"big":1180591620717411303424,' + (
        b'"negative":-1180591620717411303424}'
    )


def test_a_pretty_printed_answer_is_asked_for_by_its_media_type():
    answer = {"a": [1, 2]}
    pretty = EnvelopeJSONRenderer().render(answer, "application/json; indent=2")
    assert pretty == DrfRenderer().render(answer, "application/json; indent=2")
    assert pretty.startswith(b'{\n  "a"')


def test_what_neither_encoder_can_write_is_still_an_error():
    @dataclasses.dataclass
    class Internal:
        secret: str

    with pytest.raises(TypeError):
        DrfRenderer().render({"x": Internal("s")})
    with pytest.raises(TypeError):
        EnvelopeJSONRenderer().render({"x": Internal("s")})
