"""The figures on the back office's front page, each with the filtered list behind it.

Messages in the last 24 hours and 7 days by status, FAILED messages not yet
resolved and CONFLICTs that nobody acknowledged, FAIL and alarmed values, FAIL values no
hold holds (execution/unheld_failures.py), open holds,
units in station per station and failed units waiting for a disposition
(integration/dashboard_line.py), and the latest events. Messages and values are counted
on one basis, the time the MES received them: a value received now with an old event
time (a gateway's buffered data) is new here. Each figure counts what its link's filters
select: the window's start is written into the link, to the second, and counted from
that same instant. Past
mes.counting.EXACT_UP_TO a figure is PostgreSQL's estimate, shown as "about"
(a week of SUCCESS messages is millions of rows). Only the figures a person
may view are computed.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from execution.admin.values import HoldFilter
from execution.models import DataValue, Hold
from execution.unheld_failures import out_of_spec_not_held
from integration.acknowledgements import conflicts_needing_attention, failures_needing_attention
from integration.dashboard_line import (
    FailedUnit,
    StationLoad,
    failed_units,
    failed_units_url,
    units_in_station,
)
from integration.models import DeviceDataRecord, IntegrationMessage
from mes.counting import Count, bounded_count

WINDOWS = [("last 24 hours", timedelta(hours=24)), ("last 7 days", timedelta(days=7))]
LATEST_EVENTS = 10
OPEN_HOLDS_SHOWN = 10
NEEDS_ATTENTION = {IntegrationMessage.Status.FAILED, IntegrationMessage.Status.CONFLICT}


@dataclass(frozen=True)
class Figure:
    label: str
    count: int
    url: str
    needs_attention: bool = False
    key: str = ""  # names the figure in the page, for people and browser tests
    is_estimate: bool = False  # the page says "about"


def figure(label: str, count: Count, url: str, needs_attention: bool, key: str = "") -> Figure:
    return Figure(label, count.value, url, needs_attention, key, count.is_estimate)


@dataclass
class Dashboard:
    window_labels: list[str] = field(default_factory=list)
    # (status, [Figure per window])
    messages_by_status: list[tuple[str, list[Figure]]] = field(default_factory=list)
    attention: list[Figure] = field(default_factory=list)
    # (label, [Figure per window])
    values: list[tuple[str, list[Figure]]] = field(default_factory=list)
    latest_records: list[DeviceDataRecord] | None = None
    records_url: str = ""
    # Open holds, oldest first: the unit waiting longest for a disposition leads.
    open_holds: list[Hold] | None = None
    open_hold_count: Figure | None = None
    # The line: units in station per station (most first) and in all.
    in_station: list[StationLoad] | None = None
    in_station_count: Figure | None = None
    # Failed units waiting for a disposition, the oldest failure first.
    failed_units: list[FailedUnit] | None = None
    failed_unit_count: Figure | None = None
    # The SPC overview: every numeric spec's capability and the signals needing attention.
    spc_overview_url: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.messages_by_status or self.attention or self.values) and (
            self.latest_records is None
            and self.open_holds is None
            and self.in_station is None
            and self.failed_units is None
        )


def _changelist(model, **params) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def window_starts(now: datetime) -> list[datetime]:
    # Whole seconds: the link carries the instant and the count uses the same one.
    return [(now - length).replace(microsecond=0) for _label, length in WINDOWS]


def message_figures(starts: list[datetime]) -> list[tuple[str, list[Figure]]]:
    """Messages per status per window.

    One count per status and window: each reads a range of the (status,
    created_at) index, so the cost follows the window's traffic, not the log's size.
    """
    rows = []
    for status in IntegrationMessage.Status.values:
        figures = []
        for (label, _length), start in zip(WINDOWS, starts, strict=True):
            count = bounded_count(
                IntegrationMessage.objects.filter(status=status, created_at__gte=start)
            )
            url = _changelist(
                IntegrationMessage, status__exact=status, createdFrom=start.isoformat()
            )
            needs_attention = status in NEEDS_ATTENTION and count.value > 0
            figures.append(figure(label, count, url, needs_attention))
        rows.append((status, figures))
    return rows


def attention_figures() -> list[Figure]:
    """What needs someone: FAILED messages not yet resolved, and CONFLICTs, that nobody
    acknowledged (integration/acknowledgements.py; each count reads a small partial index)."""
    failed = bounded_count(failures_needing_attention())
    conflicts = bounded_count(conflicts_needing_attention())
    return [
        figure(
            "FAILED messages not yet resolved",
            failed,
            _changelist(
                IntegrationMessage, status__exact="FAILED", resolved="no", acknowledged="no"
            ),
            failed.value > 0,
            key="failed-unresolved",
        ),
        figure(
            "CONFLICTs (eventId reused with another payload)",
            conflicts,
            _changelist(IntegrationMessage, status__exact="CONFLICT", acknowledged="no"),
            conflicts.value > 0,
            key="conflicts",
        ),
    ]


def value_figures(starts: list[datetime]) -> list[tuple[str, list[Figure]]]:
    """FAIL, alarmed, and out-of-spec-not-held values per window, by the time they were
    received (`created_at`).

    Each count reads a range of a partial index on receipt time holding only FAIL
    (datavalue_failed_received) or alarmed (datavalue_alarmed_received) values; values
    not held are FAIL values looked up in the index of held values.
    """
    fail = DataValue.objects.filter(judge=DataValue.Judge.FAIL)
    rows = []
    for label, values, params in [
        ("Out of spec (FAIL)", fail, {"judge__exact": "FAIL"}),
        ("Alarmed", DataValue.objects.filter(alarmed=True), {"alarmed__exact": "1"}),
        (
            "Out of spec, not held",
            out_of_spec_not_held(),
            {"hold": HoldFilter.OUT_OF_SPEC_NOT_HELD},
        ),
    ]:
        figures = []
        for index, start in enumerate(starts):
            count = bounded_count(values.filter(created_at__gte=start))
            url = _changelist(DataValue, **params, receivedFrom=start.isoformat())
            figures.append(figure(WINDOWS[index][0], count, url, count.value > 0))
        rows.append((label, figures))
    return rows


def build_dashboard(user, now: datetime | None = None) -> Dashboard:
    """The front page's figures that `user` may see."""
    now = now or timezone.now()
    starts = window_starts(now)
    dashboard = Dashboard(window_labels=[label for label, _length in WINDOWS])
    if user.has_perm("integration.view_integrationmessage"):
        dashboard.messages_by_status = message_figures(starts)
        dashboard.attention = attention_figures()
    if user.has_perm("execution.view_datavalue"):
        dashboard.values = value_figures(starts)
    if user.has_perm("execution.view_hold"):
        open_holds = Hold.objects.filter(closed_at=None)
        # unit, spec: each row's names; oldest first from the partial index hold_open.
        dashboard.open_holds = list(
            open_holds.select_related("unit", "spec").order_by("opened_at", "pk")[:OPEN_HOLDS_SHOWN]
        )
        count = bounded_count(open_holds)
        dashboard.open_hold_count = figure(
            "open holds", count, _changelist(Hold, open="yes"), count.value > 0, "open-holds"
        )
    if user.has_perm("execution.view_dataspec"):
        dashboard.spc_overview_url = reverse("admin:execution_dataspec_spc")
    if user.has_perm("execution.view_track"):
        dashboard.in_station, total, url = units_in_station()
        dashboard.in_station_count = Figure("units in station", total, url, key="in-station")
    if user.has_perm("execution.view_unit"):
        dashboard.failed_units, count = failed_units(user.has_perm("execution.dispose_failed_unit"))
        dashboard.failed_unit_count = figure(
            "failed units waiting for a disposition",
            count,
            failed_units_url(),
            count.value > 0,
            "failed-units",
        )
    if user.has_perm("integration.view_devicedatarecord"):
        # sent_by: the gateway column. Latest received is highest key: records are
        # numbered as they are written, and the primary key is indexed.
        dashboard.latest_records = list(
            DeviceDataRecord.objects.select_related("sent_by").order_by("-pk")[:LATEST_EVENTS]
        )
        dashboard.records_url = _changelist(DeviceDataRecord)
    return dashboard
