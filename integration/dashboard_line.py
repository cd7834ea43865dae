"""The line's figures on the back office's front page: units in station at each station,
and failed units waiting for a disposition (docs/back-office.md).

Each figure links to the list it counts: a station's open passes (the pass list filtered
to that station, in station), the units OUT_FAILED (the unit list filtered by status).
Open passes are read from their partial index (track_open_at_station), grouped by
station in one query. Failed units are few while the line runs as it should: they are
read (up to FAILED_UNITS_READ) and counted in the same query, the oldest failure
leading, as the open holds' oldest does.
"""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.db import models
from django.urls import reverse

from execution.models import PassResult, Track, Unit
from execution.unit_links import unit_page_url
from mes.counting import Count, bounded_count

# Stations listed with units in station, most loaded first; the total counts them all.
STATIONS_SHOWN = 30
FAILED_UNITS_SHOWN = 10
# Failed units read to find the oldest failures: a backlog past this is ordered among
# its first FAILED_UNITS_READ units by id (the figure still counts every one).
FAILED_UNITS_READ = 500


@dataclass(frozen=True)
class StationLoad:
    """A station and its units in station (open passes), linking to them."""

    code: str
    name: str
    count: int
    url: str


@dataclass(frozen=True)
class FailedUnit:
    """A unit OUT_FAILED: where and when it failed, its page and its disposition form."""

    sn: str
    run_no: str
    failed: Track | None
    page_url: str
    dispose_url: str | None

    @property
    def failed_at(self) -> datetime | None:
        return self.failed.out_at if self.failed else None


def open_passes_url(**params) -> str:
    return reverse("admin:execution_track_changelist") + "?" + urlencode({"open": "yes", **params})


def failed_units_url() -> str:
    query = urlencode({"status__exact": Unit.Status.OUT_FAILED})
    return reverse("admin:execution_unit_changelist") + "?" + query


def units_in_station() -> tuple[list[StationLoad], int, str]:
    """Per station, its open passes (most first, then by code); the total of open passes
    and the link to all of them. One query, grouped by station."""
    loads, total = [], 0
    groups = (
        Track.objects.filter(out_at=None)
        .order_by()
        .values("station_id", "station__code", "station__name")
        .annotate(units=models.Count("pk"))
    )
    for group in groups:
        total += group["units"]
        if group["station_id"] is not None:
            url = open_passes_url(station__id__exact=group["station_id"])
            loads.append(
                StationLoad(group["station__code"], group["station__name"], group["units"], url)
            )
    loads.sort(key=lambda load: (-load.count, load.code))
    return loads[:STATIONS_SHOWN], total, open_passes_url()


def failed_units(may_dispose: bool = False) -> tuple[list[FailedUnit], Count]:
    """The units waiting for a disposition, the oldest failure first, with their failed
    pass (each linking to its disposition form when the person may decide), and how many
    there are."""
    # run: each row's run number.
    units = list(
        Unit.objects.filter(status=Unit.Status.OUT_FAILED)
        .select_related("run")
        .order_by("pk")[: FAILED_UNITS_READ + 1]
    )
    count = (
        Count(len(units))
        if len(units) <= FAILED_UNITS_READ
        else bounded_count(Unit.objects.filter(status=Unit.Status.OUT_FAILED))
    )
    units = units[:FAILED_UNITS_READ]
    latest_failure: dict[int, Track] = {}
    # station: where each failed. In pass order, so the latest failure of a unit wins.
    failures = (
        Track.objects.filter(unit_id__in=[unit.pk for unit in units], result=PassResult.FAIL)
        .select_related("station")
        .order_by("in_at", "pk")
    )
    for track in failures:
        latest_failure[track.unit_id] = track
    rows = [
        FailedUnit(
            sn=unit.sn,
            run_no=unit.run.run_no if unit.run else "",
            failed=latest_failure.get(unit.pk),
            page_url=unit_page_url(unit),
            dispose_url=reverse("admin:execution_failuredisposition_dispose", args=[unit.pk])
            if may_dispose
            else None,
        )
        for unit in units
    ]
    rows.sort(key=lambda row: (row.failed_at is None, row.failed_at or datetime.min))
    return rows[:FAILED_UNITS_SHOWN], count
