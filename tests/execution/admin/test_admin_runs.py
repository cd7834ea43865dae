"""Runs in the back office (execution/admin/runs.py): authorizing a run (the button on
its page, also pressed by two people at once, and the list action) through
`authorize_run` only, by people with `authorize_run` (Quality staff); a form that cannot
write the status, nor the route of a started run; and the run's page with its units by
status and step, its yields (units finished without a pass apart) and its units' open
holds."""

import re
import threading

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags

from execution.models import Run, Unit
from tests.factories import (
    RouteVersionFactory,
    RunFactory,
    UnitFactory,
    UserFactory,
    person_in_role,
)
from tests.postgres import (
    backends_waiting_on_a_lock,
    needs_postgresql,
    row_locked,
    second_session,
)
from tests.run_mix import build_run_mix

pytestmark = pytest.mark.django_db


def page_url(run) -> str:
    return reverse("admin:execution_run_change", args=[run.pk])


def authorize_url(run) -> str:
    return reverse("admin:execution_run_authorize", args=[run.pk])


def reported(response) -> list[tuple[str, str]]:
    return [(m.level_tag, strip_tags(str(m))) for m in get_messages(response.wsgi_request)]


def status_of(run) -> str:
    return Run.objects.values_list("status", flat=True).get(pk=run.pk)


def section(body: str, element_id: str) -> str:
    """The text of the page's module `element_id`, each tag a blank, blanks collapsed."""
    match = re.search(rf'<div class="module mes-related" id="{element_id}">(.*?)</div>', body, re.S)
    assert match, element_id
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


@pytest.fixture
def prepared(route_line):
    Run.objects.filter(pk=route_line.run.pk).update(status=Run.Status.PREP)
    return Run.objects.get(pk=route_line.run.pk)


# --- authorizing on the run's page ---------------------------------------------------------


def test_quality_staff_authorize_a_run_in_preparation_from_its_page(quality, prepared):
    shown = quality.get(page_url(prepared))
    assert 'id="authorize-form"' in shown.content.decode()

    response = quality.post(authorize_url(prepared))

    assert response.status_code == 302 and response["Location"] == page_url(prepared)
    assert status_of(prepared) == Run.Status.AUTHORIZED
    assert reported(response) == [
        ("success", "Run RUN-TRACK-001 authorized: its units may be tracked in.")
    ]
    # Who and when: the run's history.
    entry = LogEntry.objects.get(object_id=str(prepared.pk))
    assert (entry.user.username, entry.change_message) == (
        "quality-staff",
        "Authorized (PREP → AUTHORIZED).",
    )
    assert 'id="authorize-form"' not in quality.get(page_url(prepared)).content.decode()


def test_a_run_whose_route_has_no_steps_is_refused_in_words(quality):
    run = RunFactory(
        run_no="RUN-EMPTY", route_version=RouteVersionFactory(code="EMPTY"), status="PREP"
    )

    response = quality.post(authorize_url(run))

    assert status_of(run) == Run.Status.PREP
    assert reported(response) == [
        (
            "error",
            "Run RUN-EMPTY's route EMPTY v1 has no steps: add them first "
            "(ROUTE_VERSION_NOT_READY).",
        )
    ]


@pytest.mark.parametrize("role, answer", [("integration admin", 403), ("gateway", 302)])
def test_people_without_authorize_run_cannot_authorize(client, prepared, role, answer):
    client.force_login(person_in_role(role))

    response = client.post(authorize_url(prepared))

    assert response.status_code == answer
    assert status_of(prepared) == Run.Status.PREP
    if role == "integration admin":
        assert 'id="authorize-form"' not in client.get(page_url(prepared)).content.decode()


def test_a_get_of_the_authorize_address_changes_nothing(quality, prepared):
    response = quality.get(authorize_url(prepared))

    assert response.status_code == 302 and status_of(prepared) == Run.Status.PREP


@needs_postgresql("a row lock held by a second session, and the lock timeout")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_locked_elsewhere_is_waited_for_briefly_and_nothing_is_changed(client, prepared):
    client.force_login(person_in_role("quality staff"))

    with row_locked("execution_run", prepared.pk):
        response = client.post(authorize_url(prepared))

    assert reported(response) == [
        (
            "error",
            "Run RUN-TRACK-001 was not changed: it is being written to right now. Try again.",
        )
    ]
    assert status_of(prepared) == Run.Status.PREP
    assert not LogEntry.objects.exists()


@pytest.mark.postgres_only
@needs_postgresql("two people's requests on connections of their own, queued on the run's lock")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_people_pressing_authorize_at_once_both_see_success_and_it_happens_once(
    prepared, settings
):
    settings.INGEST_LOCK_TIMEOUT_MS = 10_000  # the test holds the lock until both wait
    people = []
    for name in ("qe-press-1", "qe-press-2"):
        person = Client()
        person.force_login(UserFactory(username=name, is_staff=True, groups=["Quality staff"]))
        people.append(person)
    answers, errors = [], []

    def press(person):
        try:
            answers.append(reported(person.post(authorize_url(prepared))))
        except Exception as error:  # noqa: BLE001 - the test reports any failure
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(person,)) for person in people]
    # The run's row held elsewhere until both requests wait for it: they then race for it
    # the moment it is let go, every time.
    with row_locked("execution_run", prepared.pk):
        for thread in threads:
            thread.start()
        backends_waiting_on_a_lock(at_least=2)
    for thread in threads:
        thread.join(30)

    assert errors == [] and not any(thread.is_alive() for thread in threads)
    assert sorted(answers) == [
        [("info", "Run RUN-TRACK-001 was already authorized.")],
        [("success", "Run RUN-TRACK-001 authorized: its units may be tracked in.")],
    ]
    assert status_of(prepared) == Run.Status.AUTHORIZED
    assert LogEntry.objects.filter(object_id=str(prepared.pk)).count() == 1


# --- the list action -----------------------------------------------------------------------


def test_the_list_action_authorizes_the_selected_runs_and_says_why_others_were_not(
    quality, prepared
):
    running = RunFactory(run_no="RUN-RUNNING", status=Run.Status.IN_PROGRESS)
    authorized = RunFactory(
        run_no="RUN-ALREADY", route_version=prepared.route_version, status="AUTHORIZED"
    )

    response = quality.post(
        reverse("admin:execution_run_changelist"),
        {
            "action": "authorize_selected",
            "_selected_action": [prepared.pk, running.pk, authorized.pk],
        },
    )

    assert response.status_code == 302
    assert status_of(prepared) == Run.Status.AUTHORIZED
    assert status_of(running) == Run.Status.IN_PROGRESS
    assert reported(response) == [
        ("success", "Authorized: RUN-TRACK-001."),
        ("info", "Already authorized, left as they were: RUN-ALREADY."),
        (
            "error",
            "Run RUN-RUNNING is in progress: only a run in preparation can be authorized "
            "(RUN_NOT_IN_PREP).",
        ),
    ]


def test_the_list_action_is_offered_only_to_people_with_authorize_run(client, quality, prepared):
    listed = quality.get(reverse("admin:execution_run_changelist")).content.decode()
    assert 'value="authorize_selected"' in listed

    client.force_login(person_in_role("integration admin"))
    listed = client.get(reverse("admin:execution_run_changelist")).content.decode()
    assert 'value="authorize_selected"' not in listed


# --- the form does not write the status ----------------------------------------------------


def test_the_run_form_cannot_set_the_status(client, prepared):
    client.force_login(person_in_role("integration admin"))

    response = client.post(
        page_url(prepared),
        {
            "run_no": prepared.run_no,
            "wo_no": "WO-2002",
            "line_code": "LINE-1",
            "route_version": prepared.route_version_id,
            "status": Run.Status.AUTHORIZED,
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    run = Run.objects.get(pk=prepared.pk)
    assert (run.wo_no, run.status) == ("WO-2002", Run.Status.PREP)


def test_a_run_added_in_the_form_starts_in_preparation(client, route_line):
    client.force_login(person_in_role("integration admin"))

    response = client.post(
        reverse("admin:execution_run_add"),
        {
            "run_no": "RUN-NEW",
            "wo_no": "",
            "line_code": "",
            "route_version": route_line.run.route_version_id,
            "status": Run.Status.IN_PROGRESS,
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    assert Run.objects.get(run_no="RUN-NEW").status == Run.Status.PREP


# --- the route of a started run is fixed ---------------------------------------------------

STARTED = [
    Run.Status.IN_PROGRESS,
    Run.Status.ON_HOLD,
    Run.Status.COMPLETED,
    Run.Status.CLOSED_REWORK,
    Run.Status.SCRAPPED,
]


def run_form(run, **changes) -> dict:
    fields = {
        "run_no": run.run_no,
        "wo_no": run.wo_no or "",
        "line_code": run.line_code or "",
        "route_version": run.route_version_id or "",
        "_save": "Save",
    }
    return fields | changes


def route_of(run) -> int | None:
    return Run.objects.values_list("route_version_id", flat=True).get(pk=run.pk)


@pytest.mark.parametrize("status", STARTED)
def test_the_route_of_a_run_the_mes_has_started_is_shown_but_not_offered(
    client, route_line, status
):
    Run.objects.filter(pk=route_line.run.pk).update(status=status)
    client.force_login(person_in_role("integration admin"))

    body = client.get(page_url(route_line.run)).content.decode()

    assert 'name="wo_no"' in body and 'name="route_version"' not in body
    assert str(route_line.run.route_version) in body


@pytest.mark.parametrize("status", STARTED)
def test_the_run_form_cannot_change_the_route_of_a_started_run(client, route_line, status):
    Run.objects.filter(pk=route_line.run.pk).update(status=status)
    client.force_login(person_in_role("integration admin"))
    route = route_line.run.route_version_id
    other = RouteVersionFactory(code="OTHER")

    for changed in ("", other.pk):  # emptied, or another version
        response = client.post(
            page_url(route_line.run), run_form(route_line.run, wo_no="WO-9", route_version=changed)
        )

        assert response.status_code == 302, changed
        assert route_of(route_line.run) == route, changed
    assert Run.objects.get(pk=route_line.run.pk).wo_no == "WO-9"  # the rest is still saved


@pytest.mark.parametrize("status", [Run.Status.PREP, Run.Status.AUTHORIZED])
def test_the_route_of_a_run_not_started_yet_may_still_change(client, route_line, status):
    Run.objects.filter(pk=route_line.run.pk).update(status=status)
    client.force_login(person_in_role("integration admin"))
    assert 'name="route_version"' in client.get(page_url(route_line.run)).content.decode()
    other = RouteVersionFactory(code="OTHER")

    response = client.post(
        page_url(route_line.run), run_form(route_line.run, route_version=other.pk)
    )

    assert response.status_code == 302 and route_of(route_line.run) == other.pk


def test_a_form_opened_before_the_run_started_cannot_write_its_route_back(client, prepared):
    client.force_login(person_in_role("integration admin"))
    opened = client.get(page_url(prepared)).content.decode()
    assert 'name="route_version"' in opened
    route = prepared.route_version_id
    # The run starts while the form is open: the first track-in.
    Run.objects.filter(pk=prepared.pk).update(status=Run.Status.IN_PROGRESS)

    response = client.post(page_url(prepared), run_form(prepared, route_version=""))

    assert response.status_code == 302
    run = Run.objects.get(pk=prepared.pk)
    assert (run.route_version_id, run.status) == (route, Run.Status.IN_PROGRESS)


@pytest.mark.postgres_only
@needs_postgresql("a track-in's transaction in a second session while the form is saved")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_starting_while_its_form_is_saved_keeps_its_route_and_its_status(
    route_line,
):
    Run.objects.filter(pk=route_line.run.pk).update(status=Run.Status.AUTHORIZED)
    route = route_line.run.route_version_id
    admin = Client()
    admin.force_login(person_in_role("integration admin"))
    answers, errors = [], []

    def save():
        try:
            answers.append(
                admin.post(page_url(route_line.run), run_form(route_line.run, route_version=""))
            )
        except Exception as error:  # noqa: BLE001 - the test reports any failure
            errors.append(error)
        finally:
            connection.close()

    saving = threading.Thread(target=save)
    # A track-in starting the run, as execution.tracking does: the run's row held, then
    # AUTHORIZED → IN_PROGRESS, committed while the form's save waits for it.
    with second_session() as track_in:
        track_in.execute("BEGIN")
        track_in.execute(
            "SELECT status FROM execution_run WHERE id = %s FOR KEY SHARE", [route_line.run.pk]
        )
        track_in.execute(
            "UPDATE execution_run SET status = 'IN_PROGRESS', started_at = now() WHERE id = %s",
            [route_line.run.pk],
        )
        saving.start()
        backends_waiting_on_a_lock()
        track_in.execute("COMMIT")
    saving.join(30)

    assert errors == [] and not saving.is_alive()
    assert [answer.status_code for answer in answers] == [302]
    run = Run.objects.get(pk=route_line.run.pk)
    assert (run.status, run.route_version_id) == (Run.Status.IN_PROGRESS, route)
    assert run.started_at is not None


# --- the run's page: where its units are, its yields, its open holds -----------------------


@pytest.fixture
def mix(route_line):
    return build_run_mix(route_line)


def test_the_page_counts_the_units_by_status(quality, route_line, mix):
    body = quality.get(page_url(route_line.run)).content.decode()

    assert section(body, "run-units-by-status") == (
        "Units by status Queued In station Out, failed Done On hold In rework Scrapped All "
        "2 1 1 4 1 0 1 10"
    )


def test_the_page_counts_the_units_on_their_way_by_step(quality, route_line, mix):
    body = quality.get(page_url(route_line.run)).content.decode()

    text = section(body, "run-units-by-step")
    assert "— Not started (no track-in yet) 1" in text
    assert "10 OP-TRK-PRINT — Operation OP-TRK-PRINT 0 0 1 0 0" in text
    assert "20 OP-TRK-REFLOW — Operation OP-TRK-REFLOW 1 1 0 0 0" in text
    assert "30 OP-TRK-INSPECT — Operation OP-TRK-INSPECT 0 0 0 1 0" in text


def test_the_page_shows_the_yields_over_the_finished_units(quality, route_line, mix):
    body = quality.get(page_url(route_line.run)).content.decode()

    text = section(body, "run-yields")
    assert "First-pass yield 2 5 40.0 %" in text
    assert "Final yield 4 5 80.0 %" in text
    assert "done or scrapped: 5 of 9 started" in text


def test_units_set_done_in_the_unit_form_are_shown_apart_from_the_yields(
    client, quality, route_line, mix
):
    client.force_login(person_in_role("integration admin"))
    for sn in ("HAND-1", "HAND-2", "HAND-3"):
        response = client.post(
            reverse("admin:execution_unit_add"),
            {"sn": sn, "run": route_line.run.pk, "status": Unit.Status.DONE, "_save": "Save"},
        )
        assert response.status_code == 302, sn
    assert Unit.objects.filter(run=route_line.run, status=Unit.Status.DONE).count() == 7

    body = quality.get(page_url(route_line.run)).content.decode()

    text = section(body, "run-yields")
    assert "First-pass yield 2 5 40.0 %" in text
    assert "Final yield 4 5 80.0 %" in text
    assert "done or scrapped: 5 of 9 started" in text
    assert "Finished without a pass: 3" in text
    (link,) = re.findall(r'Finished without a pass: <a href="([^"]+)">3</a>', body)
    listed = quality.get(link.replace("&amp;", "&")).content.decode()
    assert set(re.findall(r">(MIX-[A-Z]|HAND-\d)<", listed)) == {"HAND-1", "HAND-2", "HAND-3"}


def test_a_run_with_every_unit_finished_without_a_pass_shows_no_yield(quality, route_line):
    for n in range(3):
        UnitFactory(sn=f"HAND-{n}", run=route_line.run, status=Unit.Status.DONE)

    body = quality.get(page_url(route_line.run)).content.decode()

    text = section(body, "run-yields")
    assert "First-pass yield 0 0 —" in text and "Final yield 0 0 —" in text
    assert "done or scrapped: 0 of 0 started" in text
    assert "Finished without a pass: 3" in text


def test_a_run_with_no_finished_unit_shows_no_yield(quality, route_line):
    UnitFactory(sn="PLANNED-1", run=route_line.run)

    body = quality.get(page_url(route_line.run)).content.decode()

    text = section(body, "run-yields")
    assert "First-pass yield 0 0 —" in text and "Final yield 0 0 —" in text


def test_the_page_links_each_open_hold(quality, route_line, mix):
    hold = mix["MIX-H"].holds.get(closed_at=None)

    body = quality.get(page_url(route_line.run)).content.decode()

    assert section(body, "run-open-holds").startswith("Open holds of its units (1)")
    assert f'href="{reverse("admin:execution_hold_change", args=[hold.pk])}"' in body
    assert f'href="{reverse("admin:execution_unit_page", args=[mix["MIX-H"].pk])}"' in body


def test_each_count_opens_the_unit_list_showing_exactly_those_units(quality, route_line, mix):
    other = RunFactory(route_version=route_line.run.route_version)
    UnitFactory(sn="OTHER-RUN-1", run=other, status=Unit.Status.QUEUED, current_step_no=20)
    body = quality.get(page_url(route_line.run)).content.decode()
    links = re.findall(r'<a href="(/admin/execution/unit/\?[^"]+)">(\d+)</a>', body)
    # 6 statuses with units, All, not started, and 4 step cells (10 failed, 20 queued,
    # 20 in station, 30 on hold); a zero links nowhere.
    assert len(links) == 12, links

    listed = {}
    for link, count in links:
        page = quality.get(link.replace("&amp;", "&"))
        assert page.status_code == 200, link
        serials = set(re.findall(r">(MIX-[A-Z]|OTHER-RUN-1)<", page.content.decode()))
        assert len(serials) == int(count), (link, serials)
        listed[link] = serials

    at_20_queued = next(
        link for link in listed if "current_step_no=20" in link and "QUEUED" in link
    )
    assert listed[at_20_queued] == {"MIX-F"}
    not_started = next(link for link in listed if "isnull" in link)
    assert listed[not_started] == {"MIX-E"}
    done = next(link for link in listed if "status__exact=DONE" in link)
    assert listed[done] == {"MIX-A", "MIX-B", "MIX-C", "MIX-K"}


def test_the_status_is_shown_but_not_offered_on_the_forms(client, prepared):
    client.force_login(person_in_role("integration admin"))

    for url in (reverse("admin:execution_run_add"), page_url(prepared)):
        body = client.get(url).content.decode()
        assert 'name="run_no"' in body, url
        assert 'name="status"' not in body, url
        assert "Preparation" in body, url


def test_names_on_the_page_are_escaped(quality, route_line):
    operation = route_line.steps[0].operation
    operation.name = "<b>Print</b>"
    operation.save()

    body = quality.get(page_url(route_line.run)).content.decode()

    assert "&lt;b&gt;Print&lt;/b&gt;" in body and "<b>Print</b>" not in body
