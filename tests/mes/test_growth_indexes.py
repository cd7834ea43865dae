"""Every back-office list and API list reads an index, and the index migrations are safe.

The plans are PostgreSQL's for the statements each page really runs (captured
from a request), asked with sequential scans and sorts priced out: a plan that
still scans one of the big tables, or sorts it for a list's order, has no
index to answer from and would read the whole table at ten million events.
"""

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integration.ingestion.service import receive_device_events
from tests.factories import reflow_event
from tests.postgres import database_of_its_own, manage, needs_postgresql, second_session

pytestmark = needs_postgresql("the plans and the concurrent index builds are PostgreSQL's")

BIG_TABLES = {
    "execution_datavalue",
    "integration_devicedatarecord",
    "integration_integrationmessage",
}
VALUES = "/admin/execution/datavalue/"
RECORDS = "/admin/integration/devicedatarecord/"
MESSAGES = "/admin/integration/integrationmessage/"

# (page, its list comes in index order: no sort of a big table at all)
PAGES = [
    (VALUES, True),
    (VALUES + "?judge__exact=FAIL", True),
    (VALUES + "?alarmed__exact=1", True),
    (VALUES + "?collectedFrom=2026-01-24&collectedTo=2026-01-24", True),
    (VALUES + "?judge__exact=FAIL&receivedFrom=2026-01-24T10:00:00Z", False),
    (VALUES + "?alarmed__exact=1&receivedFrom=2026-01-24T10:00:00Z", False),
    (VALUES + "?q=SN-0001", False),
    (VALUES + "?unitSn=SN-0001", False),
    (VALUES + "?runNo=RUN-2026-001", True),
    (VALUES + "?q=RUN-2026-001", False),
    (VALUES + "?sourceRef=device-data:evt-03", False),
    (VALUES + "?source__exact=MANUAL", True),
    (VALUES + "?station=REFLOW-01", True),
    (VALUES + "?spec__id__exact=1", True),
    (VALUES + "?p=3", True),
    (RECORDS, True),
    (RECORDS + "?q=evt-03", False),
    (RECORDS + "?runNo=RUN-2026-001", False),
    (RECORDS + "?unitSn=SN-0001", False),
    (RECORDS + "?stationCode=REFLOW-01", False),
    (RECORDS + "?eventFrom=2026-01-24T10:01:00Z", True),
    (RECORDS + "?stepNo=10", False),
    (RECORDS + "?source__exact=MANUAL", True),
    (RECORDS + "?duplicated=yes", True),
    (RECORDS + "?p=3", True),
    (MESSAGES, True),
    (MESSAGES + "?status__exact=FAILED", True),
    (MESSAGES + "?status__exact=DUPLICATE", True),
    (MESSAGES + "?resolved=no", True),
    (MESSAGES + "?resolved=yes", True),
    (MESSAGES + "?status__exact=FAILED&resolved=no&acknowledged=no", True),
    (MESSAGES + "?status__exact=CONFLICT&acknowledged=no", True),
    (MESSAGES + "?acknowledged=yes", True),
    (MESSAGES + "?error_code__exact=UNIT_NOT_FOUND", True),
    (MESSAGES + "?q=evt-03", False),
    (MESSAGES + "?createdFrom=2026-01-01", True),
    ("/admin/", True),
    ("/api/integration/device-data", True),
    ("/api/integration/device-data?runNo=RUN-2026-001", False),
    ("/api/integration/device-data?eventId=evt-03", False),
    ("/api/integration/messages", True),
    ("/api/integration/messages?status=FAILED", True),
    ("/api/integration/messages?acknowledged=true", True),
]


@pytest.fixture
def received(line, gateway):
    sent = [
        reflow_event(f"evt-{n:02d}", value=240 + n, eventTime=f"2026-01-24T10:{n:02d}:00Z")
        for n in range(30)
    ]
    sent += [reflow_event("evt-03"), reflow_event("evt-x", unitSn="SN-LATE")]
    receive_device_events(sent, sent_by=gateway)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def relations_under(node: dict) -> set[str]:
    return {n["Relation Name"] for n in plan_nodes(node) if "Relation Name" in n}


def explain(sql: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_sort = off")
        try:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            return cursor.fetchone()[0][0]["Plan"]
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_sort")


@pytest.mark.parametrize(("path", "in_index_order"), PAGES)
def test_every_list_reads_its_rows_from_an_index(received, quality_client, path, in_index_order):
    assert_reads_indexes(quality_client, path, in_index_order)


@pytest.mark.parametrize("page", ["unit", "run"])
def test_a_unit_or_run_page_reads_its_values_from_an_index(
    received, line, integration_admin_client, page
):
    # The change forms, as their editors see them (quality staff get the unit's page).
    obj = {"unit": line.unit, "run": line.run}[page]
    path = f"/admin/execution/{page}/{obj.pk}/change/"
    assert_reads_indexes(integration_admin_client, path, False)


def test_a_units_history_page_reads_every_row_from_an_index(received, line, quality_client):
    assert_reads_indexes(quality_client, f"/admin/execution/unit/{line.unit.pk}/page/", False)


def assert_reads_indexes(quality_client, path: str, in_index_order: bool) -> None:
    with CaptureQueriesContext(connection) as captured:
        response = quality_client.get(path)
    assert response.status_code == 200, path
    statements = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
        and any(table in q["sql"] for table in BIG_TABLES)
    ]
    assert statements, "the page read none of the big tables"
    for sql in statements:
        plan = explain(sql)
        for node in plan_nodes(plan):
            if node.get("Relation Name") in BIG_TABLES:
                assert node["Node Type"] != "Seq Scan", (path, sql)
            if in_index_order and node["Node Type"] == "Sort":
                assert not relations_under(node) & BIG_TABLES, (path, sql)


@pytest.mark.parametrize(
    ("condition", "index"),
    [
        ({"judge": "FAIL"}, "datavalue_failed_received"),
        ({"alarmed": True}, "datavalue_alarmed_received"),
    ],
)
def test_the_dashboards_value_figures_read_their_receipt_index(received, condition, index):
    from datetime import timedelta

    from django.utils import timezone

    from execution.models import DataValue
    from mes.counting import bounded_count

    # A window past the values received so far: the statistics then tell the planner that
    # the receipt-time range is narrow, as a day's window is among ten million values.
    start = timezone.now() + timedelta(seconds=1)
    with CaptureQueriesContext(connection) as captured:
        bounded_count(DataValue.objects.filter(created_at__gte=start, **condition))
    plan = explain(captured.captured_queries[0]["sql"])
    assert index in {node.get("Index Name") for node in plan_nodes(plan)}


def test_an_interrupted_index_migration_can_be_run_again():
    """A run cut short (a lock timeout, a cancelled deploy) has built some indexes, left
    one INVALID and is not recorded as applied; running it again finishes it."""
    with database_of_its_own("mes_migrate") as (name, url):
        manage(url, "migrate", "-v", "0", "execution", "0001")
        with second_session(name) as session:
            # Built by the first run:
            session.execute(
                "CREATE INDEX datavalue_collected ON execution_datavalue (collected_at, id)"
            )
            # Its second build failed half-way, as a real one does: a unique index over
            # duplicate rows, which leaves it INVALID.
            session.execute(
                "INSERT INTO execution_operation (code, name) VALUES ('OP-A', 'A'), ('OP-B', 'A')"
            )
            with pytest.raises(psycopg.errors.UniqueViolation):
                session.execute(
                    "CREATE UNIQUE INDEX CONCURRENTLY datavalue_spec ON execution_operation (name)"
                )
            assert valid_index(session, "datavalue_spec") == ("execution_operation", False)
            session.execute("DELETE FROM execution_operation")
        manage(url, "migrate", "-v", "0")
        with second_session(name) as session:
            assert valid_index(session, "datavalue_collected") == ("execution_datavalue", True)
            assert valid_index(session, "datavalue_spec") == ("execution_datavalue", True)


def valid_index(session, name: str):
    return session.execute(
        "SELECT indrelid::regclass::text, indisvalid FROM pg_index WHERE indexrelid = %s::regclass",
        [name],
    ).fetchone()


def test_the_index_migrations_go_back_and_forth():
    def indexes(session):
        return session.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s) ORDER BY 1",
            [list(BIG_TABLES)],
        ).fetchall()

    with database_of_its_own("mes_migrate") as (name, url):
        manage(url, "migrate", "-v", "0")
        with second_session(name) as session:
            after = indexes(session)
        manage(url, "migrate", "-v", "0", "integration", "0005")
        manage(url, "migrate", "-v", "0", "execution", "0001")
        with second_session(name) as session:
            before = [row[0] for row in indexes(session)]
        assert "record_event_time" in before and "datavalue_collected" not in before
        manage(url, "migrate", "-v", "0")
        with second_session(name) as session:
            assert indexes(session) == after


def test_resolving_failed_attempts_reads_the_unresolved_index_even_as_a_prepared_statement(db):
    """The statement runs on every post that writes a record. Prepared (server-side binding),
    PostgreSQL may plan it once for any parameters: the status must be in its text for
    that plan to use the partial index of unresolved FAILED messages."""
    from django.utils import timezone

    from integration.ingestion.rules import resolve_failed_messages

    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            for _ in range(6):  # psycopg prepares a statement from its fifth run
                resolve_failed_messages(["device-data:evt-x"], timezone.now())
            cursor.execute(
                "SELECT name FROM pg_prepared_statements "
                "WHERE statement LIKE 'UPDATE integration_integrationmessage SET resolved_at%%'"
            )
            (name,) = cursor.fetchone()
            cursor.execute(
                f"EXPLAIN (FORMAT JSON) EXECUTE {name}(now(), now(), 'device-data:evt-x')"
            )
            plan = cursor.fetchone()[0][0]["Plan"]
        finally:
            cursor.execute("RESET plan_cache_mode")
    scans = {
        node.get("Index Name") or node["Node Type"]
        for node in plan_nodes(plan)
        if "Relation Name" in node and node["Node Type"] != "ModifyTable"
    }
    assert scans == {"message_unresolved"}
