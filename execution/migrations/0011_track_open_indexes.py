"""Execution (docs/execution.md): at most one open pass per unit, and a station's queue.

Two partial indexes on the track table, holding only open passes, built CONCURRENTLY and
re-runnable after an interruption (mes/migration_operations.py): writers are never
blocked. 0010 closed the earlier open passes that would break the unique one.
"""

from django.db import migrations, models

from mes.migration_operations import AddIndexSafely, AddUniqueIndexSafely


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("execution", "0010_execution_data")]

    operations = [
        AddUniqueIndexSafely(
            model_name="track",
            constraint=models.UniqueConstraint(
                condition=models.Q(out_at__isnull=True),
                fields=("unit",),
                name="track_one_open_per_unit",
            ),
        ),
        AddIndexSafely(
            model_name="track",
            index=models.Index(
                condition=models.Q(out_at__isnull=True),
                fields=["station", "in_at"],
                name="track_open_at_station",
            ),
        ),
    ]
