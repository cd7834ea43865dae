"""The SPC section of a NUMBER spec's admin page: window controls, chart, figures, rules.

The window is chosen with GET parameters on the spec's own page (`values`,
`from`, `to`, `station`, `equipment`: docs/quality.md); the figures come from
execution/spc_window.py, the chart (I-MR, X̄-R or X̄-S), the histogram and the PPM
table from execution/admin/spc_charts.py. Shown to whoever may view collected values.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.urls import reverse

from execution.admin.spc_charts import capability_panel, chart_section, cpm_figure, window_errors
from execution.models import DataSpec, DataValue, Station
from execution.spc import CAPABILITY_MINIMUM, LIMITS_MINIMUM, Figure, NelsonRule
from execution.spc_window import (
    DEFAULT_WINDOW_SIZE,
    FILTER_SCAN_LIMIT,
    WINDOW_SIZES,
    Window,
    WindowAnalysis,
    analyse_window,
)

VIEW_VALUES_PERMISSION = "execution.view_datavalue"
# GET parameter → form field ("from" is a Python keyword).
PARAMETERS = {
    "values": "size",
    "from": "start",
    "to": "end",
    "station": "station",
    "equipment": "equipment_id",
}


class SpcWindowForm(forms.Form):
    """The window controls, read from the page's GET parameters."""

    size = forms.TypedChoiceField(
        choices=[(size, size) for size in WINDOW_SIZES], coerce=int, required=False
    )
    start = forms.DateTimeField(required=False)
    end = forms.DateTimeField(required=False)
    station = forms.ModelChoiceField(Station.objects.all(), to_field_name="code", required=False)
    equipment_id = forms.CharField(max_length=200, required=False, strip=True)

    @classmethod
    def from_query(cls, query) -> "SpcWindowForm":
        return cls({field: query.get(parameter, "") for parameter, field in PARAMETERS.items()})

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            raise forms.ValidationError("“From” is after “to”.")
        return cleaned

    def window(self) -> Window:
        """The window asked for, or the default window when the controls are invalid."""
        if not self.is_valid():
            return Window()
        data = self.cleaned_data
        return Window(
            size=data["size"] or DEFAULT_WINDOW_SIZE,
            start=data["start"],
            end=data["end"],
            station=data["station"],
            equipment_id=data["equipment_id"],
        )


@dataclass(frozen=True)
class FigureRow:
    label: str
    text: str
    known: bool


def _figure_row(label: str, figure: Figure, digits: int) -> FigureRow:
    if figure.known:
        return FigureRow(label, f"{figure.value:.{digits}f}", True)
    return FigureRow(label, figure.missing, False)


def figure_rows(result: WindowAnalysis) -> list[FigureRow]:
    """The capability table: n, mean, σ within and overall, Cp, Cpk, Pp, Ppk, Cpm."""
    capability = result.analysis.capability
    return [
        FigureRow("n", str(capability.n), True),
        _figure_row("mean", capability.mean, 4),
        _figure_row("σ within (MR̄/d₂)", capability.sigma_within, 4),
        _figure_row("σ overall (sample)", capability.sigma_overall, 4),
        _figure_row("Cp", capability.cp, 2),
        _figure_row("Cpk", capability.cpk, 2),
        _figure_row("Pp", capability.pp, 2),
        _figure_row("Ppk", capability.ppk, 2),
        _figure_row("Cpm", cpm_figure(result), 2),
    ]


def control_rows(result: WindowAnalysis) -> list[FigureRow]:
    """The chart's control limits as figures, or why there are none."""
    limits = result.analysis.limits
    if limits is None:
        return [FigureRow("control limits", result.analysis.limits_missing, False)]
    return [
        FigureRow(label, f"{value:.4f}", True)
        for label, value in (
            ("UCL", limits.ucl),
            ("X̄ (centre)", limits.mean),
            ("LCL", limits.lcl),
            ("MR̄", limits.mr_mean),
            ("MR UCL", limits.mr_ucl),
        )
    ]


@dataclass(frozen=True)
class ViolationRow:
    rule: NelsonRule
    value: DataValue


@dataclass(frozen=True)
class RangeRow:
    value: DataValue  # the value that ends the moving range
    moving_range: float


def value_url(value: DataValue) -> str:
    return reverse("admin:execution_datavalue_change", args=[value.pk])


def spc_section(request, spec: DataSpec) -> dict:
    """The template context of a spec's SPC section."""
    if spec.data_type != DataSpec.DataType.NUMBER:
        return {"not_numeric": True}
    form = SpcWindowForm.from_query(request.GET)
    window = form.window()
    result = analyse_window(spec, window)
    values = result.values
    return {
        "form": form,
        "window": window,
        "window_sizes": WINDOW_SIZES,
        "stations": Station.objects.only("code"),
        "result": result,
        **chart_section(request.GET, result, url_for=value_url),
        **capability_panel(result),
        "window_errors": window_errors(form),
        "figures": figure_rows(result),
        "controls": control_rows(result),
        "violations": [
            ViolationRow(violation.rule, values[violation.index])
            for violation in result.analysis.violations
        ],
        "ranges_beyond": [
            RangeRow(values[index], result.analysis.limits.moving_ranges[index - 1])
            for index in result.analysis.moving_ranges_beyond
        ],
        # The rules the chart tests: the spec's choice (its decisions page), else 1-4.
        "rules": [NelsonRule(rule) for rule in result.rules],
        "capability_minimum": CAPABILITY_MINIMUM,
        "limits_minimum": LIMITS_MINIMUM,
        "filter_scan_limit": FILTER_SCAN_LIMIT,
        "attribute_chart_url": reverse("admin:execution_dataspec_attribute_chart", args=[spec.pk]),
        "values_url": reverse("admin:execution_datavalue_changelist")
        + "?"
        + urlencode({"spec__id__exact": spec.pk}),
    }


class SpcSectionMixin:
    """Adds the SPC section under a DataSpec's change form."""

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and request.user.has_perm(VIEW_VALUES_PERMISSION):
            # A form shown again with errors holds what was typed: chart the spec as stored.
            stored = DataSpec.objects.get(pk=obj.pk) if request.method == "POST" else obj
            context["spc"] = spc_section(request, stored)
        return super().render_change_form(request, context, add, change, form_url, obj)
