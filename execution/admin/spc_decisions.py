"""Back office for SPC decisions (docs/quality.md): the SPC overview with "needs
attention" and its acknowledgements, and each spec's decisions page (rules, frozen
limits, values left out). The rules are execution/spc_control.py's; these pages read
forms and call it. Mixed into the data-spec admin (execution/admin/specs.py)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from execution.models import (
    DataSpec,
    DataValue,
    SpcExclusion,
    SpcSettings,
    SpcSignalAcknowledgement,
)
from execution.spc import ALL_RULES, NelsonRule
from execution.spc_control import (
    SpcDecisionRefused,
    acknowledge_signal,
    choose_rules,
    exclude_value,
    freeze_limits,
    include_value,
    unfreeze_limits,
)
from execution.spc_overview import needs_attention, spc_overview
from execution.spc_window import WINDOW_SIZES, Window, rules_of
from mes.admin.evidence import ReadOnlyAdmin

NOTE = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=2000)


class AcknowledgeForm(forms.Form):
    value = forms.IntegerField(widget=forms.HiddenInput)
    rule = forms.IntegerField(widget=forms.HiddenInput)
    note = NOTE


class RulesForm(forms.Form):
    rules = forms.MultipleChoiceField(
        choices=[(rule, f"{rule}: {NelsonRule(rule).description}") for rule in ALL_RULES],
        widget=forms.CheckboxSelectMultiple,
        label="Rules tested",
    )


class FreezeForm(forms.Form):
    size = forms.TypedChoiceField(
        choices=[(size, f"the newest {size} values") for size in WINDOW_SIZES],
        coerce=int,
        label="Baseline",
    )
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=2000
    )


class UnfreezeForm(forms.Form):
    note = NOTE


class ExcludeForm(forms.Form):
    value = forms.IntegerField(label="Value id", min_value=1)
    reason = NOTE


class IncludeForm(forms.Form):
    value = forms.IntegerField(widget=forms.HiddenInput)


FORMS = {
    "rules": RulesForm,
    "freeze": FreezeForm,
    "unfreeze": UnfreezeForm,
    "exclude": ExcludeForm,
    "include": IncludeForm,
}
# The permission each decision needs.
PERMISSIONS = {
    "acknowledge": "execution.add_spcsignalacknowledgement",
    "rules": "execution.change_spcsettings",
    "freeze": "execution.change_spcsettings",
    "unfreeze": "execution.change_spcsettings",
    "exclude": "execution.add_spcexclusion",
    "include": "execution.delete_spcexclusion",
}


def chart_url(spec: DataSpec) -> str:
    return reverse("admin:execution_dataspec_change", args=[spec.pk]) + "#spc"


def decisions_url(spec: DataSpec) -> str:
    return reverse("admin:execution_dataspec_spc_decisions", args=[spec.pk])


class SpcDecisionsMixin:
    """The overview and the decisions page, as URLs of the data-spec admin."""

    def get_urls(self):
        site = self.admin_site
        return [
            path("spc/", site.admin_view(self.overview_view), name="execution_dataspec_spc"),
            path(
                "spc/acknowledge/",
                site.admin_view(self.acknowledge_view),
                name="execution_dataspec_spc_acknowledge",
            ),
            path(
                "<int:spec_id>/spc-decisions/",
                site.admin_view(self.decisions_view),
                name="execution_dataspec_spc_decisions",
            ),
            *super().get_urls(),
        ]

    def overview_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        rows = spc_overview()
        context = {
            **self.admin_site.each_context(request),
            "title": "SPC overview",
            "opts": self.model._meta,
            "rows": [(row, chart_url(row.spec), decisions_url(row.spec)) for row in rows],
            "signals": [(signal, chart_url(signal.spec)) for signal in needs_attention(rows)],
            "may_acknowledge": request.user.has_perm(PERMISSIONS["acknowledge"]),
            "pass_fail_specs": DataSpec.objects.filter(is_active=True)
            .exclude(data_type=DataSpec.DataType.NUMBER)
            .exclude(data_type=DataSpec.DataType.JSON)
            .select_related("operation")
            .order_by("operation__code", "name"),
        }
        return TemplateResponse(request, "admin/execution/dataspec/spc_overview.html", context)

    def acknowledge_view(self, request):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:execution_dataspec_spc"))
        if not request.user.has_perm(PERMISSIONS["acknowledge"]):
            raise PermissionDenied
        form = AcknowledgeForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Not acknowledged: say why in the note.")
        else:
            value = get_object_or_404(
                DataValue.objects.select_related("spec"), pk=form.cleaned_data["value"]
            )
            try:
                acknowledge_signal(
                    value.spec,
                    value,
                    form.cleaned_data["rule"],
                    by=request.user,
                    note=form.cleaned_data["note"],
                )
            except SpcDecisionRefused as refused:
                messages.error(request, f"Not acknowledged: {refused}")
            else:
                rule = form.cleaned_data["rule"]
                messages.success(
                    request, f"Rule {rule} at value {value.pk} of {value.spec.name}: acknowledged."
                )
        return HttpResponseRedirect(reverse("admin:execution_dataspec_spc"))

    def decisions_view(self, request, spec_id):
        spec = get_object_or_404(DataSpec, pk=spec_id)
        if not self.has_view_permission(request, spec):
            raise PermissionDenied
        if request.method == "POST":
            self._decide(request, spec, request.POST.get("decision", ""))
            return HttpResponseRedirect(decisions_url(spec))
        settings = SpcSettings.objects.filter(spec=spec).select_related("frozen_by").first()
        context = {
            **self.admin_site.each_context(request),
            "title": f"SPC decisions: {spec.name}",
            "opts": self.model._meta,
            "spec": spec,
            "settings": settings,
            "chart_url": chart_url(spec),
            "rules_form": RulesForm(initial={"rules": [str(rule) for rule in rules_of(settings)]}),
            "freeze_form": FreezeForm(),
            "unfreeze_form": UnfreezeForm(),
            "exclude_form": ExcludeForm(),
            "exclusions": SpcExclusion.objects.filter(spec=spec)
            .select_related("value", "excluded_by")
            .order_by("-excluded_at")[:200],
            "acknowledgements": SpcSignalAcknowledgement.objects.filter(spec=spec)
            .select_related("acknowledged_by")
            .order_by("-acknowledged_at")[:50],
            "may": {name: request.user.has_perm(perm) for name, perm in PERMISSIONS.items()},
        }
        return TemplateResponse(request, "admin/execution/dataspec/spc_decisions.html", context)

    def _decide(self, request, spec: DataSpec, decision: str) -> None:
        if decision not in FORMS:
            messages.error(request, "Unknown decision.")
            return
        if not request.user.has_perm(PERMISSIONS[decision]):
            raise PermissionDenied
        form = FORMS[decision](request.POST)
        if not form.is_valid():
            problems = "; ".join(
                f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()
            )
            messages.error(request, f"Nothing was changed ({problems}).")
            return
        data, by = form.cleaned_data, request.user
        try:
            if decision == "rules":
                choose_rules(spec, data["rules"], by=by)
                done = f"rules {', '.join(map(str, sorted(map(int, data['rules']))))} are tested"
            elif decision == "freeze":
                settings = freeze_limits(spec, Window(size=data["size"]), by=by, note=data["note"])
                done = f"limits frozen to {settings.baseline}"
            elif decision == "unfreeze":
                unfreeze_limits(spec, by=by, note=data["note"])
                done = "limits are computed from each window again"
            else:
                value = DataValue.objects.filter(pk=data["value"], spec=spec).first()
                if value is None:
                    raise SpcDecisionRefused(f"Value {data['value']} is not a value of this spec.")
                if decision == "exclude":
                    exclude_value(value, reason=data["reason"], by=by)
                    done = f"value {value.pk} is left out of the figures"
                else:
                    include_value(value, by=by)
                    done = f"value {value.pk} counts again"
        except SpcDecisionRefused as refused:
            messages.error(request, f"Nothing was changed: {refused}")
        else:
            messages.success(request, f"{spec.name}: {done}.")


@admin.register(SpcSettings)
class SpcSettingsAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
    list_display = ["spec", "rules", "baseline", "frozen_by", "frozen_at"]
    list_select_related = ["spec", "frozen_by"]


@admin.register(SpcExclusion)
class SpcExclusionAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
    list_display = ["value", "spec", "reason", "excluded_by", "excluded_at"]
    list_select_related = ["spec", "excluded_by"]


@admin.register(SpcSignalAcknowledgement)
class SpcSignalAcknowledgementAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
    list_display = ["spec", "value", "rule", "note", "acknowledged_by", "acknowledged_at"]
    list_select_related = ["spec", "acknowledged_by"]
