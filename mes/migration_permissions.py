"""Permissions given to groups by a migration (docs/operations.md: migrations): rows in
the permission tables only, safe while traffic flows. Django creates an app's permission
rows after all migrations; a migration that gives them to a group needs them at once,
so it creates them first."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def group_permissions(app_label: str, permissions: dict[str, list[str]]) -> migrations.RunPython:
    """A RunPython that gives each group (created if missing) its codenames of
    `app_label`, and takes them back when the migration is reversed."""

    def _permissions(apps, codenames):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
        Permission = apps.get_model("auth", "Permission")
        return list(
            Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )

    def grant(apps, schema_editor):
        Group = apps.get_model("auth", "Group")
        for name, codenames in permissions.items():
            group, _ = Group.objects.get_or_create(name=name)
            group.permissions.add(*_permissions(apps, codenames))

    def revoke(apps, schema_editor):
        Group = apps.get_model("auth", "Group")
        for name, codenames in permissions.items():
            for group in Group.objects.filter(name=name):
                group.permissions.remove(*_permissions(apps, codenames))

    return migrations.RunPython(grant, revoke)
