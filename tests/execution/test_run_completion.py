"""Run completion (execution/run_completion.py): a run is COMPLETED once none of its units
is left unfinished; the question is asked at every unit's last track-out, under the run's
lock, so it reads the partial index of unfinished units whatever the run's size, even as
a prepared statement planned once for any run (server-side binding)."""

import pytest
from django.db import connection
from django.utils import timezone

from execution.models import Run, Unit
from execution.run_completion import complete_run_if_finished
from tests.factories import RunFactory, UnitFactory
from tests.mes.test_growth_indexes import plan_nodes
from tests.postgres import needs_postgresql

pytestmark = pytest.mark.django_db


def test_a_run_is_completed_when_its_last_unit_is_finished_and_not_before():
    run = RunFactory(status=Run.Status.IN_PROGRESS)
    UnitFactory(sn="SN-RC-1", run=run, status=Unit.Status.DONE)
    waiting = UnitFactory(sn="SN-RC-2", run=run, status=Unit.Status.QUEUED)
    UnitFactory(sn="SN-RC-3", run=run, status=Unit.Status.SCRAPPED)
    UnitFactory(sn="SN-OTHER", run=RunFactory(), status=Unit.Status.QUEUED)  # another run's

    assert complete_run_if_finished(run.pk, timezone.now()) is False
    assert Run.objects.get(pk=run.pk).status == Run.Status.IN_PROGRESS

    Unit.objects.filter(pk=waiting.pk).update(status=Unit.Status.DONE)
    assert complete_run_if_finished(run.pk, timezone.now()) is True
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED and run.completed_at is not None


@needs_postgresql("the plan of a prepared statement is PostgreSQL's")
def test_the_unfinished_units_question_reads_its_partial_index_even_as_a_prepared_statement():
    run = RunFactory(status=Run.Status.IN_PROGRESS)
    UnitFactory(sn="SN-RC-1", run=run, status=Unit.Status.QUEUED)
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            for _ in range(6):  # psycopg prepares a statement from its fifth run
                assert complete_run_if_finished(run.pk, timezone.now()) is False
            cursor.execute(
                "SELECT name, parameter_types::text[] FROM pg_prepared_statements "
                "WHERE statement LIKE '%%FROM \"execution_unit\"%%' "
                "OR statement LIKE '%%FROM execution_unit%%'"
            )
            statements = cursor.fetchall()
            assert len(statements) == 1, statements
            (name, parameter_types) = statements[0]
            # The statuses written in its text: a generic plan knows them, as the index's
            # condition must be proven from the statement alone.
            assert len(parameter_types) == 1, parameter_types  # the run alone
            cursor.execute("SET enable_seqscan = off")
            cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE {name}({run.pk})")
            plan = cursor.fetchone()[0][0]["Plan"]
        finally:
            cursor.execute("RESET plan_cache_mode")
            cursor.execute("RESET enable_seqscan")
    indexes = {node.get("Index Name") for node in plan_nodes(plan)}
    assert "unit_unfinished_by_run" in indexes, plan
