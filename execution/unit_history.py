"""A unit's history in the order the MES received it, a page at a time: its passes,
values, holds and failed units' dispositions.

Every row is placed by when the MES received or decided it (a value's receipt, a pass's
track-in, a hold's opening), never by a device's clock: a gateway clock 40 s fast must
not list a hold above the value that opened it. A value or record keeps its device time
beside (`device_at`). Rows are ordered by that time to the second, then by kind, then by
id: the statements of one call (its record, values and hold) take a few microseconds
each, in an order the kinds' order keeps.

The history merges several streams (each a kind of row, read in its own time order)
into one list. A page is read with a cursor, the (second, kind, id) of its first row:
each stream reads at most a page of rows from the cursor on, from an index, so a page
costs the same few queries however long the history is (a unit with 10,000 values
included). The unit's passes, holds and dispositions are few and read whole; its values are found
by its passes' keys (docs/growth.md). integration.unit_history adds the records and
messages of the unit, which this app does not know.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import models
from django.db.models import Q
from django.db.models.functions import TruncSecond
from django.urls import NoReverseMatch, reverse

from execution.judging import describe_limits
from execution.models import DataValue, FailureDisposition, Hold, RouteStep, Track, Unit

# Rows on one page of the unit's page; the CSV reads the history in pages of this size too.
PAGE_ROWS = 500
CSV_PAGE_ROWS = 2_000


class Kind(models.TextChoices):
    """Each kind of row. Declared in their order among rows of the same instant: a unit
    enters, an attempt arrives, its record and values are written, a hold opens or
    closes; leaving comes last, and a failed pass's disposition after it. (A cursor
    names a kind by its place here: new kinds go at the end.)"""

    TRACK_IN = "TRACK_IN", "in"
    MESSAGE = "MESSAGE", "message"
    RECORD = "RECORD", "record"
    VALUE = "VALUE", "value"
    HOLD_OPENED = "HOLD_OPENED", "hold opened"
    HOLD_CLOSED = "HOLD_CLOSED", "hold closed"
    TRACK_OUT = "TRACK_OUT", "out"
    DISPOSITION = "DISPOSITION", "disposition"

    @classmethod
    def rank(cls, kind: str) -> int:
        return cls.values.index(kind)


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a page starts: rows at or after (at, rank, pk) in history order; `at` is a
    whole second."""

    at: datetime
    rank: int
    pk: int

    def __str__(self) -> str:
        return f"{self.at.isoformat()}~{self.rank}~{self.pk}"

    @classmethod
    def parse(cls, text: str | None) -> "Cursor | None":
        """The cursor in a page's address; None for the first page or an unreadable one."""
        try:
            at, rank, pk = (text or "").split("~")
            parsed = cls(whole_second(datetime.fromisoformat(at)), int(rank), int(pk))
        except ValueError:
            return None
        return parsed if parsed.at.tzinfo is not None else None


def whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


@dataclass
class HistoryRow:
    """One line of a unit's history: what happened, when the MES received it (`at`), the
    device's own time where it sent one (`device_at`), and the admin page of it."""

    at: datetime
    kind: str
    pk: int
    url: str | None = None
    station: str = ""
    step_no: int | None = None
    spec: str = ""
    value: str | float = ""
    judge: str = ""
    alarmed: bool | None = None
    limits: str = ""
    # The stored limits document behind `limits`, for the CSV's limit columns.
    limits_judged: dict | None = None
    status: str = ""
    error_code: str = ""
    event_id: str = ""
    by: str = ""
    note: str = ""
    device_at: datetime | None = None

    @property
    def key(self) -> Cursor:
        return Cursor(whole_second(self.at), Kind.rank(self.kind), self.pk)

    @property
    def has_details(self) -> bool:
        """Whether the row has more to show than its line (folded under it on the page)."""
        return bool(self.limits or self.event_id or self.error_code or self.by or self.note) or (
            self.device_at is not None
        )

    @property
    def kind_label(self) -> str:
        return Kind(self.kind).label


def by_time(row: HistoryRow) -> Cursor:
    """History order: received time to the second, then kind, then id."""
    return row.key


def from_cursor(cursor: Cursor | None, kind: str, time_field: str) -> Q:
    """The rows of one stream at or after `cursor`, as a filter on its time and id (ranges
    of the time itself, so its index still serves)."""
    if cursor is None:
        return Q()
    rank = Kind.rank(kind)
    second, next_second = cursor.at, cursor.at + timedelta(seconds=1)
    if rank < cursor.rank:
        return Q(**{f"{time_field}__gte": next_second})
    if rank > cursor.rank:
        return Q(**{f"{time_field}__gte": second})
    later = Q(**{f"{time_field}__gte": next_second})
    same_second = Q(**{f"{time_field}__gte": second, f"{time_field}__lt": next_second})
    return later | (same_second & Q(pk__gte=cursor.pk))


def history_order(time_field: str) -> list:
    """A stream's ORDER BY in history order: its time to the second, then id. Truncated in
    UTC: in a local zone, the hour repeated when summer time ends would sort out of order."""
    return [TruncSecond(time_field, tzinfo=UTC), "pk"]


def admin_url(name: str, pk: int) -> str | None:
    """The admin page of a row, or None where that admin is not installed."""
    try:
        return reverse(f"admin:{name}_change", args=[pk])
    except NoReverseMatch:
        return None


def value_text(value: DataValue) -> str | float:
    """A stored value for a table cell: JSON compact, booleans as true/false, numbers kept
    as numbers (a CSV keeps a negative reading a number)."""
    shown = value.value
    if isinstance(shown, dict | list):
        return json.dumps(shown, ensure_ascii=False, sort_keys=True)
    if isinstance(shown, bool):
        return "true" if shown else "false"
    return "" if shown is None else shown


@dataclass
class UnitScope:
    """What every stream of one unit needs: the unit and its passes, read once per page;
    `extra` holds what other apps' streams read once (the unit's records' keys)."""

    unit: Unit
    tracks: dict[int, Track]
    extra: dict = field(default_factory=dict)

    @property
    def track_ids(self) -> list[int]:
        return list(self.tracks)


# A stream: (scope, cursor, at most this many rows) → rows in history order.
Stream = Callable[[UnitScope, Cursor | None, int], list[HistoryRow]]


def unit_scope(unit: Unit) -> UnitScope:
    """The unit's passes (all of them: a unit has a handful), with their stations."""
    # station: the station column of passes and values.
    tracks = Track.objects.filter(unit=unit).select_related("station").order_by("in_at", "pk")
    return UnitScope(unit=unit, tracks={track.pk: track for track in tracks})


def track_rows(scope: UnitScope, cursor: Cursor | None, limit: int) -> list[HistoryRow]:
    """Each pass's entry and, once it left, its exit."""
    rows = []
    for track in scope.tracks.values():
        place = {
            "pk": track.pk,
            "url": admin_url("execution_track", track.pk),
            "station": track.station.code if track.station else "",
            "step_no": track.step_no,
            "by": track.operator_id,
        }
        rows.append(HistoryRow(at=track.in_at, kind=Kind.TRACK_IN, **place))
        if track.out_at is not None:
            rows.append(
                HistoryRow(
                    at=track.out_at,
                    kind=Kind.TRACK_OUT,
                    status=track.result or "",
                    note=pass_outcome(track),
                    **place,
                )
            )
    return _page_of(rows, cursor, limit)


def pass_outcome(track: Track) -> str:
    """What a failed pass says about its failure: the defect, where, and whether the
    rules turned the station's PASS into FAIL."""
    parts = []
    if track.defect_code:
        where = f" at {track.defect_location}" if track.defect_location else ""
        parts.append(f"defect {track.defect_code}{where}")
    if track.inspection_override:
        parts.append("inspection override: a KEY value judged FAIL turned PASS into FAIL")
    return "; ".join(parts)


def failure_dispositions(unit: Unit) -> list[FailureDisposition]:
    """The unit's failed passes' dispositions, oldest first (a unit has a handful)."""
    # decided_by: who decided; track__station: where the pass failed.
    return list(
        FailureDisposition.objects.filter(unit=unit)
        .select_related("decided_by", "track__station")
        .order_by("decided_at", "pk")
    )


def disposition_rows(scope: UnitScope, cursor: Cursor | None, limit: int) -> list[HistoryRow]:
    """Each decision on a failed pass: rework at a step, or scrap; who and why."""
    rows = []
    for decision in failure_dispositions(scope.unit):
        track = decision.track
        rework = f"rework at step {decision.rework_step_no}" if decision.rework_step_no else ""
        rows.append(
            HistoryRow(
                at=decision.decided_at,
                kind=Kind.DISPOSITION,
                pk=decision.pk,
                url=admin_url("execution_failuredisposition", decision.pk),
                station=track.station.code if track.station else "",
                step_no=track.step_no,
                value=rework,
                status=decision.disposition,
                by=decision.decided_by.username,
                note=decision.note,
            )
        )
    return _page_of(rows, cursor, limit)


def value_rows(scope: UnitScope, cursor: Cursor | None, limit: int) -> list[HistoryRow]:
    """The unit's values by its passes' keys, with the limits each was judged against."""
    if not scope.track_ids:
        return []
    # spec__operation: the spec column. By receipt (created_at); the device's time beside.
    values = (
        DataValue.objects.filter(track_id__in=scope.track_ids)
        .filter(from_cursor(cursor, Kind.VALUE, "created_at"))
        .select_related("spec__operation")
        .order_by(*history_order("created_at"))[:limit]
    )
    rows = []
    for value in values:
        track = scope.tracks[value.track_id]
        rows.append(
            HistoryRow(
                at=value.created_at,
                device_at=value.collected_at,
                kind=Kind.VALUE,
                pk=value.pk,
                url=admin_url("execution_datavalue", value.pk),
                station=track.station.code if track.station else "",
                step_no=track.step_no,
                spec=f"{value.spec.name} ({value.spec.operation.code})",
                value=value_text(value),
                judge=value.judge,
                alarmed=value.alarmed,
                limits=describe_limits(value.limits),
                limits_judged=value.limits,
                event_id=(value.meta or {}).get("eventId", ""),
            )
        )
    return rows


def hold_rows(scope: UnitScope, cursor: Cursor | None, limit: int) -> list[HistoryRow]:
    """Each hold's opening (the spec and limits that opened it) and, once closed, its close."""
    # spec: what opened it; closed_by: who closed it.
    holds = Hold.objects.filter(unit=scope.unit).select_related("spec", "closed_by")
    rows = []
    for hold in holds:
        url = admin_url("execution_hold", hold.pk)
        rows.append(
            HistoryRow(
                at=hold.opened_at,
                kind=Kind.HOLD_OPENED,
                pk=hold.pk,
                url=url,
                spec=hold.spec.name,
                limits=describe_limits(hold.limits),
                limits_judged=hold.limits,
                status="OPEN" if hold.is_open else "",
                event_id=hold.event_id,
            )
        )
        if hold.closed_at is not None:
            rows.append(
                HistoryRow(
                    at=hold.closed_at,
                    kind=Kind.HOLD_CLOSED,
                    pk=hold.pk,
                    url=url,
                    status=hold.disposition,
                    by=hold.closed_by.username if hold.closed_by else "",
                    note=hold.note,
                )
            )
    return _page_of(rows, cursor, limit)


def _page_of(rows: list[HistoryRow], cursor: Cursor | None, limit: int) -> list[HistoryRow]:
    rows = sorted((row for row in rows if cursor is None or row.key >= cursor), key=by_time)
    return rows[:limit]


# The streams of this app, each with the permission that shows it.
EXECUTION_STREAMS: list[tuple[str, Stream]] = [
    ("execution.view_track", track_rows),
    ("execution.view_datavalue", value_rows),
    ("execution.view_hold", hold_rows),
    ("execution.view_failuredisposition", disposition_rows),
]


@dataclass
class HistoryPage:
    """One page of a unit's history and where the next one starts (None at the end)."""

    rows: list[HistoryRow]
    next_cursor: Cursor | None


def merge_page(
    scope: UnitScope, streams: list[Stream], cursor: Cursor | None, size: int
) -> HistoryPage:
    """The first `size` rows from `cursor` on of all streams, in time order.

    Each stream gives at most size + 1 rows, so the row after the page is known and
    becomes the next page's cursor: no row is repeated or skipped between pages.
    """
    rows = sorted(
        (row for stream in streams for row in stream(scope, cursor, size + 1)), key=by_time
    )
    next_cursor = rows[size].key if len(rows) > size else None
    return HistoryPage(rows=rows[:size], next_cursor=next_cursor)


def route_steps(unit: Unit) -> list[RouteStep]:
    """The steps of the unit's run's route, with their operations."""
    run = unit.run
    if run is None or run.route_version_id is None:
        return []
    # operation: each step's operation column.
    return list(
        RouteStep.objects.filter(route_version_id=run.route_version_id)
        .select_related("operation")
        .order_by("step_no")
    )
