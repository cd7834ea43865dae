"""Acknowledging messages that need attention (issue 14): three columns and a permission.

Safe under traffic on PostgreSQL: nullable columns, and a text column whose
default is the database's (no table rewrite, no scan; code from before the
columns keeps inserting). The acknowledger's foreign key is added NOT VALID:
checking it here would read every message under the table's lock, and the
column is empty; 0009 validates it without blocking writers. The
`acknowledge_message` permission goes to Integration admins and Quality staff
(docs/operations.md: permissions).
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

GROUPS = ["Integration admins", "Quality staff"]
CODENAME = "acknowledge_message"


class AddForeignKeyNotValid(migrations.AddField):
    """AddField for a nullable foreign key whose constraint PostgreSQL does not check
    now (NOT VALID); a later migration validates it. Other databases add it as usual."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        target = field.target_field
        table, column = model._meta.db_table, field.column
        schema_editor.execute(
            f'ALTER TABLE "{table}" ADD COLUMN "{column}" {field.db_type(schema_editor.connection)} NULL'
        )
        schema_editor.execute(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_{column}_fk" FOREIGN KEY ("{column}") '
            f'REFERENCES "{target.model._meta.db_table}" ("{target.column}") '
            "DEFERRABLE INITIALLY DEFERRED NOT VALID"
        )


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; this one is needed now.
    app_config = apps.get_app_config("integration")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    permission = apps.get_model("auth", "Permission").objects.get(
        content_type__app_label="integration", codename=CODENAME
    )
    for group in apps.get_model("auth", "Group").objects.filter(name__in=GROUPS):
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(
        content_type__app_label="integration", codename=CODENAME
    )
    for group in apps.get_model("auth", "Group").objects.filter(name__in=GROUPS):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("integration", "0007_indexes_for_growth"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="integrationmessage",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [
                    ("replay_integrationmessage", "Can replay failed integration messages"),
                    ("acknowledge_message", "Can acknowledge a conflict or failure"),
                ],
            },
        ),
        migrations.AddField(
            model_name="integrationmessage",
            name="acknowledged_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        AddForeignKeyNotValid(
            model_name="integrationmessage",
            name="acknowledged_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="acknowledged_messages",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="integrationmessage",
            name="acknowledgement_note",
            field=models.TextField(blank=True, db_default="", default=""),
        ),
        migrations.RunPython(grant, revoke),
    ]
