"""Records by step number, manual records and records received more than once, from
indexes (issue 12).

Safe while traffic flows: built CONCURRENTLY on PostgreSQL (non-atomic; an
interrupted run can be run again).
"""

from django.db import migrations, models

from mes.migration_operations import AddIndexSafely


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("integration", "0006_indexes_for_growth")]

    operations = [
        AddIndexSafely(
            model_name="devicedatarecord",
            index=models.Index(fields=["step_no", "event_time"], name="record_step"),
        ),
        AddIndexSafely(
            model_name="devicedatarecord",
            index=models.Index(
                condition=models.Q(("source", "AUTO"), _negated=True),
                fields=["event_time", "received_at", "id"],
                name="record_not_automatic",
            ),
        ),
        AddIndexSafely(
            model_name="devicedatarecord",
            index=models.Index(
                condition=models.Q(("duplicate_count__gt", 0)),
                fields=["event_time", "received_at", "id"],
                name="record_duplicated",
            ),
        ),
    ]
