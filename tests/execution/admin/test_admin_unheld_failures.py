"""Values out of spec and not held (execution/unheld_failures.py; docs/holds.md): the
values list's filter, the holds list's link and the front page's figure."""

import pytest
from django.urls import reverse

from execution.models import DataValue, Hold, HoldValue
from execution.unheld_failures import out_of_spec_not_held
from execution.unit_links import unit_page_url
from integration.dashboard import build_dashboard
from tests.factories import (
    BASE_TIME,
    CarrierTrackFactory,
    DataSpecFactory,
    DataValueFactory,
    TrackFactory,
    person_in_role,
)

VALUES = reverse("admin:execution_datavalue_changelist")
HOLDS = reverse("admin:execution_hold_changelist")
NOT_HELD = VALUES + "?hold=out-of-spec-not-held"


def hold(value: DataValue) -> Hold:
    """A hold of the value's unit with the value behind it, as ingestion writes one."""
    opened = Hold.objects.create(
        unit=value.track.unit,
        spec=value.spec,
        first_value=value,
        limits=value.limits,
        event_id="evt-held",
        opened_at=BASE_TIME,
        unit_status_before="QUEUED",
    )
    HoldValue.objects.create(hold=opened, value=value, event_id="evt-held", added_at=BASE_TIME)
    return opened


@pytest.fixture
def three_values(db):
    """A FAIL value held, a FAIL value not held (its spec's alarm is only an alarm), a PASS."""
    spec = DataSpecFactory(
        spec={"min": 240, "max": 250}, alarm={"min": 230, "max": 260, "action": "ALARM_ONLY"}
    )
    held = DataValueFactory(spec=spec, value_number=270, judge="FAIL", alarmed=True)
    hold(held)
    not_held = DataValueFactory(spec=spec, value_number=255, judge="FAIL")
    passed = DataValueFactory(spec=spec, value_number=245, judge="PASS")
    return held, not_held, passed


def listed(client, url) -> list[int]:
    response = client.get(url)
    assert response.status_code == 200
    assert not response.context["cl"].unreadable_filters
    return [value.pk for value in response.context["cl"].result_list]


def test_only_the_fail_value_no_hold_holds_is_out_of_spec_not_held(three_values):
    held, not_held, passed = three_values
    assert list(out_of_spec_not_held()) == [not_held]


def test_the_values_list_filters_the_values_out_of_spec_not_held(quality, three_values):
    held, not_held, passed = three_values
    assert listed(quality, NOT_HELD) == [not_held.pk]
    assert listed(quality, VALUES + "?hold=held") == [held.pk]


def test_each_value_out_of_spec_not_held_links_to_its_units_page(quality, three_values):
    held, not_held, passed = three_values
    page = quality.get(NOT_HELD).content.decode()
    assert f'href="{unit_page_url(not_held.track.unit)}"' in page
    assert f'href="{unit_page_url(held.track.unit)}"' not in page


def test_a_fail_value_of_a_unit_held_for_another_value_is_listed(quality, three_values):
    held, not_held, passed = three_values
    later = DataValueFactory(track=held.track, spec=held.spec, value_number=251, judge="FAIL")
    assert listed(quality, NOT_HELD) == [later.pk, not_held.pk]


def test_a_carriers_fail_value_is_listed_it_holds_nothing(quality, db):
    carrier_track = CarrierTrackFactory()
    value = DataValueFactory(
        track=None, carrier_track=carrier_track, station=carrier_track.station, run=None
    )
    DataValue.objects.filter(pk=value.pk).update(judge="FAIL")
    assert listed(quality, NOT_HELD) == [value.pk]


def test_the_holds_list_links_to_the_values_out_of_spec_not_held(quality, three_values):
    page = quality.get(HOLDS).content.decode()
    assert 'id="out-of-spec-not-held">Out of spec, not held</a>' in page
    assert 'href="/admin/execution/datavalue/?hold=out-of-spec-not-held"' in page


def test_the_front_page_counts_them_and_its_links_list_what_it_counts(client, three_values):
    held, not_held, passed = three_values
    TrackFactory()  # another unit, with nothing out of spec
    person = person_in_role("quality staff")
    client.force_login(person)
    figures = dict(build_dashboard(person).values)
    not_held_figures = figures["Out of spec, not held"]
    assert [figure.count for figure in not_held_figures] == [1, 1]
    for figure in not_held_figures:
        assert listed(client, figure.url) == [not_held.pk]
