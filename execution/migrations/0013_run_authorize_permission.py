"""Authorizing a run (docs/runs.md): the `authorize_run` permission, given to Quality
staff. Rows in the permission tables only: safe while traffic flows."""

from django.db import migrations

from mes.migration_permissions import group_permissions

PERMISSIONS = {"Quality staff": ["authorize_run"]}


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0012_unit_out_failed_index"),
        ("integration", "0002_role_groups"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="run",
            options={
                "ordering": ["-id"],
                "permissions": [("authorize_run", "Can authorize a run (PREP to AUTHORIZED)")],
            },
        ),
        group_permissions("execution", PERMISSIONS),
    ]
