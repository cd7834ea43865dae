"""Each value names its station and run (issue 12, docs/growth.md): back-fill and indexes.

Safe while traffic flows, and can be run again after an interruption:
- the back-fill of existing values from their track (and unit) or carrier track, in
  batches of 10,000 rows by id, each its own short transaction; values that have their
  station and run already are left alone. At 20 million values (ten million events) this
  is the long part: about half an hour on this project's 2-core machine;
- the indexes, built CONCURRENTLY (mes/migration_operations.py).
Values written meanwhile by code from before execution.0003 get theirs from
`manage.py fill_value_stations`, run once the new code serves.
"""

from django.db import migrations, models

from execution.value_stations import fill_value_stations
from mes.migration_operations import AddIndexSafely


def back_fill(apps, schema_editor):
    fill_value_stations(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("execution", "0003_datavalue_station_and_run")]

    operations = [
        migrations.RunPython(back_fill, migrations.RunPython.noop, atomic=False),
        AddIndexSafely(
            model_name="datavalue",
            index=models.Index(fields=["station", "collected_at"], name="datavalue_station"),
        ),
        AddIndexSafely(
            model_name="datavalue",
            index=models.Index(fields=["run", "collected_at"], name="datavalue_run"),
        ),
    ]
