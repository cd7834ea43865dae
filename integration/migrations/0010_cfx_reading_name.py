"""IPC-CFX reading names (docs/cfx.md): a new table, and its permissions for Integration
admins (manage) and Quality staff (view). Safe while traffic flows: its foreign key locks
stations against writes for the moment the migration takes; nothing ingestion writes."""

import django.db.models.deletion
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

PERMISSIONS = {
    "Integration admins": [
        "add_cfxreadingname",
        "change_cfxreadingname",
        "delete_cfxreadingname",
        "view_cfxreadingname",
    ],
    "Quality staff": ["view_cfxreadingname"],
}


def _permissions(apps, codenames):
    # Permissions are normally created after all migrations; the groups need them now.
    app_config = apps.get_app_config("integration")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return list(
        Permission.objects.filter(content_type__app_label="integration", codename__in=codenames)
    )


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, codenames in PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps, codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, codenames in PERMISSIONS.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(*_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0008_station_cfx_handle_value_sender_limits"),
        ("integration", "0009_acknowledgement_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="CfxReadingName",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "reading_name",
                    models.CharField(
                        help_text="As the machine sends it, e.g. Zone3.Top.Temperature.",
                        max_length=200,
                    ),
                ),
                (
                    "spec_name",
                    models.CharField(
                        help_text="The DataSpec name the reading is written as.", max_length=200
                    ),
                ),
                (
                    "station",
                    models.ForeignKey(
                        blank=True,
                        help_text="Empty: for every station without a mapping of its own for this name.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="cfx_reading_names",
                        to="execution.station",
                    ),
                ),
            ],
            options={
                "verbose_name": "CFX reading name",
                "ordering": ["station__code", "reading_name"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("station", "reading_name"), name="cfx_reading_name_per_station"
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("station__isnull", True)),
                        fields=("reading_name",),
                        name="cfx_reading_name_everywhere",
                    ),
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
