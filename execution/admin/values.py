"""Back office for collected values: evidence that nobody adds, changes or deletes here.

Judging is never repeated in the admin: pages show the judge, alarm and limits stored
with each value when it was received. Also the tables of a unit's, run's or record's
values under its form (`CollectedValuesMixin`), and the CSV export of the list.
"""

import json
from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from execution.exports import stream_data_values_csv
from execution.judging import describe_limits, describe_sender_limits
from execution.models import CarrierTrack, DataValue, Run, Station, Track, Unit
from execution.unheld_failures import behind_a_hold, out_of_spec_not_held
from execution.unit_links import unit_link
from mes.admin.display import admin_link, badge, changelist_url, pretty_json
from mes.admin.evidence import EvidenceMixin, ReadOnlyAdmin
from mes.admin.filters import InputFilter, date_range_filter, input_filter

VIEW_VALUES_PERMISSION = "execution.view_datavalue"
# How many values a unit, run or record page lists before linking to the full list.
VALUES_SHOWN = 200


def value_list_url(**params) -> str:
    return changelist_url("execution", "datavalue", **params)


# --- tables of collected values under a unit, run or record ---


@dataclass
class ValueTable:
    """The latest values of a unit, run or record, and a link to all of them."""

    rows: list
    total: int
    list_url: str

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


def value_table(queryset, list_url: str) -> ValueTable:
    # spec__operation: the spec's name and operation; track__*: where it was measured.
    rows = list(
        queryset.select_related(
            "spec__operation",
            "track__unit",
            "track__station",
            "carrier_track__carrier",
            "carrier_track__station",
        ).order_by("-collected_at", "-id")[:VALUES_SHOWN]
    )
    for row in rows:
        row.limits_text = describe_limits(row.limits)
    total = len(rows) if len(rows) < VALUES_SHOWN else queryset.count()
    return ValueTable(rows=rows, total=total, list_url=list_url)


class CollectedValuesMixin:
    """Lists, under the object's form, the values collected for it (latest first)."""

    change_form_template = "admin/change_form_with_values.html"

    def collected_values(self, obj):
        """The object's DataValues (a queryset)."""
        raise NotImplementedError

    def collected_values_url(self, obj) -> str:
        """The DataValue list filtered to the object's values."""
        raise NotImplementedError

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and request.user.has_perm(VIEW_VALUES_PERMISSION):
            context["value_table"] = value_table(
                self.collected_values(obj), self.collected_values_url(obj)
            )
        return super().render_change_form(request, context, add, change, form_url, obj)


# --- the values list ---


class ValueColumnsMixin:
    """Columns showing a stored value, its judgement and its limits."""

    @admin.display(description="value")
    def value_display(self, value):
        shown = value.value
        if isinstance(shown, dict | list):
            return json.dumps(shown, ensure_ascii=False)[:120]
        if isinstance(shown, bool):
            return "true" if shown else "false"
        return "—" if shown is None else shown

    @admin.display(description="judge", ordering="judge")
    def judge_badge(self, value):
        return badge(value.judge)

    @admin.display(description="alarm", ordering="alarmed")
    def alarm_badge(self, value):
        return badge("ALARM", "alarm") if value.alarmed else "—"

    @admin.display(description="limits judged against")
    def limits_display(self, value):
        return describe_limits(value.limits)

    @admin.display(description="sender's limits")
    def sender_limits_display(self, value):
        return describe_sender_limits(value.sender_limits)


class DataValueInline(EvidenceMixin, ValueColumnsMixin, admin.TabularInline):
    """A track's values, read-only."""

    model = DataValue
    fk_name = "track"
    fields = [
        "spec",
        "value_display",
        "judge_badge",
        "alarm_badge",
        "limits_display",
        "sender_limits_display",
        "collected_at",
        "source_ref",
    ]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "collected values"

    def get_queryset(self, request):
        # spec__operation: the spec column's text.
        return super().get_queryset(request).select_related("spec__operation")


class StationFilter(admin.SimpleListFilter):
    """Where a value was measured: the station of its track or carrier track, stored with it."""

    title = "station"
    parameter_name = "station"

    def lookups(self, request, model_admin):
        return [(code, code) for code in Station.objects.values_list("code", flat=True)]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        # The station stored with each value, read from its index (docs/growth.md).
        station = Station.objects.filter(code=self.value()).values_list("pk", flat=True).first()
        return queryset.filter(station_id=station) if station else queryset.none()


class HoldFilter(admin.SimpleListFilter):
    """Values behind a hold, or out of spec and behind none (execution/unheld_failures.py)."""

    title = "hold"
    parameter_name = "hold"
    OUT_OF_SPEC_NOT_HELD = "out-of-spec-not-held"
    HELD = "held"

    def lookups(self, request, model_admin):
        return [(self.OUT_OF_SPEC_NOT_HELD, "Out of spec, not held"), (self.HELD, "Behind a hold")]

    def queryset(self, request, queryset):
        if self.value() == self.OUT_OF_SPEC_NOT_HELD:
            return out_of_spec_not_held(queryset)
        if self.value() == self.HELD:
            return queryset.filter(behind_a_hold())
        return queryset


def out_of_spec_not_held_url(**params) -> str:
    """The values list of the values out of spec and not held (docs/holds.md)."""
    return value_list_url(hold=HoldFilter.OUT_OF_SPEC_NOT_HELD, **params)


def of_unit(sn: str) -> Q:
    """A unit's values, by its passes' keys: the planner then reads them from the track
    index, where a join to the unit let it walk every value newest first (14 s at ten
    million events for a unit's page)."""
    return Q(track_id__in=list(Track.objects.filter(unit__sn=sn).values_list("pk", flat=True)))


class UnitSnFilter(InputFilter):
    """`?unitSn=`: the values of one unit (of_unit)."""

    title = "unit serial number"
    parameter_name = "unitSn"

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(of_unit(self.value()))


# More passes than this for a search term, and the values are filtered by subquery.
SEARCH_PASSES_LISTED = 5_000


def _first_ids(queryset) -> list[int] | None:
    """Up to SEARCH_PASSES_LISTED primary keys, or None when there are more."""
    ids = list(queryset.values_list("pk", flat=True)[: SEARCH_PASSES_LISTED + 1])
    return None if len(ids) > SEARCH_PASSES_LISTED else ids


def values_matching(term: str) -> Q:
    """Values of units, runs or carriers whose number is `term` or starts with it.

    The small master tables are searched first (their unique keys are indexed for
    prefixes); the values are then found by their passes' keys or their run, so a
    search reads the values it shows, not the whole table.
    """
    units = Unit.objects.filter(sn__startswith=term)
    runs = Run.objects.filter(run_no__startswith=term)
    tracks = Track.objects.filter(unit__in=units)
    carrier_tracks = CarrierTrack.objects.filter(carrier__carrier_no__startswith=term)
    unit_ids = _first_ids(units)
    if unit_ids is not None:
        tracks = Track.objects.filter(unit_id__in=unit_ids)
    track_ids, carrier_track_ids = _first_ids(tracks), _first_ids(carrier_tracks)
    run_ids = _first_ids(runs)
    by_track = Q(track__in=tracks) if track_ids is None else Q(track_id__in=track_ids)
    # A run's values by the run stored with each (indexed), not through its units' passes.
    by_run = Q(run__in=runs) if run_ids is None else Q(run_id__in=run_ids)
    by_carrier = (
        Q(carrier_track__in=carrier_tracks)
        if carrier_track_ids is None
        else Q(carrier_track_id__in=carrier_track_ids)
    )
    return by_track | by_run | by_carrier


@admin.register(DataValue)
class DataValueAdmin(ValueColumnsMixin, ReadOnlyAdmin):
    # Which unit, where and when first; the limits are on each value's page (docs/back-office.md).
    list_display = [
        "collected_at",
        "unit_sn",
        "station",
        "spec",
        "listed_value",
        "judge_badge",
        "alarm_badge",
        "run_no",
        "step_no",
        "source",
    ]
    list_filter = [
        "judge",
        "alarmed",
        HoldFilter,
        "spec",
        "source",
        StationFilter,
        date_range_filter("collected at", "collected_at", "collectedFrom", "collectedTo"),
        date_range_filter("received", "created_at", "receivedFrom", "receivedTo"),
        UnitSnFilter,
        input_filter("run number", "runNo", "run__run_no"),
        input_filter(
            "source reference", "sourceRef", "source_ref", placeholder="device-data:<eventId>"
        ),
    ]
    search_fields = [
        "track__unit__sn",
        "track__unit__run__run_no",
        "carrier_track__carrier__carrier_no",
    ]
    search_help_text = (
        "Unit serial number, run number or carrier number: the whole number or its beginning."
    )
    # spec__operation: the spec column; track__*/carrier_track__*: unit, run and carrier.
    list_select_related = [
        "spec__operation",
        "track__unit__run",
        "carrier_track__carrier",
        "station",
    ]
    readonly_fields = [
        "value_display",
        "judge_badge",
        "alarm_badge",
        "limits_judged",
        "limits_display",
        "sender_limits_display",
        "unit_sn",
        "run_no",
        "station",
        "step_no",
        "received_record",
        "meta_json",
    ]
    fieldsets = [
        (
            "Value",
            {
                "fields": [
                    "spec",
                    "value_display",
                    "judge_badge",
                    "alarm_badge",
                    "limits_display",
                    "sender_limits_display",
                    "limits_judged",
                    "collected_at",
                ],
                "description": "Judged when received, against the limits stored with the "
                "value; a later edit of the spec does not change them. The sender's limits "
                "(an IPC-CFX machine's own) are shown beside ours and never judged by.",
            },
        ),
        (
            "Where",
            {"fields": ["track", "carrier_track", "unit_sn", "run_no", "station", "step_no"]},
        ),
        (
            "Source",
            {"fields": ["source", "source_ref", "received_record", "meta_json", "created_at"]},
        ),
    ]
    change_list_template = "admin/execution/datavalue/change_list.html"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(values_matching(term)), False

    @admin.display(description="value")
    def listed_value(self, value):
        # The limits it was judged against, on pointing at it: a column of them pushed
        # the unit and station out of a 1,400 px screen.
        title = f"Limits judged against: {describe_limits(value.limits)}"
        if value.sender_limits:
            title += f"; sender's limits: {describe_sender_limits(value.sender_limits)}"
        return format_html('<span title="{}">{}</span>', title, self.value_display(value))

    @admin.display(description="unit", ordering="track__unit__sn")
    def unit_sn(self, value):
        return unit_link(value.track.unit) if value.track else "—"

    @admin.display(description="run", ordering="track__unit__run__run_no")
    def run_no(self, value):
        run = value.track.unit.run if value.track else None
        return run.run_no if run else "—"

    @admin.display(description="step")
    def step_no(self, value):
        place = value.track or value.carrier_track
        return place.step_no if place else "—"

    @admin.display(description="limits judged against (stored)")
    def limits_judged(self, value):
        return pretty_json(value.limits)

    @admin.display(description="meta")
    def meta_json(self, value):
        return pretty_json(value.meta)

    @admin.display(description="received as")
    def received_record(self, value):
        event_id = (value.meta or {}).get("eventId")
        if not event_id:
            return "—"
        try:
            url = changelist_url("integration", "devicedatarecord", eventId=event_id)
        except NoReverseMatch:
            return event_id
        return admin_link(url, f"device-data record {event_id}")

    # --- CSV export of the filtered list ---

    def get_urls(self):
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_csv_view),
            name="execution_datavalue_export",
        )
        return [export, *super().get_urls()]

    def export_csv_view(self, request):
        """Every value the list's current filters, search and order select, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        list_url = reverse("admin:execution_datavalue_changelist")
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:  # a page past the end (filters are said in words)
            return HttpResponseRedirect(list_url + "?e=1")
        if changelist.unreadable_filters:
            # The list, with the same filters, says which it cannot read.
            return HttpResponseRedirect(f"{list_url}?{request.GET.urlencode()}")
        response = StreamingHttpResponse(
            stream_data_values_csv(changelist.queryset), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="data-values-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response
