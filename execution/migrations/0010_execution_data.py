"""Execution (docs/execution.md): the permissions of tracking and of a failed unit's
disposition, and at most one open pass per unit before 0011 makes it a rule.

A unit may have several open passes from before track-in and track-out existed (the
demo made them, so could the admin): each but the latest is closed at the moment its
unit's next pass began, its result left empty (unknown). Only those rows are touched.
Permission rows are added to the groups; `Operators` is created with `track_units` only.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.models import Count

PERMISSIONS = {
    "Operators": ["track_units"],
    "Quality staff": ["view_failuredisposition", "dispose_failed_unit"],
    "Integration admins": ["view_failuredisposition"],
}


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


def close_earlier_open_passes(apps, schema_editor):
    Track = apps.get_model("execution", "Track")
    Unit = apps.get_model("execution", "Unit")
    units = (
        Track.objects.filter(out_at__isnull=True)
        .values("unit_id")
        .annotate(open_passes=Count("id"))
        .filter(open_passes__gt=1)
        .values_list("unit_id", flat=True)
    )
    for unit_id in Unit.objects.filter(pk__in=list(units)).values_list("pk", flat=True):
        passes = list(Track.objects.filter(unit_id=unit_id).order_by("in_at", "id"))
        for current, following in zip(passes, passes[1:], strict=False):
            if current.out_at is None:
                current.out_at = following.in_at
                current.save(update_fields=["out_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0009_execution_fields"),
        ("integration", "0002_role_groups"),
    ]

    operations = [
        migrations.RunPython(grant, revoke),
        migrations.RunPython(close_earlier_open_passes, migrations.RunPython.noop),
    ]
