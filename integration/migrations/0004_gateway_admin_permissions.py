"""Integration admins manage gateways through the Gateway admin (docs/operations.md: permissions).

They may list, create, rename, re-key and revoke gateways: view, add and
change on the Gateway proxy. Not delete: a gateway that sent data is named by
its records, so it is revoked, never removed. Quality staff and Gateways get
nothing here.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

INTEGRATION_ADMINS = "Integration admins"
GATEWAY_PERMISSIONS = ["view_gateway", "add_gateway", "change_gateway"]


def _gateway_permissions(apps):
    # Permissions are normally created after all migrations; the proxy's are
    # needed now, on a fresh database, so the group can hold them.
    app_config = apps.get_app_config("integration")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(
        content_type__app_label="integration",
        content_type__model="gateway",
        codename__in=GATEWAY_PERMISSIONS,
    )


def grant_gateway_permissions(apps, schema_editor):
    permissions = list(_gateway_permissions(apps))
    assert len(permissions) == len(GATEWAY_PERMISSIONS), permissions
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name=INTEGRATION_ADMINS)
    group.permissions.add(*permissions)


def revoke_gateway_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name=INTEGRATION_ADMINS):
        group.permissions.remove(*_gateway_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("integration", "0003_gateway"),
    ]

    operations = [
        migrations.RunPython(grant_gateway_permissions, revoke_gateway_permissions),
    ]
