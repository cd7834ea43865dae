"""SPC decisions on a spec: rules, frozen limits, excluded values, acknowledged signals,
with their history (docs/quality.md). New tables and permission rows only: safe while
traffic flows."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models

from mes.migration_permissions import group_permissions

# Quality staff decide on charts; integration admins see the decisions.
DECISIONS = ["spcsettings", "spcexclusion", "spcsignalacknowledgement"]
PERMISSIONS = {
    "Quality staff": [
        f"{action}_{model}" for model in DECISIONS for action in ("add", "change", "view")
    ]
    + ["delete_spcexclusion"],
    "Integration admins": [f"view_{model}" for model in DECISIONS],
}


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0014_reason_codes_and_history"),
        ("integration", "0002_role_groups"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="HistoricalSpcExclusion",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                ("reason", models.TextField()),
                ("excluded_at", models.DateTimeField()),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(
                        choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1
                    ),
                ),
                (
                    "excluded_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "spec",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="execution.dataspec",
                    ),
                ),
                (
                    "value",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="execution.datavalue",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical spc exclusion",
                "verbose_name_plural": "historical spc exclusions",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalSpcSettings",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                ("rules", models.JSONField(default=list)),
                ("frozen_mean", models.FloatField(blank=True, null=True)),
                ("frozen_mr_mean", models.FloatField(blank=True, null=True)),
                ("frozen_count", models.PositiveIntegerField(blank=True, null=True)),
                ("baseline", models.CharField(blank=True, max_length=200)),
                ("frozen_at", models.DateTimeField(blank=True, null=True)),
                ("note", models.TextField(blank=True)),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(
                        choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1
                    ),
                ),
                (
                    "frozen_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "spec",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="execution.dataspec",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical SPC settings",
                "verbose_name_plural": "historical SPC settings",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalSpcSignalAcknowledgement",
            fields=[
                (
                    "id",
                    models.BigIntegerField(
                        auto_created=True, blank=True, db_index=True, verbose_name="ID"
                    ),
                ),
                ("rule", models.PositiveSmallIntegerField()),
                ("note", models.TextField()),
                ("acknowledged_at", models.DateTimeField()),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(
                        choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1
                    ),
                ),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "spec",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="execution.dataspec",
                    ),
                ),
                (
                    "value",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="execution.datavalue",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical spc signal acknowledgement",
                "verbose_name_plural": "historical spc signal acknowledgements",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="SpcSettings",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("rules", models.JSONField(default=list)),
                ("frozen_mean", models.FloatField(blank=True, null=True)),
                ("frozen_mr_mean", models.FloatField(blank=True, null=True)),
                ("frozen_count", models.PositiveIntegerField(blank=True, null=True)),
                ("baseline", models.CharField(blank=True, max_length=200)),
                ("frozen_at", models.DateTimeField(blank=True, null=True)),
                ("note", models.TextField(blank=True)),
                (
                    "frozen_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "spec",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="spc_settings",
                        to="execution.dataspec",
                    ),
                ),
            ],
            options={
                "verbose_name": "SPC settings",
                "verbose_name_plural": "SPC settings",
            },
        ),
        migrations.CreateModel(
            name="SpcExclusion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("reason", models.TextField()),
                ("excluded_at", models.DateTimeField()),
                (
                    "excluded_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "spec",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="execution.dataspec",
                    ),
                ),
                (
                    "value",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="spc_exclusion",
                        to="execution.datavalue",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["spec"], name="spcexclusion_spec")],
            },
        ),
        migrations.CreateModel(
            name="SpcSignalAcknowledgement",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("rule", models.PositiveSmallIntegerField()),
                ("note", models.TextField()),
                ("acknowledged_at", models.DateTimeField()),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "spec",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="execution.dataspec",
                    ),
                ),
                (
                    "value",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="execution.datavalue",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["spec"], name="spcsignal_spec")],
                "constraints": [
                    models.UniqueConstraint(fields=("value", "rule"), name="spcsignal_one_per_rule")
                ],
            },
        ),
        group_permissions("execution", PERMISSIONS),
    ]
