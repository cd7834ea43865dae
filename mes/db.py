"""Hand-written SQL for the ingestion's hot path, on PostgreSQL and SQLite alike.

Measured (docs/DECISIONS.md, "Ingestion's SQL"): building and compiling an
ORM query costs more than running it; 2-4 ms for the track lookup on the
benchmark machine against 0.3-0.9 ms for the same SQL written out. The
ingestion runs a handful of fixed statements per request, so it writes them
here; everything else (admin, read API, commands) uses the ORM. Statements go
through Django's cursor, so transactions, error translation (503 on outage)
and query capture in tests work as for any ORM query.
"""

from contextlib import nullcontext
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import Model


def placeholders(count: int) -> str:
    """`%s, %s, …` for an IN list or a VALUES row of `count` parameters."""
    return ", ".join(["%s"] * count)


def fetch_all(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params) -> int:
    """Run a statement; returns the number of rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetch_models(model: type[Model], sql: str, params) -> list[Model]:
    """Model instances from a SELECT of the model's own table (columns converted as
    the ORM does); further columns of the SELECT arrive as attributes."""
    return list(model.objects.raw(sql, params))


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


@cache
def _insert_plan(model: type[Model]):
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    # auto_now and auto_now_add fields need pre_save to stamp the time.
    stamped = [
        getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        for field in fields
    ]
    plain = [
        isinstance(field, PLAIN_FIELDS) and not stamp
        for field, stamp in zip(fields, stamped, strict=True)
    ]
    return fields, list(zip(fields, stamped, plain, strict=True))


def _database_row(obj: Model, plan, db) -> list:
    row = []
    for field, stamped, plain in plan:
        if plain:
            row.append(getattr(obj, field.attname))
        else:
            value = field.pre_save(obj, True) if stamped else getattr(obj, field.attname)
            row.append(field.get_db_prep_save(value, db))
    return row


def insert_models(objects: list[Model]) -> None:
    """INSERT new instances of one model and give each its primary key, as
    `bulk_create` does, in as few statements as the database takes: INSERT …
    RETURNING for a few rows, COPY for many on PostgreSQL.

    Values are prepared by each field (`get_db_prep_save`) where the driver
    needs it, so JSON, times and booleans are stored as the ORM stores them.
    """
    if not objects:
        return
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the proxy costs a lookup per use
    model = type(objects[0])
    fields, plan = _insert_plan(model)
    rows = [_database_row(obj, plan, db) for obj in objects]
    if db.vendor == "postgresql" and len(rows) >= COPY_FROM_ROWS:
        pks = _copy_rows(db, model, fields, rows)
    else:
        pks = _insert_rows(db, model, fields, rows)
    for obj, pk in zip(objects, pks, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = db.alias


def _columns(db, fields) -> str:
    return ", ".join(db.ops.quote_name(field.column) for field in fields)


def _insert_rows(db, model, fields, rows) -> list:
    table = db.ops.quote_name(model._meta.db_table)
    pk_column = db.ops.quote_name(model._meta.pk.column)
    values = f"({placeholders(len(fields))})"
    chunk = max(1, db.ops.bulk_batch_size(fields, rows))
    pks = []
    with db.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            cursor.execute(
                f"INSERT INTO {table} ({_columns(db, fields)}) "
                f"VALUES {', '.join([values] * len(part))} RETURNING {pk_column}",
                [value for row in part for value in row],
            )
            pks += [pk for (pk,) in cursor.fetchall()]
    return pks


def _copy_rows(db, model, fields, rows) -> list:
    """COPY with primary keys taken from the table's sequence first, since COPY
    returns nothing."""
    table = db.ops.quote_name(model._meta.db_table)
    pk_column = db.ops.quote_name(model._meta.pk.column)
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, len(rows)],
        )
        pks = [pk for (pk,) in cursor.fetchall()]
        sql = f"COPY {table} ({pk_column}, {_columns(db, fields)}) FROM STDIN"
        # Through the driver's cursor: Django's has no COPY. Logged and with errors
        # translated as Django does for its own statements.
        logged = cursor.debug_sql(sql) if db.queries_logged else nullcontext()
        with logged, db.wrap_database_errors, cursor.cursor.copy(sql) as copy:
            for pk, row in zip(pks, rows, strict=True):
                copy.write_row((pk, *row))
    return pks
