"""Hand-written SQL for the ingestion's hot path, on PostgreSQL and SQLite alike.

Measured (docs/DECISIONS.md, "Ingestion's speed"): building and compiling an
ORM query costs more than running it; 2-4 ms for the track lookup on the
benchmark machine against 0.3-0.9 ms for the same SQL written out. The
ingestion runs a handful of fixed statements per request, so it writes them
here; everything else (admin, read API, commands) uses the ORM. Statements go
through Django's cursor, so transactions, error translation (503 on outage)
and query capture in tests work as for any ORM query.
"""

import json
import logging
from contextlib import nullcontext
from functools import cache, partial
from operator import attrgetter

import orjson
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone
from psycopg.types.json import Jsonb

from mes.database_errors import BinaryCopyRefused

logger = logging.getLogger("mes.db")


def placeholders(count: int) -> str:
    """`%s, %s, …` for an IN list or a VALUES row of `count` parameters."""
    return ", ".join(["%s"] * count)


def one_of(column: str, values, sql_type: str) -> tuple[str, list]:
    """`column IN (…values)` as an SQL condition and its parameters.

    On PostgreSQL it is `column = ANY(%s::type[])` with one array parameter: the
    statement's text is the same however many values a batch brings, so it is
    parsed, planned and prepared once, where an IN list of 500 placeholders is a
    new statement for every length (and costs the driver as much to convert).
    `sql_type` is the column's type (`bigint`, `integer`, `text`), so the array
    compares as the column does and its index serves. One value, a single post's
    lookup, is `column = %s`: a scalar costs the driver less to send than an array.
    """
    values = list(values)
    if len(values) == 1:
        return f"{column} = %s", values
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::{sql_type}[])", [values]
    return f"{column} IN ({placeholders(len(values))})", values


def fetch_all(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params) -> int:
    """Run a statement; returns the number of rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


# The plans below are made once per process. They hold bound methods of the
# first thread's connection wrapper; those methods use settings only, never the
# connection itself, so every thread can use them.


@cache
def _load_plan(model: type[Model], fields: tuple[str, ...] | None = None):
    db = connections[DEFAULT_DB_ALIAS]
    fields = _concrete_fields(model, fields)
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        found = db.ops.get_db_converters(column) + field.get_db_converters(db)
        if found:
            converters.append((index, column, found))
    return [field.attname for field in fields], converters


@cache
def _concrete_fields(model: type[Model], fields: tuple[str, ...] | None):
    if fields is None:
        return model._meta.concrete_fields
    return [model._meta.get_field(name) for name in fields]


@cache
def select_list(model: type[Model], alias: str, fields: tuple[str, ...] | None = None) -> str:
    """The model's columns (or those of `fields` only), in field order, for
    `SELECT … FROM table alias`: the row part that `load_model` turns back into an
    instance. Naming the fields keeps a query off columns a later migration added, so it
    works while that migration is not applied (or is being undone) under this code."""
    return ", ".join(
        f"{alias}.{connection.ops.quote_name(field.column)}"
        for field in _concrete_fields(model, fields)
    )


def load_model(
    model: type[Model], row, start: int = 0, fields: tuple[str, ...] | None = None
) -> Model:
    """An instance from `row[start:]` as `select_list` selected it (with the same
    `fields`: the others are deferred), each value converted as the ORM converts it
    (JSON, and times and booleans on SQLite). A RawQuerySet does the same, but costs
    more to set up than the query takes."""
    db = connections[DEFAULT_DB_ALIAS]
    names, converters = _load_plan(model, fields)
    values = list(row[start : start + len(names)])
    for index, column, functions in converters:
        for convert in functions:
            values[index] = convert(values[index], column, db)
    if not _plainly_built(model) or _overrides_from_db(model):
        return model.from_db(db.alias, names, values)
    # What Model.from_db makes, without Model.__init__'s walk through every field's
    # descriptor (a tenth of a single post's view time): the fields not selected are
    # left out of the instance's __dict__, which is how Django marks them deferred.
    instance = model.__new__(model)
    instance._state = ModelState()
    instance._state.adding = False
    instance._state.db = db.alias
    instance.__dict__.update(zip(names, values, strict=True))
    return instance


@cache
def _overrides_from_db(model: type[Model]) -> bool:
    return model.from_db.__func__ is not Model.from_db.__func__


@cache
def _fetch_statement(model: type[Model], fields: tuple[str, ...], for_update: bool) -> str:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    where = " AND ".join(f"m.{quote(model._meta.get_field(name).column)} = %s" for name in fields)
    lock = " FOR UPDATE" if for_update and connection.vendor == "postgresql" else ""
    return (
        f"SELECT {select_list(model, 'm')} FROM {quote(model._meta.db_table)} m "
        f"WHERE {where} LIMIT 1{lock}"
    )


def fetch_model(model: type[Model], *, for_update: bool = False, **equals) -> Model | None:
    """The one row whose fields equal `equals` (a unique key of the model), or None; with
    `for_update`, locked FOR UPDATE until the transaction ends. What
    `model.objects.select_for_update().filter(**equals).first()` gives, without building
    and compiling that query on every call (ingestion's and tracking's record lookups)."""
    names = tuple(sorted(equals))
    rows = fetch_all(_fetch_statement(model, names, for_update), [equals[n] for n in names])
    return load_model(model, rows[0]) if rows else None


def model_width(model: type[Model], fields: tuple[str, ...] | None = None) -> int:
    """How many columns of a row `select_list` gives the model."""
    return len(_concrete_fields(model, fields))


def _plainly_built(model: type[Model]) -> bool:
    """Whether nothing listens to the model's init signals, so its instances can be
    built without Model.__init__."""
    return not (
        (pre_init.receivers or post_init.receivers)
        and (pre_init.has_listeners(model) or post_init.has_listeners(model))
    )


@cache
def _defaults(model: type[Model]):
    fixed, called = {}, []
    for field in model._meta.concrete_fields:
        if field.has_default() and callable(field.default):  # dict, now, …: one per instance
            called.append(field)
        else:
            fixed[field.attname] = field.get_default()
    return fixed, called, frozenset(field.attname for field in model._meta.concrete_fields)


def new_model(model: type[Model], **values) -> Model:
    """A new unsaved instance, as `model(**values)` makes it: every field its
    default, then `values` by attribute name (`spec_id`, not `spec`).

    Model.__init__ walks every field through descriptors for each instance: a
    quarter of a 500-event batch's time for its 2,500 rows. The instances the
    ingestion writes need none of that, so they are built from their defaults
    directly, unless something listens to the model's init signals.
    """
    fixed, called, names = _defaults(model)
    if not values.keys() <= names:
        raise TypeError(f"{model.__name__} has no field {sorted(values.keys() - names)}")
    if not _plainly_built(model):
        return model(**values)
    instance = model.__new__(model)
    instance._state = ModelState()
    state = instance.__dict__
    state.update(fixed)
    for field in called:
        state[field.attname] = field.get_default()
    state.update(values)
    return instance


# Fields whose Python value is already what the database driver takes.
PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.FloatField,
    models.BooleanField,
    models.ForeignKey,
)
# From this many rows, PostgreSQL's COPY beats INSERT … VALUES (bench/ingest.py).
COPY_FROM_ROWS = 32


def _preparer(field, db):
    """How a field's value becomes a database parameter; None: as it is."""
    if isinstance(field, PLAIN_FIELDS):
        return None
    if isinstance(field, models.DateTimeField):
        # Ingestion writes aware times only; get_db_prep_save would only add the
        # check for naive ones, at a third of the row's cost.
        return db.ops.adapt_datetimefield_value
    if isinstance(field, models.JSONField) and field.encoder is None and db.vendor == "postgresql":
        return _jsonb
    return partial(field.get_db_prep_save, connection=db)


def _jsonb(value):
    """A JSON field's value as get_db_prep_save gives it on PostgreSQL (None is SQL
    NULL), encoded by orjson: json.dumps was a fifth of a batch's time. jsonb keeps
    values, not text, so the stored document is the same."""
    return None if value is None else Jsonb(value, dumps=_dumps_json)


def _dumps_json(value) -> bytes | str:
    try:
        return orjson.dumps(value)
    except TypeError:  # what orjson declines (integers beyond 64 bits, keys not text)
        return json.dumps(value)


class _InsertPlan:
    """How an instance becomes a row of database values, field by field."""

    def __init__(self, model: type[Model], db):
        self.fields = [field for field in model._meta.concrete_fields if not field.primary_key]
        names = [field.attname for field in self.fields]
        # attrgetter of one name gives the value, of several a tuple.
        self.values_of = (
            attrgetter(*names) if len(names) > 1 else lambda obj: (getattr(obj, names[0]),)
        )
        # auto_now and auto_now_add fields are stamped with the time of the insert:
        # one time for all its rows, as PostgreSQL's now() is one per transaction.
        self.stamped = [
            (index, field.attname)
            for index, field in enumerate(self.fields)
            if isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add)
        ]
        self.dated = [  # DateFields stamp their own date
            (index, field)
            for index, field in enumerate(self.fields)
            if not isinstance(field, models.DateTimeField)
            and (getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))
        ]
        self.prepared = [
            (index, prepare)
            for index, field in enumerate(self.fields)
            if (prepare := _preparer(field, db)) is not None
        ]

    def row(self, obj: Model, now) -> list:
        for _, attname in self.stamped:
            setattr(obj, attname, now)
        row = list(self.values_of(obj))
        for index, field in self.dated:
            row[index] = field.pre_save(obj, True)
        for index, prepare in self.prepared:
            row[index] = prepare(row[index])
        return row


@cache
def _insert_plan(model: type[Model]) -> _InsertPlan:
    return _InsertPlan(model, connections[DEFAULT_DB_ALIAS])


def insert_models(objects: list[Model]) -> None:
    """INSERT new instances of one model and give each its primary key, as
    `bulk_create` does, in as few statements as the database takes: INSERT …
    RETURNING for a few rows, COPY for many on PostgreSQL.

    Values are prepared by each field (`get_db_prep_save`) where the driver
    needs it, so JSON, times and booleans are stored as the ORM stores them (JSON
    on PostgreSQL encoded by orjson, see `_jsonb`). `auto_now` and `auto_now_add`
    times are the one time the insert starts.
    """
    if not objects:
        return
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the proxy costs a lookup per use
    model = type(objects[0])
    plan = _insert_plan(model)
    fields = plan.fields
    now = timezone.now()
    rows = [plan.row(obj, now) for obj in objects]
    if db.vendor == "postgresql" and len(rows) >= COPY_FROM_ROWS:
        pks = _copy_rows(db, model, fields, rows)
    else:
        pks = _insert_rows(db, model, fields, rows)
    for obj, pk in zip(objects, pks, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = db.alias


@cache
def _names(model: type[Model]) -> tuple[str, str, str]:
    """The quoted table, primary key column and list of the other columns."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields = _insert_plan(model).fields
    return (
        quote(model._meta.db_table),
        quote(model._meta.pk.column),
        ", ".join(quote(field.column) for field in fields),
    )


@cache
def _insert_statement(model: type[Model], rows: int) -> str:
    table, pk_column, columns = _names(model)
    fields = _insert_plan(model).fields
    values = ", ".join([f"({placeholders(len(fields))})"] * rows)
    return f"INSERT INTO {table} ({columns}) VALUES {values} RETURNING {pk_column}"


@cache
def _unnest_statement(model: type[Model], binary: bool) -> str:
    table, pk_column, columns = _names(model)
    db = connections[DEFAULT_DB_ALIAS]
    # The type without its modifier (varchar, not varchar(100)): an explicit cast to
    # varchar(100) cuts longer text short, where storing into the column refuses it.
    types = [field.db_type(db).split("(")[0].strip() for field in _insert_plan(model).fields]
    # `%b`: the arrays in PostgreSQL's binary format, which the driver writes without
    # quoting each element (half the client's time of the text format for a group of
    # ten values). Only server-side binding takes it; the client-side cursor (with
    # DATABASE_PREPARED_STATEMENTS off) writes the arrays into the statement as text.
    placeholder = "%b" if binary else "%s"
    arrays = ", ".join(f"{placeholder}::{column_type}[]" for column_type in types)
    return f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) RETURNING {pk_column}"


def _as_float(value):
    return None if value is None else float(value)


@cache
def _column_coercions(model: type[Model]) -> list:
    """Per column, what makes its values one type for an array parameter (the driver
    refuses a list of mixed types): a float column may be given whole numbers."""
    return [
        _as_float if isinstance(field, models.FloatField) else None
        for field in _insert_plan(model).fields
    ]


def _unnest_rows(db, model, rows) -> list:
    """PostgreSQL: the rows as one array per column, through `unnest`.

    INSERT … VALUES has a new statement for every number of rows, and long ones: the
    driver converted its placeholders on every call (a fifth of a single post's
    worker time under group commit, bench/cpu_per_event.py) and the server parsed
    and planned each length anew. This statement's text is one per model, so the
    driver converts it once and the server prepares it (Django's bulk_create does the
    same since 5.2). RETURNING gives the keys in the arrays' order, which
    tests/mes/test_database_helpers.py checks."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    for index, coerce in enumerate(_column_coercions(model)):
        if coerce is not None:
            columns[index] = [coerce(value) for value in columns[index]]
    with db.cursor() as cursor:
        binary = bool(db.settings_dict["OPTIONS"].get("server_side_binding"))
        cursor.execute(_unnest_statement(model, binary), columns)
        return [pk for (pk,) in cursor.fetchall()]


def _insert_rows(db, model, fields, rows) -> list:
    # One row as scalars: the driver dumps them in C, where each array costs it a pass
    # in Python; the one-row statement is short and the same every time anyway.
    if db.vendor == "postgresql" and len(rows) > 1:
        return _unnest_rows(db, model, rows)
    chunk = max(1, db.ops.bulk_batch_size(fields, rows))
    pks = []
    with db.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            cursor.execute(
                _insert_statement(model, len(part)), [value for row in part for value in row]
            )
            pks += [pk for (pk,) in cursor.fetchall()]
    return pks


# Column types COPY's binary format is given (psycopg dumps each value as its column's
# type); a model with any other type is copied as text.
BINARY_COPY_TYPES = frozenset(
    {"bigint", "integer", "smallint", "boolean", "double precision", "text", "varchar",
     "jsonb", "timestamp with time zone", "date", "uuid"}
)  # fmt: skip


# Models whose binary COPY the server refused (a column's type changed under this
# process): copied as text, which the server converts, until the process restarts.
TEXT_COPY_MODELS: set[type[Model]] = set()
# The server's answers to binary data of another type than the column's: 08P01 "insufficient
# data left in message" (integer sent, bigint column), 22P03 "incorrect binary data format".
BINARY_REFUSED_STATES = frozenset({"08P01", "22P03"})


@cache
def _copy_types(model: type[Model]) -> list[str] | None:
    """The column types of the model's COPY (primary key first), for the binary format;
    None when one is not in BINARY_COPY_TYPES."""
    db = connections[DEFAULT_DB_ALIAS]
    types = []
    for field in [model._meta.pk, *_insert_plan(model).fields]:
        column_type = field.rel_db_type(db) if field.primary_key else field.db_type(db)
        column_type = (column_type or "").split("(")[0].strip()  # varchar(100): varchar
        if column_type not in BINARY_COPY_TYPES:
            return None
        types.append(column_type)
    return types


def _copy_rows(db, model, fields, rows) -> list:
    """COPY with primary keys taken from the table's sequence first, since COPY
    returns nothing.

    In COPY's binary format when every column's type allows: psycopg then dumps each
    value in C without escaping text, 40% less of the client's time a row than the text
    format (a DataValue row: 5.5 against 9.3 µs); tests/mes/test_database_helpers.py reads
    every kind of value back as the ORM stores it."""
    table, pk_column, columns = _names(model)
    types = None if model in TEXT_COPY_MODELS else _copy_types(model)
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, len(rows)],
        )
        pks = [pk for (pk,) in cursor.fetchall()]
        binary = " (FORMAT BINARY)" if types is not None else ""
        sql = f"COPY {table} ({pk_column}, {columns}) FROM STDIN{binary}"
        # Through the driver's cursor: Django's has no COPY. Logged and with errors
        # translated as Django does for its own statements.
        logged = cursor.debug_sql(sql) if db.queries_logged else nullcontext()
        try:
            with logged, db.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                if types is not None:
                    copy.set_types(types)
                for pk, row in zip(pks, rows, strict=True):
                    copy.write_row((pk, *row))
        except DatabaseError as error:
            state = getattr(error.__cause__, "sqlstate", None)
            if types is None or state not in BINARY_REFUSED_STATES:
                raise
            # A migration changed a column's type under this process (its model still
            # has the old one): text from now on; the caller takes the events again.
            # Guarded by tests/mes/test_schema_change.py.
            TEXT_COPY_MODELS.add(model)
            logger.warning("Binary COPY into %s refused (%s); copied as text now", table, error)
            raise BinaryCopyRefused(str(error)) from error
    return pks
