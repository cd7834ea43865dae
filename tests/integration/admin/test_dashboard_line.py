"""The line on the dashboard (integration/dashboard_line.py): units in station per
station, and failed units waiting for a disposition, oldest failure first; each figure
counts what its link lists."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from execution.failure_dispositions import dispose_failed_unit
from execution.models import Track
from execution.tracking import track_in, track_out
from execution.unit_links import unit_page_url
from integration.dashboard import build_dashboard
from tests.factories import UserFactory, person_in_role

INDEX = reverse("admin:index")


def track_in_at(line, station, sn):
    return track_in(station_code=station, sn=sn, run_no=line.run.run_no)


def out(line, station, sn, result="PASS", **kwargs):
    return track_out(
        station_code=station,
        sn=sn,
        run_no=line.run.run_no,
        result=result,
        event_id=f"{sn}-{station}",
        source_ref=f"{sn}-{station}",
        **kwargs,
    )


@pytest.fixture
def busy_line(route_line):
    """Two units in station at SPI-01, one at OVEN-01; SN-F1 failed at SPI-01 after SN-F2
    failed at OVEN-01, though SN-F1 was made first."""
    line = route_line
    for sn in ("SN-A", "SN-B", "SN-C", "SN-F1", "SN-F2"):
        track_in_at(line, "SPI-01", sn)
    out(line, "SPI-01", "SN-C")
    track_in_at(line, "OVEN-01", "SN-C")
    first = out(line, "SPI-01", "SN-F1", "FAIL", defect_code="SMEAR", defect_location="U9")
    out(line, "SPI-01", "SN-F2")
    track_in_at(line, "OVEN-01", "SN-F2")
    second = out(line, "OVEN-01", "SN-F2", "FAIL", defect_code="VOID")
    Track.objects.filter(pk=first.track.pk).update(out_at=second.track.out_at + timedelta(1))
    return line


@pytest.fixture
def quality_user(db):
    return person_in_role("quality staff")


def listed_count(client, url) -> int:
    response = client.get(url)
    assert response.status_code == 200, (url, response.get("Location"))
    return response.context["cl"].result_count


def test_units_in_station_are_counted_per_station_most_first(quality_user, busy_line):
    dashboard = build_dashboard(quality_user)

    assert [(load.code, load.count) for load in dashboard.in_station] == [
        ("SPI-01", 2),
        ("OVEN-01", 1),
    ]
    assert dashboard.in_station_count.count == 3


def test_each_in_station_figure_lists_the_units_it_counts(client, quality_user, busy_line):
    client.force_login(quality_user)
    dashboard = build_dashboard(quality_user)

    figures = [*dashboard.in_station, dashboard.in_station_count]
    for figure in figures:
        assert listed_count(client, figure.url) == figure.count, figure
    spi = client.get(dashboard.in_station[0].url).context["cl"].result_list
    assert sorted(track.unit.sn for track in spi) == ["SN-A", "SN-B"]


def test_failed_units_are_listed_oldest_failure_first_with_where_they_failed(
    quality_user, busy_line
):
    dashboard = build_dashboard(quality_user)

    rows = [
        (row.sn, row.failed.station.code, row.failed.defect_code) for row in dashboard.failed_units
    ]
    assert rows == [("SN-F2", "OVEN-01", "VOID"), ("SN-F1", "SPI-01", "SMEAR")]
    assert dashboard.failed_unit_count.count == 2
    assert dashboard.failed_unit_count.needs_attention


def test_the_failed_units_figure_counts_what_its_link_lists(client, quality_user, busy_line):
    client.force_login(quality_user)
    figure = build_dashboard(quality_user).failed_unit_count

    assert listed_count(client, figure.url) == figure.count == 2


def test_the_index_links_each_failed_unit_to_its_page_and_its_disposition(quality, busy_line):
    body = quality.get(INDEX).content.decode()

    assert 'id="dashboard-failed-units"' in body and 'id="dashboard-in-station"' in body
    assert "Failed units waiting for a disposition: 2" in body
    for unit in busy_line.run.units.filter(sn__in=["SN-F1", "SN-F2"]):
        assert f'href="{unit_page_url(unit)}"' in body
        dispose = reverse("admin:execution_failuredisposition_dispose", args=[unit.pk])
        assert f'href="{dispose}"' in body
    assert "SMEAR at U9" in body
    assert 'data-figure="in-station-SPI-01">2<' in body


def test_people_who_may_not_decide_see_failed_units_without_the_disposition_link(
    integration, busy_line
):
    body = integration.get(INDEX).content.decode()

    assert "Failed units waiting for a disposition: 2" in body
    assert "/failuredisposition/dispose/" not in body


def test_a_decided_unit_leaves_the_failed_units(quality_user, busy_line):
    dispose_failed_unit("SN-F2", disposition="SCRAP", note="cracked", decided_by=quality_user)

    dashboard = build_dashboard(quality_user)

    assert [row.sn for row in dashboard.failed_units] == ["SN-F1"]
    assert dashboard.failed_unit_count.count == 1


def test_a_quiet_line_says_nobody_is_in_station_or_waiting(quality, route_line):
    body = quality.get(INDEX).content.decode()

    assert "No unit is in station." in body
    assert "No unit is waiting for a disposition." in body


def test_the_line_shows_only_to_people_who_may_view_passes_and_units(db, busy_line):
    records_only = UserFactory(username="records-only", is_staff=True)
    records_only.user_permissions.add(Permission.objects.get(codename="view_devicedatarecord"))

    dashboard = build_dashboard(records_only)

    assert dashboard.in_station is None and dashboard.failed_units is None


def test_the_index_stays_bounded_in_queries_with_the_line(
    quality, busy_line, django_assert_max_num_queries
):
    # 27: two counts of the values out of spec and not held (one per window).
    with django_assert_max_num_queries(27):
        body = quality.get(INDEX).content.decode()

    assert "Failed units waiting for a disposition: 2" in body
