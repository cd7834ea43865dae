"""The unit's page in the back office, and finding a unit by its serial number.

The unit's page (admin/execution/unit/<id>/page/) shows its run and route, where it is
on that route, its passes (who, result, defect) and its failed passes' dispositions,
then its whole history as a timeline in the order it was received: passes in and out,
records, values with the limits they were judged against, holds, dispositions and
messages, each row linking to its own page with its details folded under it, a page of
PAGE_ROWS rows at a time, and the same history as CSV (docs/unit-page.md). Its verdict
(status, FAIL values, open hold) stands first. People who
may only view units land on it from the unit's change view; editors get a link there.

It lives here, not in execution, because it shows records and messages: execution never
imports integration (docs/DECISIONS.md: app layers). This module registers the Unit admin again, as
execution's UnitAdmin extended with these pages.
"""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from execution.admin.dispositions import DISPOSE_PERMISSION, dispose_url
from execution.admin.master_data import UnitAdmin
from execution.models import Run, Unit
from execution.unit_history import PAGE_ROWS, Cursor, route_steps, unit_scope
from execution.unit_links import unit_page_url
from execution.unit_verdict import unit_verdict
from integration.unit_history import (
    RECORD_KEYS_READ,
    UNRESOLVED_SCANNED,
    history_page,
    message_counts,
)
from integration.unit_history_csv import stream_unit_history_csv
from integration.unit_journey import unit_journey
from mes.admin.paging import BoundedCountPaginator

VIEW_MESSAGES_PERMISSION = "integration.view_integrationmessage"
# Runs whose number starts with a search term, beyond which the unit search ignores runs.
RUNS_SEARCHED = 1_000


def unit_list_url(**params) -> str:
    return reverse("admin:execution_unit_changelist") + "?" + urlencode(params)


class UnitPageAdmin(UnitAdmin):
    """execution's UnitAdmin, with the unit's page, its CSV and the serial-number search."""

    # Units are one per board: the list counts boundedly, as the evidence lists do.
    paginator = BoundedCountPaginator
    show_full_result_count = False
    list_display = [*UnitAdmin.list_display, "page_link"]
    search_help_text = "Unit serial number or run number: the whole number or its beginning."
    change_form_template = "admin/execution/unit/change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("find/", view(self.find_view), name="execution_unit_find"),
            path("by-sn/<path:sn>/", view(self.by_sn_view), name="execution_unit_by_sn"),
            path("<path:object_id>/page/", view(self.page_view), name="execution_unit_page"),
            path(
                "<path:object_id>/page.csv",
                view(self.page_csv_view),
                name="execution_unit_page_csv",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="page")
    def page_link(self, unit):
        return format_html('<a href="{}">unit\'s page</a>', unit_page_url(unit))

    def get_search_results(self, request, queryset, search_term):
        # Prefixes, from the serial number's and run number's unique indexes (a
        # contains-search reads every unit); case-sensitive, as the numbers are.
        term = search_term.strip()
        if not term:
            return queryset, False
        runs = Run.objects.filter(run_no__startswith=term).values_list("pk", flat=True)
        run_ids = list(runs[:RUNS_SEARCHED])
        return queryset.filter(Q(sn__startswith=term) | Q(run_id__in=run_ids)), False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # People who may only view units see the unit's page instead of a read-only form.
        if self.has_view_permission(request) and not self.has_change_permission(request):
            return redirect("admin:execution_unit_page", object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    # --- finding a unit by its serial number ---

    def _unit_id(self, request, sn: str) -> int | None:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return Unit.objects.filter(sn=sn).values_list("pk", flat=True).first()

    def find_view(self, request):
        """The admin index's search box: the unit's page on an exact serial number, else
        the unit list searched by it."""
        sn = request.GET.get("sn", "").strip()
        unit_id = self._unit_id(request, sn) if sn else None
        if unit_id is not None:
            return redirect("admin:execution_unit_page", unit_id)
        return HttpResponseRedirect(unit_list_url(q=sn) if sn else unit_list_url())

    def by_sn_view(self, request, sn):
        """Links from rows that name a unit only by its serial number."""
        unit_id = self._unit_id(request, sn)
        if unit_id is None:
            self.message_user(request, f"No unit has the serial number {sn}.", messages.WARNING)
            return HttpResponseRedirect(unit_list_url(q=sn))
        return redirect("admin:execution_unit_page", unit_id)

    # --- the unit's page and its CSV ---

    def _unit(self, request, object_id) -> Unit:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            # run__route_version: the header's run and route.
            return Unit.objects.select_related("run__route_version").get(pk=int(object_id))
        except (ValueError, Unit.DoesNotExist):
            raise Http404(f"No unit with id {object_id}.") from None

    def page_view(self, request, object_id):
        """The unit, its route, and a page of its history from `?from=<cursor>`."""
        unit = self._unit(request, object_id)
        scope = unit_scope(unit)
        steps = route_steps(unit)
        page = history_page(scope, request.user, Cursor.parse(request.GET.get("from")), PAGE_ROWS)
        page_url = reverse("admin:execution_unit_page", args=[unit.pk])
        sees_messages = request.user.has_perm(VIEW_MESSAGES_PERMISSION)
        may_dispose = unit.status == Unit.Status.OUT_FAILED and request.user.has_perm(
            DISPOSE_PERMISSION
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Unit {unit.sn}",
            "unit": unit,
            "steps": steps,
            "journey": unit_journey(scope, steps, request.user),
            "verdict": unit_verdict(scope, request.user),
            "dispose_url": dispose_url(unit) if may_dispose else None,
            "page": page,
            "page_rows": PAGE_ROWS,
            "is_first_page": "from" not in request.GET,
            "first_url": page_url,
            "next_url": f"{page_url}?{urlencode({'from': str(page.next_cursor)})}"
            if page.next_cursor
            else None,
            "csv_url": reverse("admin:execution_unit_page_csv", args=[unit.pk]),
            "change_url": reverse("admin:execution_unit_change", args=[unit.pk])
            if self.has_change_permission(request, unit)
            else None,
            "counts": message_counts(scope) if sees_messages else None,
            "records_beyond_keys": scope.extra.get("records_beyond_keys", False),
            "record_keys_read": RECORD_KEYS_READ,
            "unresolved_scanned": UNRESOLVED_SCANNED,
        }
        return TemplateResponse(request, "admin/execution/unit/unit_page.html", context)

    def page_csv_view(self, request, object_id):
        """The unit's whole history as CSV, streamed."""
        unit = self._unit(request, object_id)
        response = StreamingHttpResponse(
            stream_unit_history_csv(unit, request.user), content_type="text/csv; charset=utf-8"
        )
        safe_sn = "".join(c if c.isalnum() or c in "-_." else "_" for c in unit.sn)
        response["Content-Disposition"] = f'attachment; filename="unit-{safe_sn}-history.csv"'
        response["Cache-Control"] = "no-store"
        return response


admin.site.unregister(Unit)
admin.site.register(Unit, UnitPageAdmin)
