"""Back office for master and execution data: stations, operations, routes, units, tracks
and carriers (runs: execution/admin/runs.py).

Master data is edited by integration admins and viewed by quality staff, as their group
permissions say. Units list the values collected for them (read-only).
Where a unit is comes from track-in and track-out (docs/execution.md): the forms never
set a status that needs a pass or a hold, nor move a unit that is in station, failed or
held.
"""

from django.contrib import admin
from django.db.models import Exists, OuterRef

from execution.admin.master_data_tables import (
    MasterDataTables,
    OperationResource,
    RouteStepResource,
    SerialResource,
    StationResource,
)
from execution.admin.route_steps import RouteStepForm
from execution.admin.values import (
    CollectedValuesMixin,
    DataValueInline,
    of_unit,
    value_list_url,
)
from execution.models import (
    Carrier,
    CarrierTrack,
    DataValue,
    Operation,
    RouteStep,
    RouteVersion,
    Station,
    Track,
    Unit,
)
from mes.admin.unreadable_filters import ReadableFiltersMixin


@admin.register(Station)
class StationAdmin(ReadableFiltersMixin, MasterDataTables, admin.ModelAdmin):
    resource_classes = [StationResource]
    list_display = [
        "code",
        "name",
        "station_type",
        "line_code",
        "cfx_handle",
        "tracked_by_machine",
    ]
    list_filter = ["station_type", "line_code", "tracked_by_machine"]
    search_fields = ["code", "name", "cfx_handle"]
    fields = ["code", "name", "station_type", "line_code", "cfx_handle", "tracked_by_machine"]


@admin.register(Operation)
class OperationAdmin(ReadableFiltersMixin, MasterDataTables, admin.ModelAdmin):
    resource_classes = [OperationResource]
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


def version_in_use(route_version) -> bool:
    """A route version a run names is fixed (docs/master-data.md): a change is a new
    version, here as in the API and the import."""
    return route_version is not None and route_version.runs.exists()


class FixedOnceInUse:
    """Steps of a route version in use are shown, never changed, added or deleted."""

    def _version(self, obj):
        return obj if isinstance(obj, RouteVersion) else getattr(obj, "route_version", None)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not version_in_use(
            self._version(obj)
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not version_in_use(
            self._version(obj)
        )

    def has_add_permission(self, request, obj=None):
        allowed = super().has_add_permission(request, *([obj] if self._inline else []))
        return allowed and not (self._inline and version_in_use(self._version(obj)))

    _inline = False


class RouteStepInline(FixedOnceInUse, admin.StackedInline):
    # Stacked: two pickers (specs and stations) per step do not fit a table's row.
    _inline = True
    model = RouteStep
    form = RouteStepForm
    extra = 0
    filter_horizontal = ["data_specs", "allowed_stations"]


@admin.register(RouteVersion)
class RouteVersionAdmin(ReadableFiltersMixin, FixedOnceInUse, admin.ModelAdmin):
    list_display = ["code", "version_no"]
    search_fields = ["code"]
    inlines = [RouteStepInline]


@admin.register(RouteStep)
class RouteStepAdmin(ReadableFiltersMixin, FixedOnceInUse, MasterDataTables, admin.ModelAdmin):
    resource_classes = [RouteStepResource]
    # An import replaces whole versions: it creates versions and takes steps away.
    import_permissions = (
        "execution.add_routeversion",
        "execution.change_routeversion",
        "execution.delete_routestep",
    )
    form = RouteStepForm
    list_display = ["route_version", "step_no", "operation", "station_type", "stations"]
    list_filter = ["route_version", "station_type"]
    filter_horizontal = ["data_specs", "allowed_stations"]
    list_select_related = ["route_version", "operation"]

    def get_queryset(self, request):
        # allowed_stations: the stations column, one query for the page.
        return super().get_queryset(request).prefetch_related("allowed_stations")

    @admin.display(description="allowed stations")
    def stations(self, step):
        codes = [station.code for station in step.allowed_stations.all()]
        return ", ".join(codes) if codes else "any of its type"


# Statuses that come with a pass or a hold, never set by hand: IN_STATION with an open
# pass (track-in), OUT_FAILED with a failed one (track-out), ON_HOLD with a hold (data).
STATUSES_NOT_SET_BY_HAND = (Unit.Status.IN_STATION, Unit.Status.OUT_FAILED, Unit.Status.ON_HOLD)


class TrackedInFilter(admin.SimpleListFilter):
    """Units with at least one pass, or none: a unit set done or scrapped by hand without
    one is in no yield of its run (docs/runs.md), and its run's page links here."""

    title = "tracked in"
    parameter_name = "tracked"

    def lookups(self, request, model_admin):
        return [("yes", "Tracked in (has a pass)"), ("no", "Never tracked in")]

    def queryset(self, request, queryset):
        passes = Track.objects.filter(unit=OuterRef("pk"))
        if self.value() == "yes":
            return queryset.filter(Exists(passes))
        if self.value() == "no":
            return queryset.exclude(Exists(passes))
        return queryset


@admin.register(Unit)
class UnitAdmin(ReadableFiltersMixin, CollectedValuesMixin, MasterDataTables, admin.ModelAdmin):
    resource_classes = [SerialResource]
    list_display = ["sn", "run", "status", "current_step_no"]
    list_filter = ["status", TrackedInFilter]
    search_fields = ["sn", "run__run_no"]
    list_select_related = ["run"]
    raw_id_fields = ["run"]
    fields = ["sn", "run", "status", "current_step_no"]

    def get_readonly_fields(self, request, obj=None):
        # A unit in station, failed or held moves only by track-out, a failure's
        # disposition or the hold's (docs/execution.md, docs/holds.md): its status and
        # step are not the form's to change. Asked again when the form is saved, so a
        # form opened before cannot write the old status back.
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and (
            obj.status in STATUSES_NOT_SET_BY_HAND or obj.holds.filter(closed_at=None).exists()
        ):
            readonly += ["status", "current_step_no"]
        return readonly

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "status":
            kwargs["choices"] = [
                choice for choice in db_field.choices if choice[0] not in STATUSES_NOT_SET_BY_HAND
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def collected_values(self, unit):
        return DataValue.objects.filter(of_unit(unit.sn))

    def collected_values_url(self, unit):
        return value_list_url(unitSn=unit.sn)


class InStationFilter(admin.SimpleListFilter):
    """Open passes (the units in station) or closed ones, from the partial index of open
    passes (track_open_at_station)."""

    title = "in station"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "In station (open pass)"), ("no", "Left (closed pass)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(out_at=None)
        if self.value() == "no":
            return queryset.exclude(out_at=None)
        return queryset


@admin.register(Track)
class TrackAdmin(ReadableFiltersMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "unit",
        "step_no",
        "station",
        "source",
        "in_at",
        "out_at",
        "result",
        "defect_code",
        "inspection_override",
        "operator_id",
    ]
    list_filter = [InStationFilter, "station", "source", "result", "inspection_override"]
    search_fields = ["unit__sn"]
    list_select_related = ["unit", "station"]
    raw_id_fields = ["unit"]
    fields = [
        "unit",
        "step_no",
        "station",
        "source",
        "in_at",
        "out_at",
        "result",
        "defect_code",
        "defect_location",
        "inspection_override",
        "operator_id",
    ]
    # What the rules did with the track-out's result (a KEY value judged FAIL on the
    # pass): a fact of the pass, not a choice. Defect code and location stay editable:
    # a failure analysis may name the defect better than the station did.
    readonly_fields = ["inspection_override"]
    inlines = [DataValueInline]

    def get_readonly_fields(self, request, obj=None):
        # A pass is moved by track-in and track-out only (docs/execution.md): reopening
        # it or moving it to another unit here would step around the rules and the one
        # open pass per unit. A new pass typed here is checked against that constraint.
        if obj is None:
            return self.readonly_fields
        return [name for name in self.fields if name not in ("defect_code", "defect_location")]


@admin.register(Carrier)
class CarrierAdmin(ReadableFiltersMixin, admin.ModelAdmin):
    list_display = ["carrier_no"]
    search_fields = ["carrier_no"]


@admin.register(CarrierTrack)
class CarrierTrackAdmin(ReadableFiltersMixin, admin.ModelAdmin):
    list_display = ["id", "carrier", "step_no", "station", "source", "in_at", "result"]
    list_filter = ["station", "source", "result"]
    search_fields = ["carrier__carrier_no"]
    list_select_related = ["carrier", "station"]
