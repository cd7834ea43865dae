"""mes/db.py: the ingestion's instances and inserts match what the ORM makes and stores."""

from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models.signals import pre_init
from django.utils import timezone

from execution.models import DataValue
from integration.models import DeviceDataRecord, IntegrationMessage
from mes.db import COPY_FROM_ROWS, fetch_all, insert_models, load_model, new_model, select_list
from tests.factories import DataSpecFactory, TrackFactory
from tests.postgres import needs_postgresql

COLLECTED_AT = datetime(2026, 3, 1, 8, 30, 15, 250000, tzinfo=UTC)


def field_values(instance) -> dict:
    return {
        field.attname: getattr(instance, field.attname)
        for field in type(instance)._meta.concrete_fields
    }


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (
            DataValue,
            {"spec_id": 7, "track_id": 9, "value_number": 241.5, "judge": "PASS"},
        ),
        (IntegrationMessage, {"business_key": "device-data:e-1", "status": "SUCCESS"}),
        (DeviceDataRecord, {"event_id": "e-1", "run_no": "RUN-1", "data": [{"a": 1}]}),
        (DataValue, {}),
    ],
)
def test_new_model_gives_the_same_instance_as_the_model_constructor(model, values):
    built, constructed = new_model(model, **values), model(**values)
    assert field_values(built) == field_values(constructed)
    assert built._state.adding and built._state.db is None


def test_new_model_gives_each_instance_its_own_callable_default():
    first, second = new_model(DataValue), new_model(DataValue)
    assert first.limits == {} and first.limits is not second.limits


def test_new_model_refuses_a_name_that_is_not_a_field():
    with pytest.raises(TypeError, match="spec"):
        new_model(DataValue, spec=object())


def test_new_model_goes_through_the_constructor_when_init_signals_are_listened_to():
    seen = []

    def listener(sender, **kwargs):
        seen.append(sender)

    pre_init.connect(listener, sender=DataValue)
    try:
        value = new_model(DataValue, judge="FAIL")
    finally:
        pre_init.disconnect(listener, sender=DataValue)
    assert seen == [DataValue] and value.judge == "FAIL"


def unsaved_values(spec, track, count: int, fields_of_row) -> list[DataValue]:
    """`count` new values of one spec and track; `fields_of_row(n)` gives the rest."""
    return [
        new_model(
            DataValue,
            spec_id=spec.pk,
            track_id=track.pk,
            collected_at=COLLECTED_AT,
            **fields_of_row(n),
        )
        for n in range(count)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, 5, COPY_FROM_ROWS + 3])
def test_inserted_values_read_back_as_the_orm_stores_them(rows):
    spec, track = DataSpecFactory(), TrackFactory()
    values = unsaved_values(
        spec,
        track,
        rows,
        lambda n: {
            "value_number": 240.0 + n,
            "limits": {"spec": {"min": 240, "max": 250}, "alarm": None},
            "judge": "PASS",
            "alarmed": n % 2 == 1,
            "source": "AUTO",
            "source_ref": f"device-data:e-{n}",
            "meta": {"eventId": f"e-{n}", "operatorId": None},
        },
    )
    insert_models(values)
    by_orm = DataValue.objects.create(
        **{**field_values(values[-1]), "id": None, "created_at": None, "source_ref": "orm"}
    )

    assert all(value.pk is not None and not value._state.adding for value in values)
    stored = {value.pk: value for value in DataValue.objects.all()}
    for value in values:
        read = stored[value.pk]
        assert field_values(read) == {**field_values(value), "created_at": read.created_at}
        assert read.created_at is not None
    last = stored[values[-1].pk]
    orm = stored[by_orm.pk]
    assert {**field_values(last), "id": 0, "created_at": 0, "source_ref": ""} == {
        **field_values(orm),
        "id": 0,
        "created_at": 0,
        "source_ref": "",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [2, COPY_FROM_ROWS])
def test_rows_of_one_insert_are_stamped_with_one_time_of_the_insert(rows):
    before = timezone.now()
    messages = [
        new_model(IntegrationMessage, business_key=f"k-{n}", payload={"n": n}) for n in range(rows)
    ]
    insert_models(messages)
    after = timezone.now()

    stamps = set(IntegrationMessage.objects.values_list("created_at", "updated_at").distinct())
    assert len(stamps) == 1
    (created_at, updated_at), *_ = stamps
    assert before <= created_at == updated_at <= after
    assert {message.created_at for message in messages} == {created_at}


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, COPY_FROM_ROWS])
@pytest.mark.parametrize(
    "document",
    [
        {"zones": [1, 2.5, -0.0, 1e300, None, True], "name": "Ofen Zone 3 – 245 °C ✓"},
        {"beyond 64 bits": 2**70, "nested": [[[{"deep": '"quoted"\n'}]]]},
        [],
        "just text",
    ],
)
def test_json_values_read_back_as_the_orm_stores_them(rows, document):
    spec, track = DataSpecFactory(), TrackFactory()
    by_orm = DataValue.objects.create(
        spec=spec, track=track, collected_at=COLLECTED_AT, value_json=document, meta=None
    )
    values = unsaved_values(spec, track, rows, lambda n: {"value_json": document, "meta": None})
    insert_models(values)
    stored = DataValue.objects.filter(pk__in=[value.pk for value in values])
    # jsonb keeps numbers as numeric: 1e300 reads back as an int, whoever wrote it.
    expected = DataValue.objects.get(pk=by_orm.pk).value_json
    assert [value.value_json for value in stored] == [expected] * rows
    assert expected == document or connection.vendor == "postgresql"
    assert [value.meta for value in stored] == [None] * rows


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, 3, COPY_FROM_ROWS])
def test_a_refused_insert_raises_djangos_integrity_error_and_writes_nothing(rows):
    DeviceDataRecord.objects.create(
        event_id="e-taken", event_time=COLLECTED_AT, data=[], payload_hash="0" * 64
    )
    records = [
        new_model(
            DeviceDataRecord,
            event_id="e-taken" if n == rows - 1 else f"e-{n}",
            event_time=COLLECTED_AT,
            data=[],
            payload_hash="0" * 64,
        )
        for n in range(rows)
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_models(records)
    assert list(DeviceDataRecord.objects.values_list("event_id", flat=True)) == ["e-taken"]


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, COPY_FROM_ROWS])
def test_text_with_tabs_newlines_and_backslashes_and_whole_numbers_read_back_as_sent(rows):
    spec, track = DataSpecFactory(), TrackFactory()
    text = 'tab\there, line\nbreak, back\\slash \\N, quote " and ünïcødé ✓'
    values = unsaved_values(
        spec, track, rows, lambda n: {"value_text": text, "value_number": 245, "source_ref": text}
    )
    insert_models(values)
    stored = DataValue.objects.filter(pk__in=[value.pk for value in values])
    assert {(value.value_text, value.value_number, value.source_ref) for value in stored} == {
        (text, 245.0, text)
    }


@needs_postgresql("SQLite does not enforce a varchar's length")
@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, COPY_FROM_ROWS])
def test_text_longer_than_its_column_is_refused_and_nothing_is_written(rows):
    spec, track = DataSpecFactory(), TrackFactory()
    limit = DataValue._meta.get_field("source_ref").max_length
    values = unsaved_values(
        spec, track, rows, lambda n: {"source_ref": "x" * (limit + (n == rows - 1))}
    )
    with pytest.raises(DatabaseError, match="too long"), transaction.atomic():
        insert_models(values)
    assert not DataValue.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [2, 9])
def test_whole_and_fractional_numbers_in_one_insert_read_back_as_sent(rows):
    # PostgreSQL's insert sends a column as one array, which takes one type.
    spec, track = DataSpecFactory(), TrackFactory()
    sent = [245 if n % 2 == 0 else 245.5 + n for n in range(rows)]
    values = unsaved_values(spec, track, rows, lambda n: {"value_number": sent[n]})
    insert_models(values)
    stored = dict(DataValue.objects.values_list("pk", "value_number"))
    assert [stored[value.pk] for value in values] == [float(number) for number in sent]


@pytest.mark.django_db
@pytest.mark.parametrize("fields", [None, ("id", "judge", "spec", "limits")])
def test_load_model_gives_what_the_orm_reads(fields):
    spec, track = DataSpecFactory(), TrackFactory()
    (value,) = unsaved_values(
        spec, track, 1, lambda n: {"value_number": 241.5, "judge": "FAIL", "limits": {"a": [1]}}
    )
    insert_models([value])
    names = None if fields is None else tuple(fields)
    (row,) = fetch_all(
        f"SELECT {select_list(DataValue, 'v', names)} FROM execution_datavalue v WHERE v.id = %s",
        [value.pk],
    )
    loaded = load_model(DataValue, row, fields=names)
    read = DataValue.objects.get(pk=value.pk)
    if fields is None:
        assert field_values(loaded) == field_values(read)
        assert loaded.get_deferred_fields() == set()
    else:
        assert (loaded.pk, loaded.judge, loaded.spec_id, loaded.limits) == (
            read.pk, "FAIL", spec.pk, {"a": [1]}
        )  # fmt: skip
        assert "value_number" in loaded.get_deferred_fields()
        assert loaded.value_number == 241.5  # a deferred field is read when asked for
    assert not loaded._state.adding and loaded._state.db == "default"
    assert loaded.spec == spec  # the relation is followed from the loaded key
