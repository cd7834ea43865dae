"""Holds (issue 14, docs/holds.md): the tables, the REWORK unit status, and the
release_hold permission for Quality staff.

Safe while traffic flows: two new tables (their indexes are built while they are empty)
and a choices change on unit.status, which alters nothing in the database.
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

# Quality staff view and close holds; Integration admins view them.
HOLD_PERMISSIONS = {
    "Quality staff": ["view_hold", "release_hold"],
    "Integration admins": ["view_hold"],
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


def grant_hold_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, codenames in HOLD_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps, codenames))


def revoke_hold_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, codenames in HOLD_PERMISSIONS.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(*_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0004_value_station_and_run_indexes"),
        ("integration", "0002_role_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="unit",
            name="status",
            field=models.CharField(
                choices=[
                    ("QUEUED", "Queued"),
                    ("IN_STATION", "In station"),
                    ("OUT_FAILED", "Out, failed"),
                    ("DONE", "Done"),
                    ("ON_HOLD", "On hold"),
                    ("REWORK", "In rework"),
                    ("SCRAPPED", "Scrapped"),
                ],
                default="QUEUED",
                max_length=10,
            ),
        ),
        migrations.CreateModel(
            name="Hold",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("limits", models.JSONField(blank=True, default=dict)),
                ("event_id", models.CharField(max_length=255)),
                ("opened_at", models.DateTimeField()),
                (
                    "unit_status_before",
                    models.CharField(
                        choices=[
                            ("QUEUED", "Queued"),
                            ("IN_STATION", "In station"),
                            ("OUT_FAILED", "Out, failed"),
                            ("DONE", "Done"),
                            ("ON_HOLD", "On hold"),
                            ("REWORK", "In rework"),
                            ("SCRAPPED", "Scrapped"),
                        ],
                        max_length=10,
                    ),
                ),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "disposition",
                    models.CharField(
                        blank=True,
                        choices=[("RELEASE", "Release"), ("REWORK", "Rework"), ("SCRAP", "Scrap")],
                        max_length=7,
                    ),
                ),
                ("note", models.TextField(blank=True)),
                (
                    "closed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="closed_holds",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "first_value",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="execution.datavalue",
                    ),
                ),
                (
                    "spec",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="holds",
                        to="execution.dataspec",
                    ),
                ),
                (
                    "unit",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="holds",
                        to="execution.unit",
                    ),
                ),
            ],
            options={
                "ordering": ["-opened_at", "-id"],
                "permissions": [("release_hold", "Can close a hold with a disposition")],
            },
        ),
        migrations.CreateModel(
            name="HoldValue",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("event_id", models.CharField(max_length=255)),
                ("added_at", models.DateTimeField()),
                (
                    "hold",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="hold_values",
                        to="execution.hold",
                    ),
                ),
                (
                    "value",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="hold_values",
                        to="execution.datavalue",
                    ),
                ),
            ],
            options={
                "ordering": ["added_at", "id"],
            },
        ),
        migrations.AddField(
            model_name="hold",
            name="values",
            field=models.ManyToManyField(
                related_name="holds", through="execution.HoldValue", to="execution.datavalue"
            ),
        ),
        migrations.AddConstraint(
            model_name="holdvalue",
            constraint=models.UniqueConstraint(
                fields=("hold", "value"), name="holdvalue_unique_value"
            ),
        ),
        migrations.AddIndex(
            model_name="hold",
            index=models.Index(fields=["opened_at", "id"], name="hold_opened"),
        ),
        migrations.AddIndex(
            model_name="hold",
            index=models.Index(
                condition=models.Q(("closed_at__isnull", True)),
                fields=["opened_at", "id"],
                name="hold_open",
            ),
        ),
        migrations.AddIndex(
            model_name="hold",
            index=models.Index(fields=["spec", "opened_at"], name="hold_spec"),
        ),
        migrations.AddConstraint(
            model_name="hold",
            constraint=models.UniqueConstraint(
                condition=models.Q(("closed_at__isnull", True)),
                fields=("unit",),
                name="hold_one_open_per_unit",
            ),
        ),
        migrations.AddConstraint(
            model_name="hold",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("closed_at__isnull", True), ("disposition", "")),
                    models.Q(
                        ("closed_at__isnull", False), models.Q(("disposition", ""), _negated=True)
                    ),
                    _connector="OR",
                ),
                name="hold_closed_with_disposition",
            ),
        ),
        migrations.RunPython(grant_hold_permissions, revoke_hold_permissions),
    ]
