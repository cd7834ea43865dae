"""Indexes for the back office at millions of events (issue 12, docs/growth.md).

Safe while traffic flows: every index is built and dropped CONCURRENTLY on
PostgreSQL (non-atomic; an interrupted run can be run again: an index already
built is kept, one left INVALID is built anew), new indexes before the ones
they replace. At ten million events each index takes some 10 to 20 seconds to
build. Going back rebuilds the field indexes without CONCURRENTLY: not under
traffic.
"""

import django.db.models.deletion
from django.db import migrations, models

from mes.migration_operations import AddIndexSafely, DropFieldIndexes, RemoveIndexSafely


def record_index(**options):
    return AddIndexSafely(model_name="devicedatarecord", index=models.Index(**options))


def message_index(**options):
    return AddIndexSafely(model_name="integrationmessage", index=models.Index(**options))


def foreign_key(model_name, name, to, related_name, **options):
    return migrations.AlterField(
        model_name=model_name,
        name=name,
        field=models.ForeignKey(
            blank=True,
            db_index=False,
            null=True,
            on_delete=django.db.models.deletion.PROTECT,
            related_name=related_name,
            to=to,
            **options,
        ),
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("integration", "0006_message_record_fields")]

    operations = [
        record_index(fields=["event_time", "received_at", "id"], name="record_event_order"),
        record_index(fields=["run_no", "event_time"], name="record_run"),
        record_index(fields=["unit_sn", "event_time"], name="record_unit"),
        record_index(fields=["station_code", "event_time"], name="record_station"),
        record_index(fields=["step_no", "event_time"], name="record_step"),
        record_index(
            condition=models.Q(("source", "AUTO"), _negated=True),
            fields=["event_time", "received_at", "id"],
            name="record_not_automatic",
        ),
        record_index(
            condition=models.Q(("duplicate_count__gt", 0)),
            fields=["event_time", "received_at", "id"],
            name="record_duplicated",
        ),
        record_index(
            condition=models.Q(("carrier_track__isnull", False)),
            fields=["carrier_track"],
            name="record_carrier_track",
        ),
        message_index(fields=["created_at", "id"], name="message_created"),
        message_index(
            condition=models.Q(("status", "SUCCESS"), _negated=True),
            fields=["status", "created_at", "id"],
            name="message_not_success",
        ),
        message_index(
            condition=models.Q(("resolved_at__isnull", True), ("status", "FAILED")),
            fields=["dedupe_key"],
            name="message_unresolved",
        ),
        message_index(
            condition=models.Q(("error_code", ""), _negated=True),
            fields=["error_code", "created_at"],
            name="message_error",
        ),
        message_index(
            condition=models.Q(("replay_of__isnull", False)),
            fields=["replay_of"],
            name="message_replay_of",
        ),
        RemoveIndexSafely(model_name="devicedatarecord", name="record_event_time"),
        RemoveIndexSafely(model_name="devicedatarecord", name="record_run_no"),
        RemoveIndexSafely(model_name="devicedatarecord", name="record_unit_sn"),
        RemoveIndexSafely(model_name="devicedatarecord", name="record_station_code"),
        RemoveIndexSafely(model_name="integrationmessage", name="message_status_created"),
        RemoveIndexSafely(model_name="integrationmessage", name="message_dedupe_key"),
        RemoveIndexSafely(model_name="integrationmessage", name="message_error_code"),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                # eventIds are matched exactly: the unique index serves; its `_like` twin goes.
                DropFieldIndexes("devicedatarecord", "event_id"),
                DropFieldIndexes("devicedatarecord", "carrier_track_id"),
                DropFieldIndexes("integrationmessage", "created_at"),
                DropFieldIndexes("integrationmessage", "record_id"),
                DropFieldIndexes("integrationmessage", "replay_of_id"),
            ],
            state_operations=[
                foreign_key(
                    "devicedatarecord",
                    "carrier_track",
                    "execution.carriertrack",
                    "device_data_records",
                ),
                migrations.AlterField(
                    model_name="integrationmessage",
                    name="created_at",
                    field=models.DateTimeField(auto_now_add=True),
                ),
                foreign_key(
                    "integrationmessage", "record", "integration.devicedatarecord", "messages"
                ),
                foreign_key(
                    "integrationmessage", "replay_of", "integration.integrationmessage", "replays"
                ),
            ],
        ),
    ]
