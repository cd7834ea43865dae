"""Holds (issue 14, docs/holds.md): the tables and the REWORK unit status.

Safe while traffic flows: two new tables (their indexes are built while they are empty)
and a choices change on unit.status, which alters nothing in the database. Their foreign
keys briefly lock the tables they point at against writes (units, specs, users: edited
in the admin only); none points at the values table, which ingestion writes. The
release_hold permission is granted in execution.0007.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0004_value_station_and_run_indexes"),
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
                        db_constraint=False,
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
    ]
