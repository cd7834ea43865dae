"""Import and export of master data in the back office, as CSV or XLSX tables
(docs/master-data.md): django-import-export's pages (upload, preview, confirm; export with
the list's filters), with our own rows and rules underneath. A table's rows become a
bundle (execution/master_data/tables.py) written by `import_bundle` — the service the API
and `manage.py import_master_data` call — all or nothing: the preview is the same import
rolled back, and a refused row names its row and column."""

import contextlib
import json

import tablib
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError
from django.http import HttpResponseRedirect
from django.urls import reverse
from import_export import fields, resources
from import_export.admin import ImportExportMixin
from import_export.forms import ExportForm
from import_export.results import RowResult

from execution.admin.table_formats import TableCSV, TableUnreadable, TableXLSX
from execution.master_data import MasterDataRefused, import_bundle, preview_bundle
from execution.master_data.bundle import SECTIONS
from execution.master_data.errors import CREATED, UNCHANGED, UPDATED
from execution.master_data.tables import (
    LIST_SEPARATOR,
    Place,
    TabledBundle,
    TableRefused,
    bundle_from_tables,
    columns,
    read_rows,
    reason,
)
from execution.models import DataSpec, Operation, RouteStep, Run, Station, Unit
from mes.database_errors import cause_of

IMPORT_TYPES = {
    CREATED: RowResult.IMPORT_TYPE_NEW,
    UNCHANGED: RowResult.IMPORT_TYPE_SKIP,
}


class TableResource(resources.Resource):
    """One table of master data: `table` names it (tables.TABLES), `row_of` writes an
    object as one of its rows."""

    table = ""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # The columns shown on the import page and written by the export, in order.
        self.fields = {name: fields.Field(column_name=name) for name in columns(self.table)}

    @classmethod
    def get_display_name(cls):
        return f"{cls.table}.csv"

    def get_queryset(self):
        raise NotImplementedError

    def row_of(self, obj) -> dict:
        raise NotImplementedError

    def export(self, queryset=None, **kwargs):
        headers = columns(self.table)
        dataset = tablib.Dataset(headers=headers)
        for obj in self.exported(self.get_queryset() if queryset is None else queryset):
            row = self.row_of(obj)
            dataset.append([_cell(row.get(name)) for name in headers])
        return dataset

    def exported(self, queryset):
        """The objects an export of `queryset` (the list as filtered) writes."""
        return queryset

    def before(self, rows: list[tuple[Place, dict]]):
        """What the rows' own actions need to know before the import changes it."""
        return None

    def row_action(self, row: dict, before) -> str | None:
        """new, update or skip for one row, where its item's outcome would mislead."""
        return None

    def removed(self, read: TabledBundle) -> list[dict]:
        """Rows the import takes away (shown as deleted in the preview)."""
        return []

    def import_data(self, dataset, dry_run=False, **kwargs):
        """The table through `preview_bundle` (dry_run) or `import_bundle`: every row or
        none. A refusal is the result's invalid row, with its column."""
        result = self.get_result_class()()
        result.diff_headers = columns(self.table)
        result.total_rows = len(dataset)
        label = kwargs.get("file_name") or self.table
        read = None
        try:
            rows = read_rows(self.table, label, dataset.headers, dataset)
            read = bundle_from_tables({self.table: rows}, label)
            before, removed = self.before(rows), self.removed(read)
            outcomes = (preview_bundle if dry_run else import_bundle)(read.bundle)
        except TableRefused as refusal:
            _refused_row(result, dataset, refusal.place, refusal.column, refusal.reason)
        except MasterDataRefused as refusal:
            place, column = read.locate(refusal)
            text = f"{reason(refusal)} ({refusal.code})"
            _refused_row(result, dataset, place, column, text)
        except DatabaseError as error:
            # A lock held too long, a lost connection: nothing was written.
            why = f"the database could not take it now ({cause_of(error).value}): try again."
            _refused_row(result, dataset, label, "", why)
        else:
            self._rows_of_outcomes(result, rows, read, outcomes, before)
            for row in removed:
                _shown(result, row, RowResult.IMPORT_TYPE_DELETE)
        return result

    def _rows_of_outcomes(self, result, rows, read: TabledBundle, outcomes, before) -> None:
        """Each row shown as new, update or skip: what the import did to it, or to its
        item where the row alone cannot tell."""
        action_of = {}
        rows_of_item = read.rows_by_item()
        index = 0
        for section in SECTIONS:
            for item in range(len(read.bundle.get(section) or [])):
                for place in rows_of_item[f"{section}[{item}]"]:
                    action_of.setdefault(place, outcomes[index].action)
                index += 1
        for place, row in rows:
            action = self.row_action(row, before) or action_of[place]
            _shown(result, row, IMPORT_TYPES.get(action, RowResult.IMPORT_TYPE_UPDATE))


def _shown(result, row: dict, import_type: str) -> None:
    row_result = RowResult()
    row_result.import_type = import_type
    row_result.diff = [_cell(row.get(name)) for name in result.diff_headers]
    result.append_row_result(row_result)
    result.increment_row_result_total(row_result)


def _refused_row(result, dataset, place, column: str, reason: str) -> None:
    number = place.row if isinstance(place, Place) else 1
    try:
        values = dataset[number - 2] if number > 1 else dataset.headers or []
    except IndexError:
        values = []
    row = dict(zip(dataset.headers or [], values, strict=False))
    error = ValidationError({column or NON_FIELD_ERRORS: [reason]})
    result.append_invalid_row(number, row, error)
    result.totals[RowResult.IMPORT_TYPE_INVALID] += 1


def _cell(value):
    """A value as a table cell: lists joined by "|", limits as JSON."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(str(part) for part in value)
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class StationResource(TableResource):
    table = "stations"

    def get_queryset(self):
        return Station.objects.order_by("code")

    def row_of(self, station):
        return {
            "code": station.code,
            "name": station.name,
            "stationType": station.station_type,
            "lineCode": station.line_code,
            "trackedByMachine": station.tracked_by_machine,
        }


class OperationResource(TableResource):
    table = "operations"

    def get_queryset(self):
        return Operation.objects.order_by("code")

    def row_of(self, operation):
        return {"code": operation.code, "name": operation.name}


class SpecResource(TableResource):
    table = "specs"

    def before(self, rows):
        codes = {row.get("operationCode") for _place, row in rows}
        return set(
            DataSpec.objects.filter(operation__code__in=codes).values_list(
                "operation__code", "name"
            )
        )

    def row_action(self, row, before):
        return None if (row.get("operationCode"), row.get("name")) in before else CREATED

    def get_queryset(self):
        return DataSpec.objects.select_related("operation").order_by("operation__code", "name")

    def row_of(self, spec):
        return {
            "operationCode": spec.operation.code,
            "name": spec.name,
            "dataType": spec.data_type,
            "itemType": spec.item_type,
            "method": spec.method,
            "triggerType": spec.trigger_type,
            "triggerRule": spec.trigger_rule,
            "isRequired": spec.is_required,
            "isActive": spec.is_active,
            "spec": spec.spec,
            "alarm": spec.alarm,
        }


class RouteStepResource(TableResource):
    table = "route_steps"

    def get_queryset(self):
        return (
            RouteStep.objects.select_related("route_version", "operation")
            .prefetch_related("allowed_stations", "data_specs")
            .order_by("route_version__code", "route_version__version_no", "step_no")
        )

    def exported(self, queryset):
        # A route version is its steps: a filtered list exports every step of each version
        # it shows, so the file imports back without taking steps away.
        return self.get_queryset().filter(route_version__in=queryset.values("route_version"))

    def removed(self, read):
        """The steps of each version the upload names that its rows leave out."""
        gone = []
        for route in read.bundle.get("routes") or []:
            kept = {step.get("stepNo") for step in route.get("steps") or []}
            steps = self.get_queryset().filter(
                route_version__code=route.get("code"),
                route_version__version_no=route.get("version"),
            )
            gone += [self.row_of(step) for step in steps if step.step_no not in kept]
        return gone

    def row_of(self, step):
        return {
            "routeCode": step.route_version.code,
            "version": step.route_version.version_no,
            "stepNo": step.step_no,
            "operationCode": step.operation.code,
            "stationType": step.station_type,
            "allowedStations": sorted(station.code for station in step.allowed_stations.all()),
            "specs": sorted(spec.name for spec in step.data_specs.all()),
        }


class RunResource(TableResource):
    table = "runs"

    def get_queryset(self):
        return Run.objects.select_related("route_version").order_by("run_no")

    def row_of(self, run):
        version = run.route_version
        return {
            "runNo": run.run_no,
            "woNo": run.wo_no,
            "routeCode": version.code if version else "",
            "routeVersion": version.version_no if version else "",
            "lineCode": run.line_code,
            # Past AUTHORIZED the MES owns the status: blank, which an import keeps.
            "status": run.status if run.status in (Run.Status.PREP, Run.Status.AUTHORIZED) else "",
        }


class SerialResource(TableResource):
    table = "serials"

    def get_queryset(self):
        return Unit.objects.select_related("run").order_by("run__run_no", "sn")

    def row_of(self, unit):
        return {"runNo": unit.run.run_no if unit.run else "", "sn": unit.sn}

    def before(self, rows):
        serials = [row.get("sn") for _place, row in rows]
        runs = {}
        for start in range(0, len(serials), 900):
            runs.update(
                Unit.objects.filter(sn__in=serials[start : start + 900]).values_list(
                    "sn", "run__run_no"
                )
            )
        return runs

    def row_action(self, row, before):
        if row.get("sn") not in before:
            return CREATED
        return UNCHANGED if before[row["sn"]] == row.get("runNo") else UPDATED


class MasterDataTables(ImportExportMixin):
    """Import and export on a master-data list: CSV and XLSX, a preview before anything
    is written, the export of what the list shows."""

    formats = [TableCSV, TableXLSX]
    export_form_class = ExportForm  # the table's columns, all of them: they import back
    # The import writes through the service, not row by row: no per-object log entries.
    skip_admin_log = True
    # Permissions an import needs beyond the list's add and change.
    import_permissions = ()

    def has_import_permission(self, request):
        # Adds and changes rows: both permissions of the list, as its forms ask.
        return (
            self.has_add_permission(request)
            and self.has_change_permission(request)
            and request.user.has_perms(self.import_permissions)
        )

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        # An upload whose preview was refused is never confirmed: not kept either.
        upload = request.FILES.get("import_file")
        stored = getattr(upload, "tmp_storage_name", None)
        context = getattr(response, "context_data", None) or {}
        if stored and context.get("confirm_form") is None:
            with contextlib.suppress(OSError):
                self.get_tmp_storage_class()(name=stored).remove()
        return response

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, TableUnreadable):
            form.add_error("import_file", f"The file cannot be read: {e}")
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def process_import(self, request, **kwargs):
        try:
            return super().process_import(request, **kwargs)
        except FileNotFoundError:
            # Confirmed twice, or the upload's temporary file is gone: nothing written.
            messages.error(
                request,
                "This import was already confirmed, or its upload has expired: nothing "
                "was written. Upload the file again.",
            )
            return HttpResponseRedirect(self._import_url())

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            # Refused at the confirmation (the database changed since the preview).
            for row in result.invalid_rows:
                for name, reasons in row.error_dict.items():
                    column = "" if name == NON_FIELD_ERRORS else f", {name}"
                    text = f"Row {row.number}{column}: {' '.join(reasons)}"
                    messages.error(request, f"{text} Nothing was written.")
            return HttpResponseRedirect(self._import_url())
        self._log_import(result, request)
        return super().process_result(result, request)

    def _log_import(self, result, request) -> None:
        """One entry in the admin's log for the whole import: who, which file, what."""
        totals = result.totals
        LogEntry.objects.create(
            user_id=request.user.pk,
            content_type=ContentType.objects.get_for_model(self.model),
            object_repr=f"import of {request.POST.get('original_file_name', '')}"[:200],
            action_flag=CHANGE,
            change_message=(
                f"Imported {result.total_rows} rows: {totals[RowResult.IMPORT_TYPE_NEW]} new, "
                f"{totals[RowResult.IMPORT_TYPE_UPDATE]} updated, "
                f"{totals[RowResult.IMPORT_TYPE_SKIP]} unchanged."
            ),
        )

    def _import_url(self) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse(f"admin:{info[0]}_{info[1]}_import", current_app=self.admin_site.name)
