"""Back office pages of attribute charts (docs/quality.md "Attribute charts"): a spec's
p chart of the fraction judged FAIL per time slot, and the Pareto of defect codes of
failed passes. Read-only; mixed into the data-spec admin (execution/admin/specs.py)."""

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from execution.attribute_chart_svg import p_chart_svg, pareto_svg
from execution.attribute_charts import DEFAULT_SLOT, SLOTS, defect_pareto, p_chart_of
from execution.models import DataSpec, Station

PARETO_DAYS = (1, 7, 30, 90)


def p_chart_url(spec: DataSpec) -> str:
    return reverse("admin:execution_dataspec_p_chart", args=[spec.pk])


class AttributeChartsMixin:
    def get_urls(self):
        site = self.admin_site
        return [
            path(
                "<int:spec_id>/p-chart/",
                site.admin_view(self.p_chart_view),
                name="execution_dataspec_p_chart",
            ),
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

    def p_chart_view(self, request, spec_id):
        spec = get_object_or_404(DataSpec.objects.select_related("operation"), pk=spec_id)
        if not self.has_view_permission(request, spec):
            raise PermissionDenied
        error, slot = "", DEFAULT_SLOT
        asked = request.GET.get("slot", str(DEFAULT_SLOT))
        if asked.isdigit() and int(asked) in SLOTS:
            slot = int(asked)
        else:
            error = f"Subgroup {asked!r} is not one of: " + ", ".join(
                f"{minutes} ({name})" for minutes, name in SLOTS.items()
            )
        data = p_chart_of(spec, slot)
        return self._page(
            request,
            "admin/execution/dataspec/p_chart.html",
            title=f"p chart: {spec.name}",
            spec=spec,
            data=data,
            error=error,
            slots=SLOTS.items(),
            chart=p_chart_svg(data) if data.chart.known else "",
            rows=list(zip(data.starts, data.chart.points, data.chart.sizes, strict=True))
            if data.chart.known
            else [],
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
