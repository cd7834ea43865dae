"""A failed unit's disposition in the back office (execution/admin/dispositions.py):
rework at a chosen step of its run's route, or scrap, with a note, through
`dispose_failed_unit` only, by people with `dispose_failed_unit` (Quality staff); the
service's refusals are the form's errors, a lock held elsewhere a readable message."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils.html import strip_tags

from execution.models import FailureDisposition, Run, Unit
from execution.tracking import track_in
from tests.factories import RouteStepFactory, UnitFactory, person_in_role
from tests.postgres import needs_postgresql, row_locked
from tests.route_line import fail_at_first_step


def failed_unit(line, sn="SN-F-0001"):
    """A unit of the route line that failed its first step at SPI-01."""
    return fail_at_first_step(line, sn, operator_id="op-7").unit


def dispose_url(unit) -> str:
    return reverse("admin:execution_failuredisposition_dispose", args=[unit.pk])


def reported(response) -> list[tuple[str, str]]:
    return [(m.level_tag, strip_tags(str(m))) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def failed(route_line):
    return failed_unit(route_line)


# --- who may decide ---------------------------------------------------------------------------


def test_quality_staff_see_the_failed_pass_and_the_form(quality, failed):
    response = quality.get(dispose_url(failed))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="failure-disposition-form"' in body
    assert "step 10 at SPI-01" in body and "BRIDGE at U7" in body and "op-7" in body
    # The route's steps to rework at, with their operations.
    assert "step 20: OP-TRK-REFLOW" in body


# Integration admins sign in but may not decide; gateways are no staff: sent to sign in.
@pytest.mark.parametrize("role, answer", [("integration admin", 403), ("gateway", 302)])
def test_people_without_dispose_failed_unit_cannot_decide(client, failed, role, answer):
    client.force_login(person_in_role(role))

    shown = client.get(dispose_url(failed))
    posted = client.post(dispose_url(failed), {"disposition": "SCRAP", "note": "no"})

    assert (shown.status_code, posted.status_code) == (answer, answer)
    assert Unit.objects.get(pk=failed.pk).status == Unit.Status.OUT_FAILED
    assert not FailureDisposition.objects.exists()


def test_people_signed_out_are_sent_to_sign_in(client, failed):
    response = client.post(dispose_url(failed), {"disposition": "SCRAP", "note": "no"})

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Unit.objects.get(pk=failed.pk).status == Unit.Status.OUT_FAILED


def test_an_unknown_unit_is_not_found(quality, db):
    response = quality.get(reverse("admin:execution_failuredisposition_dispose", args=[999_999]))

    assert response.status_code == 404


# --- decided --------------------------------------------------------------------------------


def test_rework_at_a_chosen_step_then_the_unit_is_tracked_in_there(quality, failed, route_line):
    response = quality.post(
        dispose_url(failed),
        {"disposition": "REWORK", "rework_step_no": "20", "note": "Bridge removed by hand"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:execution_unit_page", args=[failed.pk])
    unit = Unit.objects.get(pk=failed.pk)
    assert (unit.status, unit.current_step_no) == (Unit.Status.REWORK, 20)
    decision = FailureDisposition.objects.get(unit=unit)
    assert (decision.disposition, decision.rework_step_no, decision.note) == (
        "REWORK",
        20,
        "Bridge removed by hand",
    )
    assert decision.decided_by.username == "quality-staff"
    assert decision.track.defect_code == "BRIDGE"
    [(level, text)] = reported(response)
    assert level == "success" and "rework at step 20" in text
    again = track_in(station_code="OVEN-01", sn=unit.sn, run_no=route_line.run.run_no)
    assert (again.track.step_no, again.unit.status) == (20, Unit.Status.IN_STATION)


def test_scrap_scraps_the_unit_and_completes_a_run_with_no_other_unit_left(quality, failed):
    response = quality.post(
        dispose_url(failed), {"disposition": "SCRAP", "rework_step_no": "", "note": "Cracked"}
    )

    assert response.status_code == 302
    assert Unit.objects.get(pk=failed.pk).status == Unit.Status.SCRAPPED
    decision = FailureDisposition.objects.get(unit=failed)
    assert (decision.disposition, decision.rework_step_no) == ("SCRAP", None)
    assert Run.objects.get(pk=failed.run_id).status == Run.Status.COMPLETED


def test_a_step_chosen_with_scrap_is_not_kept(quality, failed):
    quality.post(dispose_url(failed), {"disposition": "SCRAP", "rework_step_no": "20", "note": "x"})

    assert FailureDisposition.objects.get(unit=failed).rework_step_no is None


# --- refused: the form again with the reason --------------------------------------------------


def form_errors(response) -> dict:
    assert response.status_code == 200
    return response.context["form"].errors


def test_rework_without_a_step_is_refused_before_the_service(quality, failed):
    errors = form_errors(
        quality.post(dispose_url(failed), {"disposition": "REWORK", "note": "redo"})
    )

    assert errors["rework_step_no"] == ["Choose the step where the rework starts."]
    assert Unit.objects.get(pk=failed.pk).status == Unit.Status.OUT_FAILED


def test_a_step_not_in_the_route_is_the_services_refusal(quality, failed):
    errors = form_errors(
        quality.post(
            dispose_url(failed), {"disposition": "REWORK", "rework_step_no": "99", "note": "x"}
        )
    )

    [error] = errors["rework_step_no"]
    assert "STEP_NOT_IN_ROUTE" in error and "its steps: 10, 20, 30" in error
    assert Unit.objects.get(pk=failed.pk).status == Unit.Status.OUT_FAILED
    assert not FailureDisposition.objects.exists()


def test_a_step_added_elsewhere_to_another_route_is_refused_for_this_units_run(quality, failed):
    RouteStepFactory(step_no=40)  # a step 40 exists, but on another route

    errors = form_errors(
        quality.post(
            dispose_url(failed), {"disposition": "REWORK", "rework_step_no": "40", "note": "x"}
        )
    )

    assert "STEP_NOT_IN_ROUTE" in errors["rework_step_no"][0]


def test_a_note_of_blanks_is_the_services_refusal(quality, failed):
    errors = form_errors(quality.post(dispose_url(failed), {"disposition": "SCRAP", "note": "  "}))

    assert errors["note"] == ["Say why in the note."]
    assert Unit.objects.get(pk=failed.pk).status == Unit.Status.OUT_FAILED


def test_a_unit_that_has_not_failed_is_refused_and_says_its_state(quality, route_line):
    unit = UnitFactory(sn="SN-Q-1", run=route_line.run, status=Unit.Status.QUEUED)
    shown = quality.get(dispose_url(unit)).content.decode()
    assert 'id="not-failed"' in shown and 'id="failure-disposition-form"' not in shown

    response = quality.post(dispose_url(unit), {"disposition": "SCRAP", "note": "x"})

    [error] = form_errors(response)["__all__"]
    assert "UNIT_NOT_FAILED" in error and "queued" in error
    assert Unit.objects.get(pk=unit.pk).status == Unit.Status.QUEUED


def test_a_unit_decided_a_moment_ago_is_refused_the_second_time(quality, failed):
    quality.post(dispose_url(failed), {"disposition": "SCRAP", "note": "Cracked"})

    response = quality.post(
        dispose_url(failed), {"disposition": "REWORK", "rework_step_no": "10", "note": "x"}
    )

    assert "UNIT_NOT_FAILED" in form_errors(response)["__all__"][0]
    assert FailureDisposition.objects.count() == 1
    assert Unit.objects.get(pk=failed.pk).status == Unit.Status.SCRAPPED


@needs_postgresql("a row lock held by a second session, and the lock timeout")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_unit_locked_elsewhere_is_waited_for_briefly_and_nothing_is_changed(client, route_line):
    unit = failed_unit(route_line)
    client.force_login(person_in_role("quality staff"))

    with row_locked("execution_unit", unit.pk):
        response = client.post(dispose_url(unit), {"disposition": "SCRAP", "note": "Cracked"})

    assert response.status_code == 200
    [(level, text)] = reported(response)
    assert level == "error" and "Nothing was changed" in text and "being written to" in text
    assert Unit.objects.get(pk=unit.pk).status == Unit.Status.OUT_FAILED
    assert not FailureDisposition.objects.exists()


# --- the list of what was decided --------------------------------------------------------------


def test_the_dispositions_list_names_the_unit_the_failed_pass_and_who_decided(quality, failed):
    quality.post(dispose_url(failed), {"disposition": "SCRAP", "note": "Cracked"})

    response = quality.get(reverse("admin:execution_failuredisposition_changelist"))

    body = response.content.decode()
    assert response.status_code == 200
    assert reverse("admin:execution_unit_page", args=[failed.pk]) in body
    assert "step 10 @ SPI-01" in body and "BRIDGE at U7" in body and "quality-staff" in body


def test_nobody_edits_or_deletes_a_disposition(client, failed):
    client.force_login(person_in_role("superuser"))
    client.post(dispose_url(failed), {"disposition": "SCRAP", "note": "Cracked"})
    decision = FailureDisposition.objects.get()

    change = client.post(
        reverse("admin:execution_failuredisposition_change", args=[decision.pk]),
        {"note": "rewritten"},
    )
    delete = client.post(
        reverse("admin:execution_failuredisposition_delete", args=[decision.pk]), {"post": "yes"}
    )

    assert change.status_code == 403 and delete.status_code == 403
    assert FailureDisposition.objects.get().note == "Cracked"
