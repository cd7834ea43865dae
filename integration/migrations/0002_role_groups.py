"""The three role groups of docs/operations.md: permissions and their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MASTER_DATA = [
    ("execution", "station"),
    ("execution", "operation"),
    ("execution", "dataspec"),
    ("execution", "routeversion"),
    ("execution", "routestep"),
    ("execution", "run"),
    ("execution", "unit"),
    ("execution", "track"),
    ("execution", "carrier"),
    ("execution", "carriertrack"),
]
RECEIVED_DATA = [
    ("execution", "datavalue"),
    ("integration", "devicedatarecord"),
    ("integration", "integrationmessage"),
]


def _perms(models, actions):
    return [(app, f"{action}_{model}") for app, model in models for action in actions]


ROLE_PERMISSIONS = {
    "Gateways": [("integration", "add_devicedatarecord")],
    "Quality staff": _perms(MASTER_DATA + RECEIVED_DATA, ["view"]),
    "Integration admins": [
        ("integration", "add_devicedatarecord"),
        ("integration", "replay_integrationmessage"),
        ("integration", "view_gatewaykey"),
        *_perms(RECEIVED_DATA, ["view"]),
        *_perms(MASTER_DATA, ["view", "add", "change", "delete"]),
    ],
}


def create_role_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; create them now so
    # the groups can hold them on a fresh database.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = [
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in wanted
        ]
        group.permissions.set(permissions)


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("execution", "0001_initial"),
        ("integration", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
