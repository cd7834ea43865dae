"""Index changes that are safe to apply while traffic flows (docs/operations.md: migrations).

On PostgreSQL an index is built and dropped CONCURRENTLY: writers are never
blocked, the build only waits for transactions already running. Such a
migration must be non-atomic (`atomic = False`). A concurrent build that was
interrupted (a lock timeout, a cancelled deploy, a lost connection) leaves an
INVALID index behind under the same name, and the migration is not recorded
as applied; running it again keeps the indexes already built, drops the
INVALID one and builds it anew, and drops with IF EXISTS
(tests/mes/test_growth_indexes.py). Such migrations hold no column changes: those
go in atomic migrations of their own. SQLite has no
concurrent builds and no readers to block: there the plain statements run.
"""

from django.contrib.postgres.operations import NotInTransactionMixin
from django.db import migrations


def _is_postgresql(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def index_built(schema_editor, name: str) -> bool:
    """Whether a valid index of this name exists; one left INVALID by an interrupted
    concurrent build is dropped (and False answered), so it is built anew."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    if not row[0]:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
        return False
    return True


class AddIndexSafely(NotInTransactionMixin, migrations.AddIndex):
    """AddIndex, built CONCURRENTLY on PostgreSQL and re-runnable after an interruption."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if not _is_postgresql(schema_editor):
            schema_editor.add_index(model, self.index)
            return
        self._ensure_not_in_transaction(schema_editor)
        if not index_built(schema_editor, self.index.name):  # a run before built it
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if _is_postgresql(schema_editor):
            self._ensure_not_in_transaction(schema_editor)
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.index.name}"')
        else:
            schema_editor.remove_index(model, self.index)


class RemoveIndexSafely(NotInTransactionMixin, migrations.RemoveIndex):
    """RemoveIndex, dropped CONCURRENTLY on PostgreSQL (no lock queue behind a long read)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if _is_postgresql(schema_editor):
            self._ensure_not_in_transaction(schema_editor)
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.name}"')
        else:
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.remove_index(model, index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        index = to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
        if _is_postgresql(schema_editor):
            self._ensure_not_in_transaction(schema_editor)
            if not index_built(schema_editor, index.name):
                schema_editor.add_index(model, index, concurrently=True)
        else:
            schema_editor.add_index(model, index)


def field_indexes(schema_editor, table: str, column: str) -> list[str]:
    """The names of the plain (not unique, not primary key) one-column indexes on a column:
    the index Django makes for a foreign key or `db_index=True`, and its `_like` twin."""
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
    return sorted(
        name
        for name, details in constraints.items()
        if details["index"]
        and not details["unique"]
        and not details["primary_key"]
        and details["columns"] == [column]
        and not name.startswith(("datavalue_", "record_", "message_"))  # our named ones
    )


class DropFieldIndexes(NotInTransactionMixin, migrations.operations.base.Operation):
    """Drop the automatic indexes of a column (a foreign key's, or db_index's and its `_like`
    twin), CONCURRENTLY on PostgreSQL. Pair it with the AlterField that sets
    `db_index=False`, in SeparateDatabaseAndState's state operations. Backwards, the
    indexes are built again as Django builds them (not concurrently)."""

    reversible = True

    def __init__(self, model_name: str, column: str):
        self.model_name = model_name
        self.column = column

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        postgresql = _is_postgresql(schema_editor)
        if postgresql:
            self._ensure_not_in_transaction(schema_editor)
        for name in field_indexes(schema_editor, model._meta.db_table, self.column):
            concurrently = "CONCURRENTLY " if postgresql else ""
            schema_editor.execute(f'DROP INDEX {concurrently}IF EXISTS "{name}"')

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        field = next(f for f in model._meta.local_fields if f.column == self.column)
        # The field's indexes as Django makes them (on PostgreSQL, the `_like` twin too).
        for statement in schema_editor._field_indexes_sql(model, field):
            schema_editor.execute(statement)

    def describe(self):
        return f"Drop the automatic indexes of {self.model_name}.{self.column}"


class AddUniqueIndexSafely(NotInTransactionMixin, migrations.AddConstraint):
    """AddConstraint for a UniqueConstraint with a condition (a partial unique index),
    built CONCURRENTLY on PostgreSQL and re-runnable after an interruption, as
    AddIndexSafely. Rows that break it fail the build with IntegrityError, and the INVALID
    index left behind is dropped on the next run."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if not _is_postgresql(schema_editor):
            schema_editor.add_constraint(model, self.constraint)
            return
        self._ensure_not_in_transaction(schema_editor)
        if not index_built(schema_editor, self.constraint.name):
            statement = str(self.constraint.create_sql(model, schema_editor))
            schema_editor.execute(
                statement.replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX CONCURRENTLY", 1)
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if _is_postgresql(schema_editor):
            self._ensure_not_in_transaction(schema_editor)
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.constraint.name}"')
        else:
            schema_editor.remove_constraint(model, self.constraint)
