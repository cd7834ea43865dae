"""Back-office searches and filter choices that read indexes, not whole tables."""

import pytest

from execution.models import DataValue
from integration.ingestion.service import receive_device_events
from integration.models import IntegrationMessage
from mes.skip_scan import distinct_values
from tests.factories import (
    CarrierFactory,
    CarrierTrackFactory,
    RunFactory,
    StationFactory,
    TrackFactory,
    UnitFactory,
    reflow_event,
)

VALUES_ADMIN = "/admin/execution/datavalue/"
MESSAGES_ADMIN = "/admin/integration/integrationmessage/"


@pytest.fixture
def plant(line, gateway):
    """Values for SN-0001 (RUN-2026-001), SN-0002 and SN-0100 (RUN-2026-002), and a panel."""
    other_run = RunFactory(run_no="RUN-2026-002", route_version=line.step.route_version)
    for sn in ("SN-0002", "SN-0100"):
        TrackFactory(unit=UnitFactory(sn=sn, run=other_run), step_no=40, station=line.station)
    panel = CarrierTrackFactory(
        carrier=CarrierFactory(carrier_no="PNL-7"), step_no=40, station=line.station
    )
    sent = [
        reflow_event("evt-1", unitSn="SN-0001"),
        reflow_event("evt-2", runNo="RUN-2026-002", unitSn="SN-0002"),
        reflow_event("evt-3", runNo="RUN-2026-002", unitSn="SN-0100"),
        {
            "eventId": "evt-4",
            "eventTime": "2026-01-24T12:00:00Z",
            "source": "AUTO",
            "carrierTrackId": panel.pk,
            "data": [{"specId": line.peak.pk, "valueNumber": 244}],
        },
        reflow_event("evt-5", unitSn="SN-NOWHERE"),  # FAILED: unknown unit
    ]
    receive_device_events(sent, sent_by=gateway)
    return line


def value_events(client, query: str) -> list[str]:
    response = client.get(VALUES_ADMIN + query)
    assert response.status_code == 200
    return sorted(row.meta["eventId"] for row in response.context["cl"].result_list)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("SN-0001", ["evt-1"]),
        ("SN-000", ["evt-1", "evt-2"]),  # the beginning of a serial number
        ("SN-01", ["evt-3"]),
        ("RUN-2026-002", ["evt-2", "evt-3"]),
        ("RUN-2026", ["evt-1", "evt-2", "evt-3"]),
        ("PNL-7", ["evt-4"]),
        ("0001", []),  # not a contains-match
        ("nothing", []),
    ],
)
def test_the_values_search_matches_numbers_or_their_beginning(plant, quality, term, expected):
    assert value_events(quality, f"?q={term}") == expected


@pytest.mark.parametrize("term", ["SN-", "RUN-2026", "PNL"])
def test_a_search_matching_many_passes_finds_the_same_values(plant, quality, monkeypatch, term):
    listed = value_events(quality, f"?q={term}")
    monkeypatch.setattr("execution.admin.values.SEARCH_PASSES_LISTED", 1)
    assert value_events(quality, f"?q={term}") == listed
    assert listed


def test_the_station_filter_finds_values_of_tracks_and_of_carrier_tracks(plant, quality):
    assert value_events(quality, "?station=REFLOW-01") == ["evt-1", "evt-2", "evt-3", "evt-4"]
    StationFactory(code="AOI-01")
    assert value_events(quality, "?station=AOI-01") == []


def test_the_messages_search_matches_an_event_id_or_its_business_key(plant, quality):
    for term in ("evt-5", "device-data:evt-5"):
        response = quality.get(MESSAGES_ADMIN + f"?q={term}")
        assert [m.business_key for m in response.context["cl"].result_list] == ["device-data:evt-5"]
    assert list(quality.get(MESSAGES_ADMIN + "?q=evt").context["cl"].result_list) == []


def test_the_error_code_filter_offers_the_codes_in_use(plant, quality):
    response = quality.get(MESSAGES_ADMIN)
    choices = [
        choice["display"]
        for spec in response.context["cl"].filter_specs
        if spec.title == "error code"
        for choice in spec.choices(response.context["cl"])
    ]
    assert choices == ["All", "UNIT_NOT_FOUND"]
    filtered = quality.get(MESSAGES_ADMIN + "?error_code__exact=UNIT_NOT_FOUND")
    assert [m.business_key for m in filtered.context["cl"].result_list] == ["device-data:evt-5"]


def test_distinct_values_jump_through_the_index_and_skip_the_empty(db):
    for code in ["B", "", "A", "B", "", "C", "A"]:
        IntegrationMessage.objects.create(
            business_key="k", dedupe_key="k", status="FAILED", payload={}, error_code=code
        )
    table = IntegrationMessage._meta.db_table
    assert distinct_values(table, "error_code", "error_code <> ''") == ["A", "B", "C"]
    assert distinct_values(table, "error_code") == ["", "A", "B", "C"]
    IntegrationMessage.objects.all().delete()
    assert distinct_values(table, "error_code", "error_code <> ''") == []


def test_each_value_lists_once_whatever_matches(plant, quality):
    response = quality.get(VALUES_ADMIN + "?q=SN-")
    shown = [row.pk for row in response.context["cl"].result_list]
    assert len(shown) == len(set(shown)) == DataValue.objects.filter(track__isnull=False).count()


def test_each_value_stores_the_station_of_its_track_or_carrier_track(plant):
    stations = dict(DataValue.objects.values_list("meta__eventId", "station__code"))
    assert stations == {
        "evt-1": "REFLOW-01",
        "evt-2": "REFLOW-01",
        "evt-3": "REFLOW-01",
        "evt-4": "REFLOW-01",
    }


def test_values_written_before_they_had_a_station_get_it_and_a_second_run_changes_nothing(
    plant,
):
    from io import StringIO

    from django.core.management import call_command

    DataValue.objects.update(station=None)
    out = StringIO()
    call_command("fill_value_stations", stdout=out)
    assert "Filled in the station of 4 value(s)." in out.getvalue()
    assert not DataValue.objects.filter(station__isnull=True).exists()
    out = StringIO()
    call_command("fill_value_stations", stdout=out)
    assert "of 0 value(s)" in out.getvalue()
