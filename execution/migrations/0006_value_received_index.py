"""The dashboard counts FAIL and alarmed values by the time they were received (issue 14).

Two partial indexes on `created_at`, holding only FAIL or only alarmed values (a few
per cent of the table), built CONCURRENTLY and re-runnable after an interruption
(mes/migration_operations.py).
"""

from django.db import migrations, models

from mes.migration_operations import AddIndexSafely


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("execution", "0005_holds")]

    operations = [
        AddIndexSafely(
            model_name="datavalue",
            index=models.Index(
                condition=models.Q(judge="FAIL"),
                fields=["created_at"],
                name="datavalue_failed_received",
            ),
        ),
        AddIndexSafely(
            model_name="datavalue",
            index=models.Index(
                condition=models.Q(alarmed=True),
                fields=["created_at"],
                name="datavalue_alarmed_received",
            ),
        ),
    ]
