"""Back office for master and execution data: stations, operations, routes, runs, units,
tracks and carriers.

Master data is edited by integration admins and viewed by quality staff, as their group
permissions say. Runs, units and tracks list the values collected for them (read-only).
"""

from django.contrib import admin

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
    Run,
    Station,
    Track,
    Unit,
)


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
