"""Back office for holds: the list, each hold's page with the values behind it, and the
disposition form that closes a hold (docs/holds.md).

A hold is evidence like the values behind it: nobody edits or deletes it here. It is
closed only through `execution.holds.close_hold`, by people with `release_hold`.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from execution.admin.reason_codes import ReasonCodeField
from execution.admin.values import (
    VIEW_VALUES_PERMISSION,
    CollectedValuesMixin,
    out_of_spec_not_held_url,
    value_list_url,
)
from execution.holds import HoldNotOpen, close_hold
from execution.judging import describe_limits
from execution.models import DataValue, Hold
from execution.reason_codes import ReasonCodeRefused
from execution.unit_links import unit_link
from mes.admin.display import admin_link, badge, changelist_url
from mes.admin.evidence import EvidenceMixin
from mes.admin.unreadable_filters import ReadableFiltersMixin
from mes.database_errors import Cause, CommitUncertain, cause_of

RELEASE_PERMISSION = "execution.release_hold"


class DispositionForm(ReasonCodeField, forms.Form):
    disposition = forms.ChoiceField(choices=Hold.Disposition.choices, widget=forms.RadioSelect)
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why: what was checked, and what was decided. Kept with the hold.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_reason_field()

    def clean_note(self):
        note = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError("Say why in the note.")
        return note


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Closed")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(closed_at=None)
        if self.value() == "no":
            return queryset.exclude(closed_at=None)
        return queryset


@admin.register(Hold)
class HoldAdmin(ReadableFiltersMixin, EvidenceMixin, CollectedValuesMixin, SimpleHistoryAdmin):
    change_form_template = "admin/execution/hold/change_form.html"
    list_display = [
        "hold_id",
        "unit_link",
        "state",
        "spec",
        "cause",
        "value_count",
        "opened_at",
        "disposition",
        "closed_by",
        "closed_at",
    ]
    list_display_links = ["hold_id"]
    # Links to the values out of spec that no hold holds (docs/holds.md).
    change_list_template = "admin/execution/hold/change_list.html"
    list_filter = [OpenFilter, "disposition", "spec"]
    search_fields = ["=unit__sn", "=event_id"]
    search_help_text = "Unit serial or eventId, exactly."
    list_select_related = ["unit", "spec__operation", "closed_by", "first_value"]
    date_hierarchy = None
    # What opened the hold, each named as what it is: a hold is opened by a rule (the
    # spec's alarm limits with the HOLD action) on a value of an event, not by a person.
    fields = [
        "unit_link",
        "state",
        "opening_rule",
        "opening_value",
        "opening_event",
        "opened",
        "status_before",
        "disposition",
        "reason",
        "note",
        "closed_by",
        "closed_at",
    ]
    readonly_fields = fields
    # The History page (django-simple-history): each change's disposition, code and note.
    history_list_display = ["disposition", "reason", "note"]
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(value_total=Count("hold_values"))

    def changelist_view(self, request, extra_context=None):
        if request.user.has_perm(VIEW_VALUES_PERMISSION):
            extra_context = {**(extra_context or {}), "not_held_url": out_of_spec_not_held_url()}
        return super().changelist_view(request, extra_context)

    @admin.display(description="hold", ordering="id")
    def hold_id(self, hold):
        return f"Hold {hold.pk}"

    @admin.display(description="unit", ordering="unit__sn")
    def unit_link(self, hold):
        return unit_link(hold.unit)

    @admin.display(description="state", ordering="closed_at")
    def state(self, hold):
        return badge("HOLD", "open") if hold.is_open else badge("CLOSED", "closed")

    @admin.display(description="first value — limits")
    def cause(self, hold):
        value = hold.first_value
        return f"{value.value} — {describe_limits(hold.limits)}"

    @admin.display(description="opened by the rule")
    def opening_rule(self, hold):
        spec = hold.spec
        return format_html(
            "{} — {}",
            admin_link(reverse("admin:execution_dataspec_change", args=[spec.pk]), spec),
            describe_limits(hold.limits),
        )

    @admin.display(description="on the value")
    def opening_value(self, hold):
        value = hold.first_value
        return format_html(
            "{} ({}), measured at {} (device time)",
            admin_link(reverse("admin:execution_datavalue_change", args=[value.pk]), value.value),
            value.judge,
            f"{value.collected_at:%Y-%m-%d %H:%M:%S}",
        )

    @admin.display(description="of the event (eventId)")
    def opening_event(self, hold):
        return admin_link(
            changelist_url("integration", "integrationmessage", q=hold.event_id), hold.event_id
        )

    @admin.display(description="opened at (value received)")
    def opened(self, hold):
        return f"{hold.opened_at:%Y-%m-%d %H:%M:%S}"

    @admin.display(description="status before the hold")
    def status_before(self, hold):
        return hold.get_unit_status_before_display()

    @admin.display(description="values", ordering="value_total")
    def value_count(self, hold):
        return hold.value_total

    # The values behind the hold, under its page (CollectedValuesMixin).
    def collected_values(self, hold):
        return DataValue.objects.filter(hold_values__hold=hold)

    def collected_values_url(self, hold):
        return value_list_url(unitSn=hold.unit.sn, alarmed="1")

    def get_urls(self):
        close = self.admin_site.admin_view(self.close_view)
        return [
            path("<int:hold_id>/close/", close, name="execution_hold_close"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.is_open and request.user.has_perm(RELEASE_PERMISSION):
            context["disposition_form"] = DispositionForm()
            context["close_url"] = reverse("admin:execution_hold_close", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def close_view(self, request, hold_id):
        """POST only: close the hold with the form's disposition, then back to its page."""
        if not request.user.has_perm(RELEASE_PERMISSION):
            raise PermissionDenied
        hold = get_object_or_404(Hold, pk=hold_id)
        page = reverse("admin:execution_hold_change", args=[hold.pk])
        if request.method != "POST":
            return HttpResponseRedirect(page)
        form = DispositionForm(request.POST)
        if not form.is_valid():
            problems = "; ".join(
                f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()
            )
            messages.error(request, f"Hold {hold.pk} was not closed ({problems}).")
            return HttpResponseRedirect(page)
        disposition = form.cleaned_data["disposition"]
        try:
            close_hold(
                hold.pk,
                disposition=disposition,
                note=form.cleaned_data["note"],
                closed_by=request.user,
                reason=form.cleaned_data.get("reason") or None,
            )
        except HoldNotOpen as closed:
            messages.warning(request, str(closed))
        except ReasonCodeRefused as refused:
            # Retired (or the first code added) since the form was shown.
            messages.error(request, f"Hold {hold.pk} was not closed ({refused}).")
        except CommitUncertain:
            messages.error(
                request,
                "The database connection was lost while the hold was being closed: it may or "
                "may not be closed. This page shows which.",
            )
        except DatabaseError as error:
            cause = cause_of(error)
            why = (
                "the unit is being written to right now"
                if cause is Cause.LOCK_TIMEOUT
                else f"the database could not take it now ({cause.value})"
            )
            messages.error(request, f"Nothing was changed: {why}. Try again.")
        else:
            label = Hold.Disposition(disposition).label.lower()
            messages.success(request, f"Hold {hold.pk} closed: {label}; unit {hold.unit.sn}.")
        return HttpResponseRedirect(page)
