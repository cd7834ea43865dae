"""Reason codes of dispositions (docs/holds.md "Reason codes"): needed once the plant's
list has an active code, by closing a hold and by disposing of a failed unit alike."""

import pytest

from execution.failure_dispositions import dispose_failed_unit
from execution.holds import close_hold
from execution.models import Hold, ReasonCode, Unit
from execution.reason_codes import ReasonCodeRefused
from integration.ingestion.service import receive_device_event
from tests.conftest import make_event
from tests.factories import person_in_role
from tests.route_line import fail_at_first_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def hold(line, gateway):
    event = make_event(
        eventId="evt-hot", data=[{"specName": "Peak Temperature", "valueNumber": 260}]
    )
    return Hold.objects.get(pk=receive_device_event(event, sent_by=gateway).hold.hold_id)


@pytest.fixture
def person(db):
    return person_in_role("quality staff")


def close(hold, person, **extra):
    return close_hold(hold.pk, disposition="RELEASE", note="Re-measured", closed_by=person, **extra)


def test_without_a_list_a_hold_closes_without_a_code(hold, person):
    closed = close(hold, person)

    assert closed.closed_at is not None and closed.reason is None


def test_once_the_list_has_an_active_code_a_hold_needs_one(hold, person):
    ReasonCode.objects.create(code="MEASUREMENT", name="Measurement error")

    with pytest.raises(ReasonCodeRefused, match="Choose a reason code"):
        close(hold, person)

    assert Hold.objects.get(pk=hold.pk).is_open


def test_a_hold_closes_with_the_code_it_names(hold, person):
    code = ReasonCode.objects.create(code="MEASUREMENT", name="Measurement error")

    closed = close(hold, person, reason="MEASUREMENT")

    assert Hold.objects.get(pk=closed.pk).reason == code


@pytest.mark.parametrize(("code", "why"), [("NOPE", "Unknown"), ("OLD", "retired")])
def test_an_unknown_or_retired_code_is_refused_and_the_hold_stays_open(hold, person, code, why):
    ReasonCode.objects.create(code="MEASUREMENT", name="Measurement error")
    ReasonCode.objects.create(code="OLD", name="Old reason", is_active=False)

    with pytest.raises(ReasonCodeRefused, match=why):
        close(hold, person, reason=code)

    assert Hold.objects.get(pk=hold.pk).is_open


def test_only_retired_codes_ask_for_none(hold, person):
    ReasonCode.objects.create(code="OLD", name="Old reason", is_active=False)

    assert close(hold, person).reason is None


def test_a_failed_unit_needs_a_code_too_and_keeps_it(route_line, person):
    unit = fail_at_first_step(route_line, "SN-F-1").unit
    code = ReasonCode.objects.create(code="SOLDER", name="Solder defect")

    with pytest.raises(ReasonCodeRefused):
        dispose_failed_unit(unit.sn, disposition="SCRAP", note="Burnt", decided_by=person)
    assert Unit.objects.get(pk=unit.pk).status == Unit.Status.OUT_FAILED

    decision = dispose_failed_unit(
        unit.sn, disposition="SCRAP", note="Burnt", decided_by=person, reason="SOLDER"
    )

    assert decision.reason == code
    assert Unit.objects.get(pk=unit.pk).status == Unit.Status.SCRAPPED
