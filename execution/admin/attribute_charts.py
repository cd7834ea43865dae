"""Back office pages of attribute charts (docs/quality.md "Attribute charts"): a spec's p,
np, c or u chart, chosen on the page, and the Pareto of defect codes of failed passes.
Read-only; mixed into the data-spec admin (execution/admin/specs.py)."""

from datetime import timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from execution.attribute_chart_svg import attribute_chart_svg, figure_text, pareto_svg
from execution.attribute_charts import (
    DEFAULT_NP_SAMPLE,
    DEFAULT_SLOT,
    NP_SAMPLE_SIZES,
    SLOTS,
    c_chart_of,
    defect_pareto,
    np_chart_of,
    p_chart_of,
    u_chart_of,
)
from execution.models import DataSpec, Station

PARETO_DAYS = (1, 7, 30, 90)
ATTRIBUTE_CHARTS = {
    "p": "p: fraction judged FAIL per slot",
    "np": "np: number judged FAIL per sample of n",
    "c": "c: defects per board (a count spec)",
    "u": "u: defects per board per slot (a count spec)",
}
SAMPLE_MESSAGE = (
    f"Sample size: a whole number of judged values from {NP_SAMPLE_SIZES.start} "
    f"to {NP_SAMPLE_SIZES.stop - 1}."
)


class AttributeChartForm(forms.Form):
    """The chart controls, read from the page's GET parameters."""

    chart = forms.ChoiceField(
        choices=list(ATTRIBUTE_CHARTS.items()),
        required=False,
        error_messages={"invalid_choice": "Chart: choose p, np, c or u."},
    )
    slot = forms.TypedChoiceField(
        choices=list(SLOTS.items()),
        coerce=int,
        required=False,
        error_messages={
            "invalid_choice": "Subgroup %(value)r is not one of: "
            + ", ".join(f"{minutes} ({name})" for minutes, name in SLOTS.items())
        },
    )
    sample = forms.IntegerField(
        min_value=NP_SAMPLE_SIZES.start,
        max_value=NP_SAMPLE_SIZES.stop - 1,
        required=False,
        error_messages={key: SAMPLE_MESSAGE for key in ("invalid", "min_value", "max_value")},
    )

    def cleaned(self, name: str, default):
        """A field's value, or its default when it is empty or unreadable."""
        if name in self.errors:
            return default
        return self.cleaned_data.get(name) or default


def attribute_series(spec: DataSpec, kind: str, slot: int, sample: int):
    """The spec's chart of `kind`, read by execution/attribute_charts.py."""
    if kind == "np":
        return np_chart_of(spec, sample)
    if kind == "c":
        return c_chart_of(spec)
    if kind == "u":
        return u_chart_of(spec, slot)
    return p_chart_of(spec, slot)


class AttributeChartsMixin:
    def get_urls(self):
        site = self.admin_site
        view = site.admin_view(self.attribute_chart_view)
        return [
            path(
                "<int:spec_id>/attribute-chart/",
                view,
                name="execution_dataspec_attribute_chart",
            ),
            # The p chart's first address, kept for links made before the other charts.
            path("<int:spec_id>/p-chart/", view, name="execution_dataspec_p_chart"),
            path(
                "spc/pareto/", site.admin_view(self.pareto_view), name="execution_dataspec_pareto"
            ),
            *super().get_urls(),
        ]

    def _page(self, request, template: str, **context):
        return TemplateResponse(
            request,
            template,
            {**self.admin_site.each_context(request), "opts": self.model._meta, **context},
        )

    def attribute_chart_view(self, request, spec_id):
        spec = get_object_or_404(DataSpec.objects.select_related("operation"), pk=spec_id)
        if not self.has_view_permission(request, spec):
            raise PermissionDenied
        form = AttributeChartForm(
            {name: request.GET.get(name, "") for name in ("chart", "slot", "sample")}
        )
        form.is_valid()
        kind = form.cleaned("chart", "p")
        slot = form.cleaned("slot", DEFAULT_SLOT)
        sample = form.cleaned("sample", DEFAULT_NP_SAMPLE)
        errors = [error for errors in form.errors.values() for error in errors]
        data = attribute_series(spec, kind, slot, sample)
        chart = data.chart
        rows = []
        if chart.known:
            rows = [
                (
                    start,
                    figure_text(kind, point),
                    size,
                    figure_text(kind, lcl),
                    figure_text(kind, ucl),
                )
                for start, point, size, lcl, ucl in zip(
                    data.starts, chart.points, chart.sizes, chart.lcl, chart.ucl, strict=True
                )
            ]
        return self._page(
            request,
            "admin/execution/dataspec/attribute_chart.html",
            title=f"{kind} chart: {spec.name}",
            spec=spec,
            data=data,
            kind=kind,
            errors=errors,
            charts=ATTRIBUTE_CHARTS.items(),
            slots=SLOTS.items(),
            sample=sample,
            sample_sizes=NP_SAMPLE_SIZES,
            chart=attribute_chart_svg(data) if chart.known else "",
            centre=figure_text(kind, chart.centre) if chart.known else "",
            rows=rows,
        )

    def pareto_view(self, request):
        if not request.user.has_perm("execution.view_track"):
            raise PermissionDenied
        error, days = "", 30
        asked = request.GET.get("days", "30")
        if asked.isdigit() and int(asked) in PARETO_DAYS:
            days = int(asked)
        else:
            error = f"Period {asked!r} is not one of {', '.join(map(str, PARETO_DAYS))} days."
        station = request.GET.get("station", "")
        if station and not Station.objects.filter(code=station).exists():
            error, station = f"No station {station!r}.", ""
        data = defect_pareto(timezone.now() - timedelta(days=days), station)
        return self._page(
            request,
            "admin/execution/dataspec/pareto.html",
            title="Pareto of defect codes",
            data=data,
            days=days,
            periods=PARETO_DAYS,
            stations=Station.objects.order_by("code").values_list("code", flat=True),
            error=error,
            chart=pareto_svg(data) if data.rows else "",
        )
