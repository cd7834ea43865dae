"""The failed units waiting for a disposition (docs/execution.md), for the dashboard: a
partial index holding only OUT_FAILED units, built CONCURRENTLY and re-runnable after an
interruption (mes/migration_operations.py)."""

from django.db import migrations, models

from mes.migration_operations import AddIndexSafely


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("execution", "0011_track_open_indexes")]

    operations = [
        AddIndexSafely(
            model_name="unit",
            index=models.Index(
                condition=models.Q(status="OUT_FAILED"), fields=["id"], name="unit_out_failed"
            ),
        ),
    ]
