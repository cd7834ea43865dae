"""Back office for runs (docs/runs.md): the list and form of a run, its authorization
(PREP → AUTHORIZED: a button on its page and a list action) and, on its page, where its
units are, its yields and its units' open holds.

A run's status is the MES's: the form shows it read-only. Authorizing goes through
`execution.run_authorization.authorize_run` only, for people with `authorize_run`;
track-in and the last unit's finish move it on (docs/execution.md). The figures come
from `execution.run_progress`.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from execution.admin.master_data_tables import MasterDataTables, RunResource
from execution.admin.values import CollectedValuesMixin, value_list_url
from execution.master_data.runs import PLANNED
from execution.models import DataValue, Run, Unit
from execution.run_authorization import (
    AUTHORIZE_PERMISSION,
    Authorization,
    AuthorizationRefused,
    authorize_run,
)
from execution.run_progress import AT_STEP, FINISHED, RunProgress, run_progress
from mes.admin.unreadable_filters import ReadableFiltersMixin
from mes.database_errors import Cause, CommitUncertain, bounded_transaction, cause_of

VIEW_UNITS_PERMISSION = "execution.view_unit"
VIEW_HOLDS_PERMISSION = "execution.view_hold"


@admin.register(Run)
class RunAdmin(ReadableFiltersMixin, CollectedValuesMixin, MasterDataTables, admin.ModelAdmin):
    resource_classes = [RunResource]
    change_form_template = "admin/execution/run/change_form.html"
    list_display = [
        "run_no",
        "wo_no",
        "line_code",
        "route_version",
        "status",
        "started_at",
        "completed_at",
    ]
    list_filter = ["status", "line_code", "route_version"]
    search_fields = ["run_no", "wo_no"]
    list_select_related = ["route_version"]
    actions = ["authorize_selected"]
    fields = [
        "run_no",
        "wo_no",
        "line_code",
        "route_version",
        "status",
        "started_at",
        "completed_at",
    ]
    # The status is the MES's (docs/runs.md): a new run is PREP; Authorize makes it
    # AUTHORIZED, the first track-in IN_PROGRESS and the last unit's finish COMPLETED
    # (with started at and completed at). A form that wrote it would skip their checks.
    readonly_fields = ["status", "started_at", "completed_at"]

    def get_readonly_fields(self, request, obj=None):
        # A started run's route is fixed, as in master data (RUN_STARTED): its units
        # were tracked along it; only a run still PLANNED (PREP, AUTHORIZED) may change
        # it. Asked again when the form is saved, with the run as it is then, so a form
        # opened before the run started cannot write it.
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status not in PLANNED:
            readonly.append("route_version")
        return readonly

    def get_object(self, request, object_id, from_field=None):
        run = super().get_object(request, object_id, from_field)
        if run is not None and request.method == "POST":
            # Saved as it is now, under its row lock (the admin's save is one
            # transaction): a track-in starting the run waits for the save, or has set
            # IN_PROGRESS already; the form then neither writes AUTHORIZED back over it
            # nor changes its route. The form writes every field of the row.
            run = Run.objects.select_for_update().get(pk=run.pk)
        return run

    def has_authorize_permission(self, request):
        return request.user.has_perm(AUTHORIZE_PERMISSION)

    def collected_values(self, run):
        return DataValue.objects.filter(run=run)  # stored with each value, indexed

    def collected_values_url(self, run):
        return value_list_url(runNo=run.run_no)

    # --- authorizing ---

    @admin.action(
        description="Authorize selected runs (PREP → AUTHORIZED)", permissions=["authorize"]
    )
    def authorize_selected(self, request, queryset):
        done, already, refused = [], [], []
        for run in queryset.order_by("run_no"):
            outcome = self._authorize(request, run)
            if isinstance(outcome, Authorization):
                (done if outcome.changed else already).append(run.run_no)
            else:
                refused.append(outcome)
        if done:
            messages.success(request, f"Authorized: {', '.join(done)}.")
        if already:
            messages.info(request, f"Already authorized, left as they were: {', '.join(already)}.")
        for reason in refused:
            messages.error(request, reason)

    def get_urls(self):
        authorize = self.admin_site.admin_view(self.authorize_view)
        return [
            path("<int:run_id>/authorize/", authorize, name="execution_run_authorize"),
            *super().get_urls(),
        ]

    def authorize_view(self, request, run_id):
        """POST only: authorize the run, then back to its page with what happened."""
        if not self.has_authorize_permission(request):
            raise PermissionDenied
        run = get_object_or_404(Run, pk=run_id)
        page = reverse("admin:execution_run_change", args=[run.pk])
        if request.method != "POST":
            return HttpResponseRedirect(page)
        outcome = self._authorize(request, run)
        if not isinstance(outcome, Authorization):
            messages.error(request, outcome)
        elif outcome.changed:
            messages.success(request, f"Run {run.run_no} authorized: its units may be tracked in.")
        else:
            messages.info(request, f"Run {run.run_no} was already authorized.")
        return HttpResponseRedirect(page)

    def _authorize(self, request, run: Run) -> Authorization | str:
        """Call the one path; the outcome, or why nothing was changed (a sentence)."""
        try:
            # Bounded as a disposition is: a run being written to right now makes the
            # person try again, not wait.
            with bounded_transaction(
                lock_timeout_ms=settings.INGEST_LOCK_TIMEOUT_MS,
                statement_timeout_ms=settings.INGEST_STATEMENT_TIMEOUT_MS,
            ):
                outcome = authorize_run(run, by=request.user)
        except AuthorizationRefused as refusal:
            return f"{refusal.message} ({refusal.code})."
        except CommitUncertain:
            return (
                f"The database connection was lost while run {run.run_no} was being "
                "authorized: it may or may not be. Its page shows which."
            )
        except DatabaseError as error:
            cause = cause_of(error)
            why = (
                "it is being written to right now"
                if cause is Cause.LOCK_TIMEOUT
                else f"the database could not take it now ({cause.value})"
            )
            return f"Run {run.run_no} was not changed: {why}. Try again."
        if outcome.changed:
            # Who and when: the run's history (the admin's log).
            self.log_change(request, outcome.run, "Authorized (PREP → AUTHORIZED).")
        return outcome

    # --- the run's page ---

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            progress = run_progress(obj)
            can_view_units = request.user.has_perm(VIEW_UNITS_PERMISSION)
            context["progress"] = progress
            context["progress_tables"] = progress_tables(progress, can_view_units)
            context["can_view_units"] = can_view_units
            context["can_view_holds"] = request.user.has_perm(VIEW_HOLDS_PERMISSION)
            if obj.status == Run.Status.PREP and self.has_authorize_permission(request):
                context["authorize_url"] = reverse("admin:execution_run_authorize", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)


def units_url(run: Run, **filters) -> str:
    """The unit list, filtered to the run's units and `filters` (lookups of Unit's own
    fields, which the admin allows in the address, or its list filters')."""
    query = {"run__id__exact": run.pk, **filters}
    return reverse("admin:execution_unit_changelist") + "?" + urlencode(query)


def progress_tables(progress: RunProgress, linked: bool) -> dict:
    """The page's cells: each count with the unit list showing exactly those units, when
    the person may see units (`linked`) and the count is not zero."""
    run = progress.run

    def cell(units: int, **filters):
        return {"units": units, "url": units_url(run, **filters) if linked and units else ""}

    by_status = [
        {"status": status, "label": label, **cell(units, status__exact=status)}
        for status, label, units in progress.by_status
    ]
    steps = [
        {
            "step_no": row.step_no,
            "operation": row.step.operation if row.step else None,
            "cells": [
                cell(units, current_step_no=row.step_no, status__exact=status)
                for status, units in row.cells
            ],
        }
        for row in progress.steps
    ]
    return {
        "by_status": by_status,
        "all_units": cell(progress.units),
        "columns": [Unit.Status(status).label for status in AT_STEP],
        "steps": steps,
        "not_started": cell(
            progress.not_started, current_step_no__isnull="True", status__in=",".join(AT_STEP)
        ),
        "finished_without_pass": cell(
            progress.finished_without_pass, status__in=",".join(FINISHED), tracked="no"
        ),
    }
