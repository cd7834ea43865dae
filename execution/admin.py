"""Back office for master and execution data: editable master data, read-only values."""

from django.contrib import admin

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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Received data is evidence: nobody adds, changes or deletes it in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "station_type", "line_code"]
    list_filter = ["station_type", "line_code"]
    search_fields = ["code", "name"]


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(DataSpec)
class DataSpecAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "operation",
        "data_type",
        "method",
        "item_type",
        "spec",
        "alarm",
        "is_required",
        "is_active",
    ]
    list_filter = ["data_type", "method", "item_type", "is_active", "operation"]
    search_fields = ["name", "operation__code"]
    list_select_related = ["operation"]


class RouteStepInline(admin.TabularInline):
    model = RouteStep
    extra = 0
    filter_horizontal = ["data_specs"]


@admin.register(RouteVersion)
class RouteVersionAdmin(admin.ModelAdmin):
    list_display = ["code", "version_no"]
    search_fields = ["code"]
    inlines = [RouteStepInline]


@admin.register(RouteStep)
class RouteStepAdmin(admin.ModelAdmin):
    list_display = ["route_version", "step_no", "operation"]
    list_filter = ["route_version"]
    filter_horizontal = ["data_specs"]
    list_select_related = ["route_version", "operation"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["run_no", "route_version", "status"]
    list_filter = ["status", "route_version"]
    search_fields = ["run_no"]
    list_select_related = ["route_version"]


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["sn", "run", "status"]
    list_filter = ["status"]
    search_fields = ["sn", "run__run_no"]
    list_select_related = ["run"]
    raw_id_fields = ["run"]


@admin.register(Track)
class TrackAdmin(admin.ModelAdmin):
    list_display = ["id", "unit", "step_no", "station", "source", "in_at", "out_at", "result"]
    list_filter = ["station", "source", "result"]
    search_fields = ["unit__sn"]
    list_select_related = ["unit", "station"]
    raw_id_fields = ["unit"]


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


@admin.register(DataValue)
class DataValueAdmin(ReadOnlyAdmin):
    list_display = ["id", "spec", "value", "judge", "alarmed", "source", "collected_at", "track"]
    list_filter = ["judge", "alarmed", "source", "spec"]
    search_fields = ["track__unit__sn", "source_ref"]
    list_select_related = ["spec__operation", "track__unit__run", "track__station"]
