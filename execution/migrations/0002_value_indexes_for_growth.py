"""Indexes for the back office at millions of values (issue 12, docs/growth.md).

Safe while traffic flows: every index is built and dropped CONCURRENTLY on
PostgreSQL (non-atomic; an interrupted run can be run again: an index already
built is kept, one left INVALID is built anew), new indexes before the ones
they replace. The columns do not change. At ten million events (twenty million
values) each index takes some 20 seconds to build. Going back rebuilds the
field indexes without CONCURRENTLY: not under traffic.
"""

import django.db.models.deletion
from django.db import migrations, models

from mes.migration_operations import AddIndexSafely, DropFieldIndexes, RemoveIndexSafely


def index(**options):
    return AddIndexSafely(model_name="datavalue", index=models.Index(**options))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("execution", "0001_initial")]

    operations = [
        index(fields=["collected_at", "id"], name="datavalue_collected"),
        index(fields=["spec", "collected_at"], name="datavalue_spec"),
        index(
            condition=models.Q(("judge", "PASS"), _negated=True),
            fields=["judge", "collected_at", "id"],
            name="datavalue_not_passed",
        ),
        index(
            condition=models.Q(("alarmed", True)),
            fields=["collected_at", "id"],
            name="datavalue_alarmed",
        ),
        index(
            condition=models.Q(("source", "AUTO"), _negated=True),
            fields=["collected_at", "id"],
            name="datavalue_not_automatic",
        ),
        index(fields=["source_ref"], name="datavalue_source_ref"),
        index(
            condition=models.Q(("carrier_track__isnull", False)),
            fields=["carrier_track"],
            name="datavalue_carrier_track",
        ),
        RemoveIndexSafely(model_name="datavalue", name="datavalue_spec_collected"),
        RemoveIndexSafely(model_name="datavalue", name="datavalue_judge_collected"),
        RemoveIndexSafely(model_name="datavalue", name="datavalue_alarm_collected"),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                DropFieldIndexes("datavalue", "carrier_track_id"),
                DropFieldIndexes("datavalue", "source_ref"),
                DropFieldIndexes("datavalue", "spec_id"),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="datavalue",
                    name="carrier_track",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="data_values",
                        to="execution.carriertrack",
                    ),
                ),
                migrations.AlterField(
                    model_name="datavalue",
                    name="source_ref",
                    field=models.CharField(max_length=255),
                ),
                migrations.AlterField(
                    model_name="datavalue",
                    name="spec",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="values",
                        to="execution.dataspec",
                    ),
                ),
            ],
        ),
    ]
