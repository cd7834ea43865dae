"""Indexes for what needs attention once messages can be acknowledged (issue 14).

Safe under traffic: built CONCURRENTLY on PostgreSQL, as 0007's
(mes/migration_operations.py; non-atomic, can be run again after an
interruption), and the acknowledger's foreign key is validated, which reads the
table without blocking writers (SHARE UPDATE EXCLUSIVE).
"""

from django.db import migrations, models

from mes.migration_operations import AddIndexSafely

VALIDATE = (
    'ALTER TABLE "integration_integrationmessage" '
    'VALIDATE CONSTRAINT "integration_integrationmessage_acknowledged_by_id_fk"'
)


def validate_foreign_key(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(VALIDATE)


def message_index(**options):
    return AddIndexSafely(model_name="integrationmessage", index=models.Index(**options))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("integration", "0008_message_acknowledgement")]

    operations = [
        migrations.RunPython(validate_foreign_key, migrations.RunPython.noop),
        message_index(
            condition=models.Q(
                ("acknowledged_at__isnull", True),
                ("resolved_at__isnull", True),
                ("status", "FAILED"),
            ),
            fields=["created_at", "id"],
            name="message_failed_attention",
        ),
        message_index(
            condition=models.Q(("acknowledged_at__isnull", True), ("status", "CONFLICT")),
            fields=["created_at", "id"],
            name="message_conflict_attention",
        ),
        message_index(
            condition=models.Q(("acknowledged_at__isnull", False)),
            fields=["created_at", "id"],
            name="message_acknowledged",
        ),
        message_index(
            condition=models.Q(("acknowledged_by__isnull", False)),
            fields=["acknowledged_by"],
            name="message_acknowledged_by",
        ),
    ]
