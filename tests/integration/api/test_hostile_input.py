"""Hostile and broken bodies on the ingestion endpoints (docs/api.md statuses; rule 1).

One piece past 500 lines: one behaviour (a hostile body is refused and writes nothing),
case after case against the same two endpoints with the same checks.

Every case is answered with its documented 4xx in the JSON envelope, never a
500 or an HTML page, and writes nothing: no DeviceDataRecord, DataValue or
IntegrationMessage. The basics (a few malformed shapes, NaN, a 415, a 413 with
a lowered limit) are in test_device_data_endpoint.py; these go further, at the
real limits.
"""

import json
from urllib.parse import quote

import pytest

from execution.models import DataSpec, DataValue
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.conftest import make_event
from tests.factories import DataSpecFactory

URL = "/api/integration/device-data"
BATCH_URL = "/api/integration/device-data/batch"
MiB = 1024 * 1024


def nothing_written() -> bool:
    return not (
        DeviceDataRecord.objects.exists()
        or DataValue.objects.exists()
        or IntegrationMessage.objects.exists()
    )


def assert_refused(response, status: int, code: str) -> dict:
    """The documented status and code in the envelope, as JSON, and nothing stored."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["ok"] is False and "data" not in body
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert nothing_written()
    return body["error"]


def post_raw(client, body: bytes, content_type: str = "application/json", url: str = URL, **extra):
    return client.generic("POST", url, body, content_type=content_type, **extra)


def post_json_text(client, text: str, url: str = URL):
    return post_raw(client, text.encode("utf-8"), url=url)


def event_text(**overrides) -> str:
    return json.dumps(make_event(**overrides))


def with_raw_member(name: str, raw_json: str, **overrides) -> str:
    """An event as JSON text with one member whose value is written as given."""
    text = event_text(**overrides)
    return text[:-1] + f', "{name}": {raw_json}}}'


# --- Size: 413 ---------------------------------------------------------------------------


def test_a_body_over_one_mebibyte_is_a_413(line, gateway_client):
    text = event_text(meta={"blob": "x" * MiB})
    assert len(text.encode()) > MiB

    error = assert_refused(post_json_text(gateway_client, text), 413, "PAYLOAD_TOO_LARGE")
    assert str(MiB) in error["message"]


def test_a_body_of_exactly_the_limit_is_read(line, gateway_client):
    """The limit is inclusive: a body of exactly 1 MiB is parsed (and here accepted)."""
    text = event_text(meta={"blob": ""})
    text = event_text(meta={"blob": "x" * (MiB - len(text.encode()))})
    assert len(text.encode()) == MiB

    response = post_json_text(gateway_client, text)

    assert response.status_code == 200, response.content[:300]


def test_a_content_length_over_the_limit_is_a_413_before_the_body_is_read(line, gateway_client):
    """A declared length over the limit is refused at once, whatever follows."""
    body = json.dumps(make_event()).encode()

    response = post_raw(gateway_client, body, CONTENT_LENGTH=str(MiB + 1))

    assert_refused(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("declared", ["100", "99999999999999999999999"])
def test_a_lying_content_length_never_lets_a_large_body_in(line, gateway_client, declared):
    """Under Content-Length 100 with 2 MiB behind it, only 100 bytes are read: a
    truncated (malformed) body. A huge declared length is a 413 before reading."""
    body = json.dumps(make_event(meta={"blob": "x" * (2 * MiB)})).encode()

    response = post_raw(gateway_client, body, CONTENT_LENGTH=declared)

    if int(declared) > MiB:
        assert_refused(response, 413, "PAYLOAD_TOO_LARGE")
    else:
        error = assert_refused(response, 400, "VALIDATION_ERROR")
        assert "Malformed JSON" in error["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"CONTENT_LENGTH": ""},
        {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"},
        {"CONTENT_LENGTH": "-5"},
        {"CONTENT_LENGTH": "abc"},
    ],
    ids=["absent", "chunked", "negative", "not-a-number"],
)
def test_a_body_without_a_valid_content_length_is_a_400(line, gateway_client, headers):
    body = json.dumps(make_event()).encode()

    error = assert_refused(post_raw(gateway_client, body, **headers), 400, "VALIDATION_ERROR")
    message = error["message"]
    assert "Content-Length" in message or "empty" in message


def test_a_batch_body_over_sixteen_mebibytes_is_a_413(line, gateway_client):
    event = make_event(meta={"blob": "x" * (MiB - 1024)})
    text = json.dumps({"events": [event] * 17})
    assert len(text.encode()) > 16 * MiB

    assert_refused(post_json_text(gateway_client, text, BATCH_URL), 413, "PAYLOAD_TOO_LARGE")


# --- Content type: 415 -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "application/json-patch+json",
        "application/jsonx",
        "text/json",
    ],
    ids=lambda value: value or "missing",
)
@pytest.mark.parametrize("url", [URL, BATCH_URL])
def test_a_body_that_is_not_declared_json_is_a_415(line, gateway_client, content_type, url):
    body = json.dumps(make_event() if url == URL else {"events": [make_event()]}).encode()
    extra = {"CONTENT_TYPE": ""} if content_type == "" else {}

    response = post_raw(gateway_client, body, content_type or "x/x", url=url, **extra)

    assert_refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_the_json_media_type_is_case_insensitive(line, gateway_client):
    response = post_raw(gateway_client, json.dumps(make_event()).encode(), "Application/JSON")
    assert response.status_code == 200, response.content


# --- Bodies the parser cannot take: 400 ----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"eventId": "evt-1",}',
        b"{'eventId': 'evt-1'}",
        b'{"eventId": "evt-1"',
        b"{}{}",
        b'{"eventId": "a\x01b"}',  # a raw control character in a string
        "\ufeff".encode() + json.dumps(make_event()).encode(),  # a byte-order mark
        b"\x00" * 16,
        b"undefined",
    ],
    ids=[
        "trailing-comma",
        "single-quotes",
        "truncated",
        "two-documents",
        "control-character",
        "byte-order-mark",
        "nul-bytes",
        "undefined",
    ],
)
def test_invalid_json_is_a_400(line, gateway_client, body):
    assert_refused(post_raw(gateway_client, body), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "body",
    [
        b'{"eventId": "\xff"}',
        b'{"eventId": "caf\xe9"}',  # Latin-1, not UTF-8
        b'{"eventId": "\xc0\xaf"}',  # an overlong encoding
        b'{"eventId": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate (CESU-8)
        b'{"eventId": "\xf4\x90\x80\x80"}',  # beyond U+10FFFF
        "{}".encode("utf-16"),
    ],
    ids=["ff", "latin-1", "overlong", "cesu-8", "beyond-unicode", "utf-16"],
)
def test_invalid_utf8_is_a_400(line, gateway_client, body):
    error = assert_refused(post_raw(gateway_client, body), 400, "VALIDATION_ERROR")
    assert "UTF-8" in error["message"]


@pytest.mark.parametrize(
    ("member", "raw_json"),
    [
        ("meta", '{"a": "x\\u0000y"}'),
        ("meta", '{"a\\u0000": 1}'),
        ("meta", '"\\ud800"'),
        ("meta", '["\\udfff tail"]'),
        ("firmware", '"\\u0000"'),  # an unknown field is stored with the payload too
        ("data", '[{"specName": "Peak Temperature", "valueNumber": 1, "note": "\\u0000"}]'),
        ("eventId", '"evt\\u0000"'),
        ("eventId", '"evt\\ud83d"'),
    ],
    ids=[
        "nul-in-meta",
        "nul-in-a-key",
        "lone-high-surrogate",
        "lone-low-surrogate",
        "nul-in-an-unknown-field",
        "nul-in-an-item",
        "nul-in-event-id",
        "half-an-emoji-in-event-id",
    ],
)
def test_strings_the_database_cannot_store_are_a_400(line, gateway_client, member, raw_json):
    """PostgreSQL refuses NUL (\\u0000) and unpaired surrogates in text and jsonb: a
    500 before this was checked. They are refused on every database alike."""
    response = post_json_text(gateway_client, with_raw_member(member, raw_json))

    error = assert_refused(response, 400, "VALIDATION_ERROR")
    assert "cannot be stored" in error["message"]


def test_a_paired_surrogate_escape_is_a_real_character_and_is_accepted(line, gateway_client):
    response = post_json_text(gateway_client, with_raw_member("meta", '{"note": "\\ud83d\\ude00"}'))

    assert response.status_code == 200, response.content
    assert DeviceDataRecord.objects.get().meta == {"note": "\U0001f600"}


# --- Depth ---------------------------------------------------------------------------------


def nested(levels: int, leaf=1, kind: str = "object"):
    """`levels` containers, one inside the other."""
    value = leaf
    for _ in range(levels):
        value = {"d": value} if kind == "object" else [value]
    return value


@pytest.fixture
def json_spec(line) -> DataSpec:
    spec = DataSpecFactory(
        operation=line.operation, name="Profile", data_type=DataSpec.DataType.JSON
    )
    line.step.data_specs.add(spec)
    return spec


def meta_event(total_depth: int, kind: str = "object") -> dict:
    # The event is level 1; meta's containers are levels 2 and on.
    return make_event(meta=nested(total_depth - 1, kind=kind))


def value_json_event(total_depth: int, kind: str = "object") -> dict:
    # Event (1), data list (2), item (3): valueJson's containers are levels 4 and on.
    item = {"specName": "Profile", "valueJson": nested(total_depth - 3, kind=kind)}
    return make_event(data=[item])


@pytest.mark.parametrize("kind", ["object", "array"])
@pytest.mark.parametrize("build", [meta_event, value_json_event], ids=["meta", "valueJson"])
def test_sixty_four_levels_are_accepted_and_sixty_five_refused(
    line, json_spec, gateway_client, build, kind
):
    refused = gateway_client.post(URL, build(65, kind), format="json")
    error = assert_refused(refused, 400, "VALIDATION_ERROR")
    assert "nested more than 64 levels" in error["message"]

    accepted = gateway_client.post(URL, build(64, kind), format="json")
    assert accepted.status_code == 200, accepted.content[:300]
    assert DeviceDataRecord.objects.count() == 1


@pytest.mark.parametrize("where", ["body", "meta", "valueJson"])
@pytest.mark.parametrize("kind", ["[", '{"a":'])
def test_a_hundred_thousand_levels_are_a_400_not_a_recursion_error(
    line, gateway_client, where, kind
):
    closer = "]" if kind == "[" else "}"
    deep = kind * 100_000 + "1" + closer * 100_000
    if where == "body":
        text = deep
    elif where == "meta":
        text = with_raw_member("meta", deep)
    else:
        text = event_text().replace(
            '"valueNumber": 245}', f'"valueNumber": 245, "valueJson": {deep}}}'
        )
        assert deep in text

    error = assert_refused(post_json_text(gateway_client, text), 400, "VALIDATION_ERROR")
    assert "nested" in error["message"]


def test_the_service_bounds_depth_for_callers_other_than_the_api(line, gateway):
    """Replays and commands call the service with Python objects, not a body: the
    serializer applies the same bound."""
    from rest_framework.exceptions import ValidationError

    from integration.ingestion.service import receive_device_event

    with pytest.raises(ValidationError) as refused:
        receive_device_event(meta_event(65), sent_by=gateway)

    assert "meta" in refused.value.detail
    assert nothing_written()


# --- Strings of megabytes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"eventId": "e" * (2 * MiB)}, 413, None),
        ({"meta": "m" * (3 * MiB)}, 413, None),
        ({"eventId": "e" * 900_000}, 400, "eventId"),
        ({"runNo": "r" * 900_000}, 400, "runNo"),
        ({"equipmentId": "q" * 900_000}, 400, "equipmentId"),
        ({"data": [{"specName": "s" * 900_000, "valueNumber": 1}]}, 400, "data"),
        ({"data": [{"specName": "Peak Temperature", "valueText": "t" * 900_000}]}, 400, "data"),
        ({"eventTime": "2026-01-24T10:00:00Z" + " " * 900_000}, 400, "eventTime"),
    ],
    ids=[
        "2MiB-eventId",
        "3MiB-meta",
        "900kB-eventId",
        "900kB-runNo",
        "900kB-equipmentId",
        "900kB-specName",
        "900kB-valueText",
        "900kB-eventTime",
    ],
)
def test_strings_of_megabytes_are_refused(line, gateway_client, overrides, status, field):
    response = gateway_client.post(URL, make_event(**overrides), format="json")

    code = "PAYLOAD_TOO_LARGE" if status == 413 else "VALIDATION_ERROR"
    error = assert_refused(response, status, code)
    if field:
        assert field in error["details"]


# --- Numbers ---------------------------------------------------------------------------------

HUGE_INTEGER = "9" * 5000  # over Python's 4,300-digit limit for int(str)
BEYOND_DOUBLE = "1" + "0" * 400  # an integer no double can hold


@pytest.mark.parametrize(
    "number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", HUGE_INTEGER, BEYOND_DOUBLE]
)
@pytest.mark.parametrize("where", ["valueNumber", "valueJson", "meta", "stepNo", "unknown"])
def test_numbers_that_are_not_finite_or_overflow_are_a_400(
    line, json_spec, gateway_client, number, where
):
    if where in ("valueNumber", "valueJson"):
        spec = "Peak Temperature" if where == "valueNumber" else "Profile"
        text = event_text(data=[{"specName": spec, where: "__N__"}]).replace('"__N__"', number)
    elif where == "stepNo":
        text = event_text(stepNo="__N__").replace('"__N__"', number)
    else:
        text = with_raw_member("meta" if where == "meta" else "firmwareBuild", number)

    error = assert_refused(post_json_text(gateway_client, text), 400, "VALIDATION_ERROR")
    assert "digits" not in error["message"] or "out of range" in error["message"]
    assert "set_int_max_str_digits" not in error["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("trackId", 2**63),
        ("trackId", str(2**63)),
        ("trackId", "9" * 40),
        ("carrierTrackId", 10**30),
        ("operationId", str(2**64)),
        ("trackId", 0),
        ("trackId", "-1"),
        ("trackId", "٣"),  # an Arabic-Indic digit: a digit to str.isdigit, not an id
    ],
)
def test_ids_outside_bigint_are_a_400(line, gateway_client, field, value):
    response = gateway_client.post(URL, make_event(**{field: value}), format="json")

    error = assert_refused(response, 400, "VALIDATION_ERROR")
    assert field in error["details"]


@pytest.mark.parametrize("value", [2**63, str(2**63), 10**20])
def test_a_spec_id_outside_bigint_is_a_400(line, gateway_client, value):
    response = gateway_client.post(
        URL, make_event(data=[{"specId": value, "valueNumber": 1}]), format="json"
    )
    assert_refused(response, 400, "VALIDATION_ERROR")


def test_the_largest_bigint_id_is_well_formed_and_simply_not_found(line, gateway_client):
    """2**63 - 1 is a valid id; no such track: a 422 kept as a FAILED message."""
    response = gateway_client.post(URL, make_event(trackId=2**63 - 1), format="json")

    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "TRACK_NOT_FOUND"
    assert not DeviceDataRecord.objects.exists()


# --- Counts ----------------------------------------------------------------------------------


def test_ten_thousand_data_items_are_a_400(line, gateway_client):
    items = [{"specName": "Peak Temperature", "valueNumber": 245}] * 10_000

    error = assert_refused(
        gateway_client.post(URL, make_event(data=items), format="json"), 400, "VALIDATION_ERROR"
    )
    assert "data" in error["details"]


def test_a_batch_of_ten_thousand_events_is_a_400_for_the_whole_request(line, gateway_client):
    events = [make_event(eventId=f"evt-{n}") for n in range(10_000)]

    response = gateway_client.post(BATCH_URL, {"events": events}, format="json")

    assert_refused(response, 400, "VALIDATION_ERROR")


# --- Wrong JSON types, field by field --------------------------------------------------------

WRONG = {
    "string": "x",
    "digits": "40",
    "integer": 7,
    "float": 1.5,
    "true": True,
    "list": [],
    "object": {},
    "null": None,
}
EVENT_FIELDS = {
    # field: the kinds of value that are the wrong type for it
    "eventId": ["integer", "float", "true", "list", "object", "null"],
    "eventTime": ["string", "integer", "float", "true", "list", "object", "null"],
    "source": ["string", "integer", "true", "list", "object", "null"],
    "runNo": ["integer", "float", "true", "list", "object"],
    "unitSn": ["integer", "float", "true", "list", "object"],
    "stationCode": ["integer", "float", "true", "list", "object"],
    "stepNo": ["string", "digits", "float", "true", "list", "object"],
    "trackId": ["string", "float", "true", "list", "object"],
    "carrierTrackId": ["string", "float", "true", "list", "object"],
    "operationId": ["string", "float", "true", "list", "object"],
    "equipmentId": ["integer", "float", "true", "list", "object"],
    "operatorId": ["integer", "float", "true", "list", "object"],
    "data": ["string", "integer", "true", "object", "null", "list"],
}
ITEM_FIELDS = {
    "specId": ["string", "float", "true", "list", "object"],
    "specName": ["integer", "float", "true", "list", "object"],
    "valueNumber": ["string", "digits", "true", "list", "object"],
    "valueText": ["integer", "float", "true", "list", "object"],
    "valueBoolean": ["string", "integer", "list", "object"],
    "collectedAt": ["string", "integer", "float", "true", "list", "object"],
}


@pytest.mark.parametrize(
    ("field", "kind"),
    [(field, kind) for field, kinds in EVENT_FIELDS.items() for kind in kinds],
)
def test_a_wrong_json_type_in_an_event_field_is_a_400_naming_it(line, gateway_client, field, kind):
    response = gateway_client.post(URL, make_event(**{field: WRONG[kind]}), format="json")

    error = assert_refused(response, 400, "VALIDATION_ERROR")
    assert field in error["details"], error


@pytest.mark.parametrize(
    ("field", "kind"),
    [(field, kind) for field, kinds in ITEM_FIELDS.items() for kind in kinds],
)
def test_a_wrong_json_type_in_a_data_item_field_is_a_400_naming_it(
    line, gateway_client, field, kind
):
    item = {"specName": "Peak Temperature", "valueNumber": 245, field: WRONG[kind]}

    response = gateway_client.post(URL, make_event(data=[item]), format="json")

    error = assert_refused(response, 400, "VALIDATION_ERROR")
    assert field in error["details"]["data"][0], error


@pytest.mark.parametrize(
    "kind", ["string", "integer", "true", "list", "object", "null"], ids=lambda kind: kind
)
def test_a_data_item_that_is_not_an_object_is_a_400(line, gateway_client, kind):
    response = gateway_client.post(URL, make_event(data=[WRONG[kind]]), format="json")

    error = assert_refused(response, 400, "VALIDATION_ERROR")
    assert "data" in error["details"]


@pytest.mark.parametrize(
    "body", [b"[]", b"[{}]", b"42", b"-1.5", b"null", b"true", b'"evt-1"'], ids=lambda b: b.decode()
)
@pytest.mark.parametrize("url", [URL, BATCH_URL])
def test_an_event_or_envelope_that_is_not_an_object_is_a_400(line, gateway_client, body, url):
    assert_refused(post_raw(gateway_client, body, url=url), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "events",
    [None, "x", 1, {}, [], {"eventId": "e"}],
    ids=["null", "string", "number", "object", "empty", "event"],
)
def test_a_batch_envelope_whose_events_is_not_a_list_of_events_is_a_400(
    line, gateway_client, events
):
    assert_refused(
        gateway_client.post(BATCH_URL, {"events": events}, format="json"), 400, "VALIDATION_ERROR"
    )


# --- Unknown fields are ignored (docs/ingestion.md, rule 1) ---------------------------------


def test_unknown_fields_anywhere_are_ignored(line, gateway_client):
    event = make_event(
        firmware={"version": "2.1", "build": [1, 2, 3]},
        eventid="lower-case is another field",
        EventId="so is this",
        data=[
            {
                "specName": "Peak Temperature",
                "valueNumber": 245,
                "unit": "C",
                "quality": {"good": True},
            }
        ],
    )

    response = gateway_client.post(URL, event, format="json")

    assert response.status_code == 200, response.content
    record = DeviceDataRecord.objects.get()
    assert record.event_id == "evt-0001"
    value = DataValue.objects.get()
    assert value.value_number == 245 and value.spec.name == "Peak Temperature"


def test_unknown_fields_do_not_change_the_idempotency_of_an_event(line, gateway_client):
    """The canonical event is the validated one: an unknown field is not part of it."""
    first = gateway_client.post(URL, make_event(), format="json")
    again = gateway_client.post(URL, make_event(retry=3), format="json")

    assert first.status_code == again.status_code == 200
    assert again.json()["data"]["isDuplicate"] is True
    assert DeviceDataRecord.objects.count() == 1


# --- Other headers a gateway may send --------------------------------------------------------


@pytest.mark.parametrize(
    "accept", ["text/html", "text/plain", "application/xml", "*/*", "application/json"]
)
def test_any_accept_header_is_answered_in_json_and_the_event_is_written(
    line, gateway_client, accept
):
    """docs/api.md lists no 406: a gateway asking for another format still gets its data
    in, answered in the JSON envelope (DRF alone refused these with 406)."""
    response = gateway_client.post(URL, make_event(), format="json", HTTP_ACCEPT=accept)

    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["ok"] is True
    assert DeviceDataRecord.objects.count() == 1


def test_an_unknown_format_parameter_is_answered_in_json(line, gateway_client):
    response = gateway_client.post(URL + "?format=html", make_event(), format="json")

    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True


# --- Query parameters on the read API --------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "page=%C2%B2",  # a superscript two: a digit to str.isdigit, not to int()
        "page=" + "9" * 5000,
        "pageSize=" + "1" * 5000,
        "page=-1",
        "stepNo=" + "9" * 5000,
        "eventFrom=0001-01-01T00:00:00%2B01:00",  # before year 1 in UTC
        "eventTo=9999-12-31T23:59:59-10:00",  # after year 9999 in UTC
        "eventId=%00",
    ],
)
@pytest.mark.parametrize("path", [URL, "/api/integration/messages"])
def test_hostile_query_parameters_are_a_400_not_a_500(line, quality_client, query, path):
    if path.endswith("messages"):
        query = query.replace("eventFrom", "createdFrom").replace("eventTo", "createdTo")
        query = query.replace("stepNo", "page").replace("eventId", "businessKey")

    response = quality_client.get(f"{path}?{query}")

    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("content_type", ["", "text/plain", "application/json"])
def test_a_method_the_endpoint_lacks_is_a_405_whatever_the_body(
    line, gateway_client, method, content_type
):
    """Found by the schema fuzzing: PUT without a JSON content type was a 415 (the
    body check ran before the method check)."""
    extra = {"CONTENT_TYPE": ""} if content_type == "" else {}
    response = gateway_client.generic(
        method, URL, json.dumps(make_event()).encode(), content_type or "x/x", **extra
    )

    assert_refused(response, 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(
    ("path", "parameter"),
    [(URL, "eventFrom"), (URL, "eventTo"), ("/api/integration/messages", "createdFrom")],
)
def test_a_time_filter_with_an_offset_beyond_what_postgresql_takes_is_compared_in_utc(
    line, quality_client, gateway_client, path, parameter
):
    """Found by the schema fuzzing on PostgreSQL: `+23:57` is a valid ISO 8601 offset
    that PostgreSQL refuses ("time zone displacement out of range"), a 500. The time
    is compared as the UTC instant it names."""
    assert gateway_client.post(URL, make_event(), format="json").status_code == 200
    # 2026-01-24T10:00:00Z is 2026-01-25T09:59:00+23:59.
    before = quote("2026-01-25T09:58:00+23:59")
    after = quote("2026-01-25T10:00:00+23:59")
    lower = parameter.endswith("From")
    if path != URL:  # messages: created now, so compare with a time far away
        before, after = quote("2000-01-01T00:00:00+23:59"), quote("2999-01-01T00:00:00+23:59")

    matching = quality_client.get(f"{path}?{parameter}={before if lower else after}")
    none = quality_client.get(f"{path}?{parameter}={after if lower else before}")

    assert matching.status_code == none.status_code == 200, matching.content
    assert matching.json()["data"]["total"] == 1
    assert none.json()["data"]["total"] == 0


def test_an_event_time_with_a_large_offset_is_stored_as_its_utc_instant(line, gateway_client):
    response = gateway_client.post(
        URL,
        make_event(
            eventTime="2026-01-25T09:59:00+23:59",
            data=[
                {
                    "specName": "Peak Temperature",
                    "valueNumber": 245,
                    "collectedAt": "2026-01-23T10:01:00-23:59",
                }
            ],
        ),
        format="json",
    )

    assert response.status_code == 200, response.content
    record = DeviceDataRecord.objects.get()
    assert record.event_time.isoformat().startswith("2026-01-24T10:00:00")
    assert DataValue.objects.get().collected_at.isoformat().startswith("2026-01-24T10:00:00")


# --- Errors Django answers itself, before or outside the API's views --------------------------


@pytest.mark.parametrize("host", ["evil.example.com", "10.0.0.5:8000", "bad host"])
@pytest.mark.parametrize("path", [URL, BATCH_URL, "/api/nope", "/healthz", "/readyz"])
def test_a_host_header_the_server_does_not_serve_is_a_400_in_the_envelope(
    line, gateway_client, host, path
):
    """Django answers a Host outside ALLOWED_HOSTS with its HTML 400 page; a gateway
    addressing the server by IP address would get one. Under /api/ it is JSON."""
    body = make_event() if path != BATCH_URL else {"events": [make_event()]}
    response = gateway_client.post(path, body, format="json", HTTP_HOST=host)

    error = assert_refused(response, 400, "VALIDATION_ERROR")
    assert "Host" in error["message"]
    assert b"<html" not in response.content.lower()


def test_an_unexpected_error_outside_the_api_views_is_a_json_500(db, monkeypatch):
    """A crash where DRF's handler does not reach (here, the readiness check) is
    answered in the envelope too, not with Django's HTML 500 page."""
    from django.test import Client

    import mes.health

    def broken_check(self):
        raise RuntimeError("boom")

    with monkeypatch.context() as patch:
        patch.setattr(mes.health.Readiness, "_check", broken_check)
        response = Client(raise_request_exception=False).get("/readyz")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert b"boom" not in response.content


def test_the_admin_keeps_django_s_own_error_pages(db, client):
    response = client.get("/admin/login/", HTTP_HOST="evil.example.com")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
