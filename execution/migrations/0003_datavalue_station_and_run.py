"""Each value names its station and run, so the values of a station or a run are read from
an index (issue 12).

Three steps, each safe while traffic flows:
- the columns: nullable, no database constraint (adding one would check every row under
  a lock), no default, so no rewrite;
- the back-fill of existing values from their track or carrier track: in batches of
  10,000 rows by id, each its own short transaction (non-atomic migration); run again, it
  goes on where values still have none. At 20 million values, some minutes;
- the index, built CONCURRENTLY (mes/migration_operations.py).
Values written meanwhile by code from before the column get their station from a second
`migrate` run (the back-fill only fills what is missing) or `manage.py fill_value_stations`.
"""

import django.db.models.deletion
from django.db import migrations, models

from execution.value_stations import fill_value_stations
from mes.migration_operations import AddIndexSafely


def back_fill(apps, schema_editor):
    fill_value_stations(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("execution", "0002_value_indexes_for_growth")]

    operations = [
        migrations.AddField(
            model_name="datavalue",
            name="station",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="data_values",
                to="execution.station",
            ),
        ),
        migrations.AddField(
            model_name="datavalue",
            name="run",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="data_values",
                to="execution.run",
            ),
        ),
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
