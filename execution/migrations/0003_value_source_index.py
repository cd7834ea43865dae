"""Manual values (few among automatic ones) listed from their own small index (issue 12).

Safe while traffic flows: built CONCURRENTLY on PostgreSQL (non-atomic; an
interrupted run can be run again).
"""

from django.db import migrations, models

from mes.migration_operations import AddIndexSafely


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("execution", "0002_value_indexes_for_growth")]

    operations = [
        AddIndexSafely(
            model_name="datavalue",
            index=models.Index(
                condition=models.Q(("source", "AUTO"), _negated=True),
                fields=["collected_at", "id"],
                name="datavalue_not_automatic",
            ),
        ),
    ]
