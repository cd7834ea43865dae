"""Authorizing a run (execution/run_authorization.py): PREP → AUTHORIZED under the run's
lock, once, also when two sessions authorize it at the same moment; any other status, a
missing route or a route without steps refused with nothing written."""

import threading

import pytest
from django.db import connection

from execution.models import Run
from execution.run_authorization import AuthorizationRefused, authorize_run
from execution.tracking import track_in
from tests.factories import RouteVersionFactory, RunFactory, UserFactory
from tests.postgres import backends_waiting_on_a_lock, needs_postgresql, row_locked

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(db):
    return UserFactory(username="qe-auth")


@pytest.fixture
def prepared(route_line):
    Run.objects.filter(pk=route_line.run.pk).update(status=Run.Status.PREP)
    return Run.objects.get(pk=route_line.run.pk)


def _status(run) -> str:
    return Run.objects.values_list("status", flat=True).get(pk=run.pk)


def test_a_run_in_preparation_is_authorized_and_its_units_may_then_be_tracked_in(
    prepared, route_line, person
):
    outcome = authorize_run(prepared.run_no, by=person)

    assert outcome.changed and outcome.run.status == Run.Status.AUTHORIZED
    assert _status(prepared) == Run.Status.AUTHORIZED
    track_in(station_code=route_line.spi.code, sn="SN-AUTH-1", run_no=prepared.run_no)
    assert _status(prepared) == Run.Status.IN_PROGRESS


def test_a_run_is_taken_as_a_run_or_by_its_number(prepared, person):
    assert authorize_run(prepared, by=person).changed


def test_authorizing_an_authorized_run_again_changes_nothing(prepared, person):
    authorize_run(prepared, by=person)

    again = authorize_run(prepared, by=person)

    assert not again.changed and _status(prepared) == Run.Status.AUTHORIZED


@pytest.mark.parametrize(
    "status",
    [
        Run.Status.IN_PROGRESS,
        Run.Status.ON_HOLD,
        Run.Status.COMPLETED,
        Run.Status.CLOSED_REWORK,
        Run.Status.SCRAPPED,
    ],
)
def test_a_run_past_preparation_is_refused_and_keeps_its_status(route_line, person, status):
    Run.objects.filter(pk=route_line.run.pk).update(status=status)

    with pytest.raises(AuthorizationRefused) as refused:
        authorize_run(route_line.run.run_no, by=person)

    assert refused.value.code == "RUN_NOT_IN_PREP"
    assert "only a run in preparation can be authorized" in refused.value.message
    assert _status(route_line.run) == status


def test_a_run_without_a_route_version_is_refused(person):
    run = RunFactory(route_version=None, status=Run.Status.PREP)

    with pytest.raises(AuthorizationRefused) as refused:
        authorize_run(run, by=person)

    assert refused.value.code == "ROUTE_VERSION_NOT_READY"
    assert "has no route version" in refused.value.message
    assert _status(run) == Run.Status.PREP


def test_a_run_whose_route_has_no_steps_is_refused(person):
    run = RunFactory(route_version=RouteVersionFactory(code="EMPTY"), status=Run.Status.PREP)

    with pytest.raises(AuthorizationRefused) as refused:
        authorize_run(run, by=person)

    assert refused.value.code == "ROUTE_VERSION_NOT_READY"
    assert "EMPTY v1 has no steps" in refused.value.message
    assert _status(run) == Run.Status.PREP


def test_an_unknown_run_is_not_found(person):
    with pytest.raises(AuthorizationRefused) as refused:
        authorize_run("RUN-NOBODY", by=person)

    assert refused.value.code == "RUN_NOT_FOUND"


@pytest.mark.postgres_only
@needs_postgresql("two sessions on connections of their own, queued on the run's row lock")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sessions_authorizing_a_run_at_once_both_succeed_and_it_is_authorized_once(
    prepared,
):
    people = [UserFactory(username="qe-auth-1"), UserFactory(username="qe-auth-2")]
    outcomes, errors = {}, []

    def authorize(person):
        try:
            outcomes[person.username] = authorize_run(prepared.run_no, by=person)
        except Exception as error:  # noqa: BLE001 - the test reports any failure
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=authorize, args=(person,)) for person in people]
    # The run's row held elsewhere until both sessions wait for it: they then race for it
    # the moment it is let go, every time.
    with row_locked("execution_run", prepared.pk):
        for thread in threads:
            thread.start()
        backends_waiting_on_a_lock(at_least=2)
    for thread in threads:
        thread.join(30)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert sorted(outcomes) == ["qe-auth-1", "qe-auth-2"]
    assert sorted(outcome.changed for outcome in outcomes.values()) == [False, True]
    assert {outcome.run.status for outcome in outcomes.values()} == {Run.Status.AUTHORIZED}
    assert _status(prepared) == Run.Status.AUTHORIZED
