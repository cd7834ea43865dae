"""Authorizing a run (docs/runs.md): the `authorize_run` permission, given to Quality
staff. Rows in the permission tables only: safe while traffic flows."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSIONS = {"Quality staff": ["authorize_run"]}


def _permissions(apps, codenames):
    # Permissions are normally created after all migrations; the groups need them now.
    app_config = apps.get_app_config("execution")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return list(
        Permission.objects.filter(content_type__app_label="execution", codename__in=codenames)
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
        migrations.RunPython(grant, revoke),
    ]
