"""Whether a run has units left (execution/run_completion.py), asked at every unit's last
track-out: a partial index holding only the unfinished units, built CONCURRENTLY and
re-runnable after an interruption (mes/migration_operations.py)."""

from django.db import migrations, models

from mes.migration_operations import AddIndexSafely


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("execution", "0015_spc_decisions")]

    operations = [
        AddIndexSafely(
            model_name="unit",
            index=models.Index(
                condition=~models.Q(status__in=["DONE", "SCRAPPED"]),
                fields=["run"],
                name="unit_unfinished_by_run",
            ),
        ),
    ]
