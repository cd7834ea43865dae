"""Back office for master and execution data: editable master data, read-only values.

Master data (stations, operations, specs, routes, runs, units, tracks) is
edited by integration admins and viewed by quality staff, as their group
permissions say. Collected values are evidence: nobody adds, changes or
deletes them here. Judging is never repeated in the admin: pages show the
judge, alarm and limits stored with each value when it was received.
"""

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.forms.fields import InvalidJSONInput
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from execution.admin_filters import InputFilter, date_range_filter, input_filter
from execution.admin_paging import BoundedCountPaginator
from execution.admin_route_steps import RouteStepForm
from execution.admin_spc import SpcSectionMixin
from execution.exports import stream_data_values_csv
from execution.models import (
    Carrier,
    CarrierTrack,
    DataSpec,
    DataValue,
    Operation,
    RouteStep,
    RouteVersion,
    Run,
    Station,
    Track,
    Unit,
)
from execution.unit_links import unit_link

VIEW_VALUES_PERMISSION = "execution.view_datavalue"
# How many values a unit, run or record page lists before linking to the full list.
VALUES_SHOWN = 200


class EvidenceMixin:
    """Received data is evidence: nobody adds, changes or deletes it in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(EvidenceMixin, admin.ModelAdmin):
    # Counts per filter choice would scan the largest tables on every page.
    show_facets = admin.ShowFacets.NEVER
    # Evidence lists grow by millions: counts are bounded, deep pages read keys first,
    # and the unfiltered total is not counted beside the filtered one.
    paginator = BoundedCountPaginator
    show_full_result_count = False


# --- display helpers shared by the back office's pages ------------------------------------------


def badge(code: str, label: str | None = None):
    """A coloured label for a status, judge or alarm (styled in admin/includes/mes_styles.html)."""
    return format_html('<span class="mes-badge mes-badge-{}">{}</span>', code, label or code)


def pretty_json(value):
    """JSON as an indented, scrollable block."""
    if value is None:
        return "—"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre class="mes-json">{}</pre>', text)


def _bounds(limits: dict) -> str:
    low, high = limits.get("min"), limits.get("max")
    if low is not None and high is not None:
        return f"{low} – {high}"
    if low is not None:
        return f"≥ {low}"
    if high is not None:
        return f"≤ {high}"
    return ""


def describe_limits(limits: dict | None) -> str:
    """Stored limits (`{"spec": …, "alarm": …}`) in a few words.

    For example "240 – 250 C; target 245; alarm 235 – 255 (HOLD)".
    """
    limits = limits or {}
    spec, alarm = limits.get("spec") or {}, limits.get("alarm") or {}
    parts = []
    if bounds := _bounds(spec):
        parts.append(f"{bounds} {spec.get('unit', '')}".strip())
    if "allowed" in spec:
        parts.append("allowed: " + ", ".join(map(str, spec["allowed"] or [])))
    if "expected" in spec:
        parts.append(f"expected: {json.dumps(spec['expected'])}")
    if spec.get("target") is not None:
        parts.append(f"target {spec['target']}")
    alarm_bounds = _bounds(alarm)
    if alarm_bounds or alarm.get("action"):
        action = f" ({alarm['action']})" if alarm.get("action") else ""
        parts.append(f"alarm {alarm_bounds or 'on FAIL'}{action}")
    return "; ".join(parts) or "no limits"


def describe_sender_limits(limits: dict | None) -> str:
    """The sender's own limits of a reading (`{"min", "max", "expected", "unit"}`), in a
    few words, e.g. "230 – 260 C; expected 245"; "—" when it sent none."""
    if not limits:
        return "—"
    parts = []
    if bounds := _bounds(limits):
        parts.append(f"{bounds} {limits.get('unit') or ''}".strip())
    if limits.get("expected") is not None:
        parts.append(f"expected {limits['expected']}")
    return "; ".join(parts) or "—"


def admin_link(url: str, text) -> str:
    return format_html('<a href="{}">{}</a>', url, text)


def changelist_url(app_label: str, model_name: str, **params) -> str:
    return reverse(f"admin:{app_label}_{model_name}_changelist") + "?" + urlencode(params)


def value_list_url(**params) -> str:
    return changelist_url("execution", "datavalue", **params)


# --- tables of collected values under a unit, run or record --------------------------------------


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


# --- master data --------------------------------------------------------------------------------


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "station_type", "line_code", "cfx_handle"]
    list_filter = ["station_type", "line_code"]
    search_fields = ["code", "name", "cfx_handle"]
    fields = ["code", "name", "station_type", "line_code", "cfx_handle"]


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


class LimitJSONField(forms.JSONField):
    """JSON typed as text: blank means none (null), and a syntax error says where it is."""

    def __init__(self, *, example: str, **kwargs):
        self.example = example
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "widget", forms.Textarea(attrs={"rows": 6, "cols": 60, "class": "vLargeTextField"})
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        if self.disabled:
            return value
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value, parse_constant=_refuse_constant)
        except json.JSONDecodeError as error:
            raise ValidationError(
                "This is not valid JSON: %(reason)s (line %(line)s, column %(column)s). "
                "Write an object such as %(example)s, or leave the box empty for none.",
                code="invalid",
                params={
                    "reason": error.msg,
                    "line": error.lineno,
                    "column": error.colno,
                    "example": self.example,
                },
            ) from error
        except ValueError as error:
            raise ValidationError(
                "%(reason)s; limits must be finite numbers.",
                code="invalid",
                params={"reason": error},
            ) from error

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value  # what the person typed, shown again with the error
        if value is None:
            return ""
        return json.dumps(value, ensure_ascii=False, indent=2)

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != initial
        except ValidationError:
            return True


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


class DataSpecForm(forms.ModelForm):
    """The spec's own fields; `spec`, `alarm` and `trigger_rule` edited as JSON text."""

    spec = LimitJSONField(
        example='{"min": 240, "max": 250, "target": 245, "unit": "C"}',
        help_text='NUMBER: {"min": 240, "max": 250, "target": 245, "unit": "C"} (min or max '
        'may be left out); TEXT: {"allowed": ["OK", "GOOD"]}; BOOLEAN: {"expected": true}; '
        "JSON: empty. Limits are inclusive. Empty: no limits (values judge NA).",
    )
    alarm = LimitJSONField(
        example='{"min": 235, "max": 255, "action": "HOLD"}',
        help_text='{"min": 235, "max": 255, "action": "ALARM_ONLY" or "HOLD"}; min/max for '
        "NUMBER specs only. With an action and no limits, a FAIL raises the alarm. "
        "Empty: no alarm.",
    )
    trigger_rule = LimitJSONField(
        example='{"everyMinutes": 30}',
        help_text="Any JSON the trigger needs, stored and shown (not enforced at ingestion). "
        "Empty: none.",
    )

    class Meta:
        model = DataSpec
        fields = [
            "operation",
            "name",
            "item_type",
            "data_type",
            "method",
            "trigger_type",
            "trigger_rule",
            "spec",
            "alarm",
            "is_required",
            "is_active",
        ]


@admin.register(DataSpec)
class DataSpecAdmin(SpcSectionMixin, admin.ModelAdmin):
    form = DataSpecForm
    list_display = [
        "name",
        "operation",
        "data_type",
        "method",
        "item_type",
        "limits_summary",
        "is_required",
        "is_active",
    ]
    list_filter = ["data_type", "method", "item_type", "is_active", "operation"]
    search_fields = ["name", "operation__code"]
    list_select_related = ["operation"]
    autocomplete_fields = ["operation"]
    fieldsets = [
        (None, {"fields": ["operation", "name", "item_type", "data_type", "method"]}),
        (
            "Limits",
            {
                "fields": ["spec", "alarm"],
                "description": "Checked when saved (docs/ingestion.md). Values already received "
                "keep the limits they were judged against.",
            },
        ),
        ("Trigger", {"fields": ["trigger_type", "trigger_rule", "is_required", "is_active"]}),
    ]

    @admin.display(description="limits")
    def limits_summary(self, spec):
        return describe_limits(spec.limits)


class RouteStepInline(admin.TabularInline):
    model = RouteStep
    form = RouteStepForm
    extra = 0
    filter_horizontal = ["data_specs"]


@admin.register(RouteVersion)
class RouteVersionAdmin(admin.ModelAdmin):
    list_display = ["code", "version_no"]
    search_fields = ["code"]
    inlines = [RouteStepInline]


@admin.register(RouteStep)
class RouteStepAdmin(admin.ModelAdmin):
    form = RouteStepForm
    list_display = ["route_version", "step_no", "operation"]
    list_filter = ["route_version"]
    filter_horizontal = ["data_specs"]
    list_select_related = ["route_version", "operation"]


@admin.register(Run)
class RunAdmin(CollectedValuesMixin, admin.ModelAdmin):
    list_display = ["run_no", "route_version", "status"]
    list_filter = ["status", "route_version"]
    search_fields = ["run_no"]
    list_select_related = ["route_version"]

    def collected_values(self, run):
        return DataValue.objects.filter(run=run)  # stored with each value, indexed

    def collected_values_url(self, run):
        return value_list_url(runNo=run.run_no)


@admin.register(Unit)
class UnitAdmin(CollectedValuesMixin, admin.ModelAdmin):
    list_display = ["sn", "run", "status"]
    list_filter = ["status"]
    search_fields = ["sn", "run__run_no"]
    list_select_related = ["run"]
    raw_id_fields = ["run"]

    def get_readonly_fields(self, request, obj=None):
        # A hold is opened by data and closed by a disposition (docs/holds.md): while one
        # is open, the status is not the form's to change. Asked again when the form is
        # saved, so a form opened before the hold cannot write the old status back.
        if obj is not None and obj.holds.filter(closed_at=None).exists():
            return [*super().get_readonly_fields(request, obj), "status"]
        return super().get_readonly_fields(request, obj)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "status":
            # ON_HOLD comes with a hold, from data: never set by hand.
            kwargs["choices"] = [
                choice for choice in db_field.choices if choice[0] != Unit.Status.ON_HOLD
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def collected_values(self, unit):
        return DataValue.objects.filter(of_unit(unit.sn))

    def collected_values_url(self, unit):
        return value_list_url(unitSn=unit.sn)


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


@admin.register(Track)
class TrackAdmin(admin.ModelAdmin):
    list_display = ["id", "unit", "step_no", "station", "source", "in_at", "out_at", "result"]
    list_filter = ["station", "source", "result"]
    search_fields = ["unit__sn"]
    list_select_related = ["unit", "station"]
    raw_id_fields = ["unit"]
    inlines = [DataValueInline]


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    list_display = ["carrier_no"]
    search_fields = ["carrier_no"]


@admin.register(CarrierTrack)
class CarrierTrackAdmin(admin.ModelAdmin):
    list_display = ["id", "carrier", "step_no", "station", "source", "in_at", "result"]
    list_filter = ["station", "source", "result"]
    search_fields = ["carrier__carrier_no"]
    list_select_related = ["carrier", "station"]


# --- collected values ---------------------------------------------------------------------------


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
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:execution_datavalue_changelist") + "?e=1")
        response = StreamingHttpResponse(
            stream_data_values_csv(changelist.queryset), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="data-values-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response


from execution import admin_holds  # noqa: E402, F401  (registers the Hold admin)
