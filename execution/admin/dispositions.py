"""Back office for failed units' dispositions (docs/execution.md): the list of what was
decided, by whom and why, and the form that decides it for a unit that failed a step
(OUT_FAILED): rework at a chosen step of its run's route, or scrap, with a note.

A disposition is evidence, like a hold's: nobody edits or deletes it here. It is made
only through `execution.tracking.dispose_failed_unit`, by people with
`dispose_failed_unit` (Quality staff); its refusals are the form's errors.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from execution.admin.reason_codes import ReasonCodeField
from execution.failure_dispositions import dispose_failed_unit
from execution.models import FailureDisposition, PassResult, Track, Unit
from execution.reason_codes import ReasonCodeRefused
from execution.tracking import TrackingRefused
from execution.unit_history import route_steps
from execution.unit_links import unit_link, unit_page_url
from mes.admin.evidence import ReadOnlyAdmin
from mes.database_errors import Cause, CommitUncertain, bounded_transaction, cause_of

DISPOSE_PERMISSION = "execution.dispose_failed_unit"
REWORK = FailureDisposition.Disposition.REWORK


class FailedUnitDispositionForm(ReasonCodeField, forms.Form):
    """Rework at a step of the unit's route, or scrap, and why. The step and the note
    are checked by `dispose_failed_unit` itself (its refusals become this form's errors),
    so the rule is held in one place."""

    disposition = forms.ChoiceField(
        choices=FailureDisposition.Disposition.choices, widget=forms.RadioSelect
    )
    # A number, not a choice among the steps: a step that left the route since the page
    # was opened is refused by the service (STEP_NOT_IN_ROUTE), as any other caller's.
    rework_step_no = forms.IntegerField(
        label="Rework at step",
        required=False,
        widget=forms.Select,
        help_text="Rework: the step of the run's route where the unit starts again "
        "(its next track-in). Not used for scrap.",
    )
    note = forms.CharField(
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why: what was found, and what was decided. Kept with the failed pass.",
    )

    def __init__(self, *args, steps=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.add_reason_field()
        self.fields["rework_step_no"].widget.choices = [("", "—")] + [
            (step.step_no, f"step {step.step_no}: {step.operation.code} — {step.operation.name}")
            for step in steps
        ]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("disposition") == REWORK:
            if cleaned.get("rework_step_no") is None and "rework_step_no" not in self.errors:
                self.add_error("rework_step_no", "Choose the step where the rework starts.")
        else:
            cleaned["rework_step_no"] = None
        return cleaned


def failed_pass(unit: Unit) -> Track | None:
    """The unit's latest failed pass: the one a disposition answers."""
    # station: the page names where it failed.
    return (
        unit.tracks.filter(result=PassResult.FAIL)
        .select_related("station")
        .order_by("-in_at", "-pk")
        .first()
    )


def dispose_url(unit: Unit) -> str:
    """The disposition form of a failed unit."""
    return reverse("admin:execution_failuredisposition_dispose", args=[unit.pk])


@admin.register(FailureDisposition)
class FailureDispositionAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
    list_display = [
        "decision",
        "unit_link",
        "disposition",
        "rework_step_no",
        "reason",
        "failed_at",
        "defect",
        "decided_by",
        "decided_at",
    ]
    list_display_links = ["decision"]
    list_filter = ["disposition"]
    search_fields = ["=unit__sn"]
    search_help_text = "Unit serial number, exactly."
    list_select_related = ["unit", "decided_by", "track__station"]
    date_hierarchy = "decided_at"
    fields = [
        "unit_link",
        "failed_at",
        "defect",
        "disposition",
        "rework_step_no",
        "reason",
        "note",
        "decided_by",
        "decided_at",
    ]
    readonly_fields = fields

    @admin.display(description="disposition", ordering="id")
    def decision(self, decision):
        return f"Disposition {decision.pk}"

    @admin.display(description="unit", ordering="unit__sn")
    def unit_link(self, decision):
        return unit_link(decision.unit)

    @admin.display(description="failed at")
    def failed_at(self, decision):
        track = decision.track
        return f"step {track.step_no} @ {track.station or '—'}"

    @admin.display(description="defect")
    def defect(self, decision):
        track = decision.track
        where = f" at {track.defect_location}" if track.defect_location else ""
        return f"{track.defect_code or '—'}{where}"

    def get_urls(self):
        dispose = self.admin_site.admin_view(self.dispose_view)
        return [
            path(
                "dispose/<int:unit_id>/",
                dispose,
                name="execution_failuredisposition_dispose",
            ),
            *super().get_urls(),
        ]

    def dispose_view(self, request, unit_id):
        """The form (GET) and the decision (POST): back to the unit's page once decided,
        the form again with the refusal or the database's answer otherwise."""
        if not request.user.has_perm(DISPOSE_PERMISSION):
            raise PermissionDenied
        # run__route_version: the page names the run and its route.
        unit = get_object_or_404(Unit.objects.select_related("run__route_version"), pk=unit_id)
        steps = route_steps(unit)
        if request.method == "POST":
            form = FailedUnitDispositionForm(request.POST, steps=steps)
            if form.is_valid() and self._decide(request, unit, form):
                return HttpResponseRedirect(unit_page_url(unit))
        else:
            form = FailedUnitDispositionForm(steps=steps)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Disposition of failed unit {unit.sn}",
            "unit": unit,
            "failed": failed_pass(unit),
            "is_failed": unit.status == Unit.Status.OUT_FAILED,
            "steps": steps,
            "form": form,
            "unit_page_url": unit_page_url(unit),
        }
        return TemplateResponse(request, "admin/execution/failuredisposition/dispose.html", context)

    def _decide(self, request, unit: Unit, form: FailedUnitDispositionForm) -> bool:
        """Call the one path; True once decided. A refusal is added to the form."""
        data = form.cleaned_data
        try:
            # Bounded as the stations API bounds track-in and track-out: a unit being
            # written to right now makes the person try again, not wait.
            with bounded_transaction(
                lock_timeout_ms=settings.INGEST_LOCK_TIMEOUT_MS,
                statement_timeout_ms=settings.INGEST_STATEMENT_TIMEOUT_MS,
            ):
                decision = dispose_failed_unit(
                    unit.sn,
                    disposition=data["disposition"],
                    note=data["note"],
                    decided_by=request.user,
                    rework_step_no=data["rework_step_no"],
                    reason=data.get("reason") or None,
                )
        except TrackingRefused as refusal:
            field = "rework_step_no" if refusal.code == "STEP_NOT_IN_ROUTE" else None
            form.add_error(field, f"{refusal.message} ({refusal.code}).")
            return False
        except ReasonCodeRefused as error:
            # Retired (or the first code added) since the form was shown.
            form.add_error(None, str(error))
            return False
        except ValueError as error:
            # The form has checked the disposition: what is left is an empty note.
            form.add_error("note", str(error))
            return False
        except CommitUncertain:
            messages.error(
                request,
                "The database connection was lost while the disposition was being saved: it "
                "may or may not be saved. The unit's page shows which.",
            )
            return False
        except DatabaseError as error:
            cause = cause_of(error)
            why = (
                "the unit is being written to right now"
                if cause is Cause.LOCK_TIMEOUT
                else f"the database could not take it now ({cause.value})"
            )
            messages.error(request, f"Nothing was changed: {why}. Try again.")
            return False
        if decision.disposition == REWORK:
            outcome = f"rework at step {decision.rework_step_no}; its next track-in starts there"
        else:
            outcome = "scrapped"
        messages.success(request, f"Unit {unit.sn}: {outcome}.")
        return True
