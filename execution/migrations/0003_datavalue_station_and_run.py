"""Each value names its station and run (issue 12, docs/growth.md): the columns.

Safe while traffic flows: nullable columns with no default and no database constraint
(adding one would check every row under a lock): no rewrite, no scan. Their back-fill
and indexes are execution.0004.
"""

import django.db.models.deletion
from django.db import migrations, models


def place(to: str):
    return models.ForeignKey(
        blank=True,
        db_constraint=False,
        db_index=False,
        null=True,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="data_values",
        to=to,
    )


class Migration(migrations.Migration):
    dependencies = [("execution", "0002_value_indexes_for_growth")]

    operations = [
        migrations.AddField(
            model_name="datavalue", name="station", field=place("execution.station")
        ),
        migrations.AddField(model_name="datavalue", name="run", field=place("execution.run")),
    ]
