"""prune_messages: old DUPLICATE and resolved FAILED messages go, in batches; evidence stays."""

import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from execution.models import DataValue
from integration.ingestion.service import replay_failed_message
from integration.models import DeviceDataRecord, IntegrationMessage
from integration.retention import prune_messages
from tests.factories import TrackFactory, UnitFactory, reflow_event
from tests.postgres import needs_postgresql, second_session

Status = IntegrationMessage.Status


def aged_everything(days):
    moment = timezone.now() - timedelta(days=days)
    IntegrationMessage.objects.update(created_at=moment)
    IntegrationMessage.objects.filter(resolved_at__isnull=False).update(resolved_at=moment)


def remaining() -> dict:
    return {
        status: IntegrationMessage.objects.filter(status=status).count() for status in Status.values
    }


@pytest.fixture
def old_traffic(traffic, line, gateway):
    """The traffic fixture's attempts, and a FAILED one resolved by a later post, all
    120 days old; a replayed FAILED message too."""
    from integration.ingestion.errors import EventRefused
    from integration.ingestion.service import receive_device_event

    with pytest.raises(EventRefused):
        receive_device_event(reflow_event("evt-later", unitSn="SN-LATER"), sent_by=gateway)
    TrackFactory(unit=UnitFactory(sn="SN-LATER", run=line.run), step_no=40, station=line.station)
    receive_device_event(reflow_event("evt-later", unitSn="SN-LATER"), sent_by=gateway)
    with pytest.raises(EventRefused):
        receive_device_event(reflow_event("evt-replayed", unitSn="SN-AGAIN"), sent_by=gateway)
    TrackFactory(unit=UnitFactory(sn="SN-AGAIN", run=line.run), step_no=40, station=line.station)
    replayed = IntegrationMessage.objects.get(business_key="device-data:evt-replayed")
    replay_failed_message(replayed, replayed_by=gateway)
    aged_everything(days=120)
    return traffic


def test_old_duplicates_and_resolved_failures_go_and_the_rest_stays(old_traffic):
    records, values = DeviceDataRecord.objects.count(), DataValue.objects.count()
    before = remaining()
    pruned = prune_messages(timezone.now() - timedelta(days=90), batch_size=1, pause_seconds=0)
    after = remaining()
    assert pruned.duplicates == before[Status.DUPLICATE] == 1
    # evt-later's FAILED attempt went; the replayed one stays while its replay points at it,
    # and evt-late-unit's is unresolved.
    assert pruned.resolved_failures == 1
    assert after == {**before, Status.DUPLICATE: 0, Status.FAILED: before[Status.FAILED] - 1}
    assert IntegrationMessage.objects.filter(business_key="device-data:evt-replayed").count() == 2
    assert (DeviceDataRecord.objects.count(), DataValue.objects.count()) == (records, values)
    # One batch per message looked at (batch size 1): the duplicate, then the three old
    # FAILED ones (unresolved, resolved, replayed).
    assert pruned.batches == 4 and pruned.finished


def test_the_record_keeps_counting_its_duplicates_after_they_go(old_traffic):
    prune_messages(timezone.now() - timedelta(days=90), pause_seconds=0)
    record = DeviceDataRecord.objects.get(pk=old_traffic.record.pk)
    assert record.duplicate_count == 1
    assert not IntegrationMessage.objects.filter(status=Status.DUPLICATE).exists()


def test_messages_younger_than_the_age_stay(old_traffic):
    aged_everything(days=10)
    pruned = prune_messages(timezone.now() - timedelta(days=90), pause_seconds=0)
    assert (pruned.duplicates, pruned.resolved_failures, pruned.batches) == (0, 0, 0)


def test_a_run_stops_at_its_time_budget_and_the_next_goes_on(old_traffic):
    cutoff = timezone.now() - timedelta(days=90)
    first = prune_messages(cutoff, batch_size=1, pause_seconds=0, max_seconds=0)
    assert first.finished is False and first.batches == 0
    second = prune_messages(cutoff, batch_size=1, pause_seconds=0)
    assert (second.duplicates, second.resolved_failures) == (1, 1)


def test_the_command_counts_first_with_dry_run_then_deletes(old_traffic):
    out = StringIO()
    call_command("prune_messages", "--dry-run", stdout=out)
    assert "2 message(s)" in out.getvalue()
    assert IntegrationMessage.objects.filter(status=Status.DUPLICATE).exists()
    out = StringIO()
    call_command("prune_messages", "--older-than-days", "90", "--batch-size", "500", stdout=out)
    assert "Deleted 1 DUPLICATE and 1 resolved FAILED message(s)" in out.getvalue()


@pytest.mark.parametrize(
    "arguments", [["--older-than-days", "0"], ["--batch-size", "0"], ["--batch-size", "100000"]]
)
def test_the_command_refuses_settings_that_make_no_sense(db, arguments):
    with pytest.raises(CommandError):
        call_command("prune_messages", *arguments)


@needs_postgresql("a row lock held by a second connection")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_message_someone_holds_locked_is_left_for_the_next_run(old_traffic):
    duplicate = IntegrationMessage.objects.get(status=Status.DUPLICATE)
    with second_session() as session:
        session.execute("BEGIN")
        session.execute(
            "SELECT 1 FROM integration_integrationmessage WHERE id = %s FOR UPDATE", [duplicate.pk]
        )
        started = time.monotonic()
        result = {}

        def prune():
            try:
                result["pruned"] = prune_messages(
                    timezone.now() - timedelta(days=90), pause_seconds=0
                )
            finally:
                connection.close()  # this thread's own connection

        worker = threading.Thread(target=prune)
        worker.start()
        worker.join(timeout=30)
        session.execute("ROLLBACK")
    assert not worker.is_alive()
    assert time.monotonic() - started < 5  # not waiting for the lock
    assert (result["pruned"].duplicates, result["pruned"].resolved_failures) == (0, 1)
    assert IntegrationMessage.objects.filter(pk=duplicate.pk).exists()


def test_a_replay_chain_stays_whole_even_when_its_replays_failed_too(line, gateway):
    from integration.ingestion.errors import EventRefused
    from integration.ingestion.service import receive_device_event

    with pytest.raises(EventRefused):
        receive_device_event(reflow_event("evt-chain", unitSn="SN-CHAIN"), sent_by=gateway)
    first = IntegrationMessage.objects.get(business_key="device-data:evt-chain")
    with pytest.raises(EventRefused):
        replay_failed_message(first, replayed_by=gateway)  # fails again: a FAILED replay
    TrackFactory(unit=UnitFactory(sn="SN-CHAIN", run=line.run), step_no=40, station=line.station)
    replay_failed_message(first, replayed_by=gateway)  # written: both FAILED are resolved
    aged_everything(days=120)
    assert (
        IntegrationMessage.objects.filter(status=Status.FAILED, resolved_at__isnull=False).count()
        == 2
    )
    pruned = prune_messages(timezone.now() - timedelta(days=90), pause_seconds=0)
    assert pruned.resolved_failures == 0
    assert IntegrationMessage.objects.filter(business_key="device-data:evt-chain").count() == 3


@needs_postgresql("a table lock held by a second connection")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_the_database_gives_up_on_stops_cleanly_for_the_next(old_traffic):
    with second_session() as session:
        session.execute("BEGIN")
        session.execute("LOCK TABLE integration_integrationmessage IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        pruned = prune_messages(timezone.now() - timedelta(days=90), pause_seconds=0)
        waited = time.monotonic() - started
        session.execute("ROLLBACK")
    assert pruned.finished is False and pruned.duplicates == 0
    assert waited < 5  # the lock timeout, not the lock holder, decided
    again = prune_messages(timezone.now() - timedelta(days=90), pause_seconds=0)
    assert again.finished and (again.duplicates, again.resolved_failures) == (1, 1)
