"""The drawing part of a spec's SPC section: which chart (I-MR, X̄-R, X̄-S), the histogram, PPM.

The chart is chosen with GET parameters beside the window's (`chart`, and for the X̄
charts `group`, `subgroup`, `slot`: docs/quality.md); a bad choice is said in words on
the page and the I-MR chart is drawn instead. Subgroups are made by
execution/spc_subgrouping.py; the SVGs come from execution/spc_chart.py,
spc_subgroup_chart.py and spc_histogram.py; execution/admin/spc.py puts this context
into the section.
"""

from dataclasses import dataclass

from django import forms
from django.utils.html import format_html

from execution.spc import CAPABILITY_MINIMUM, Figure, NoChart, Ppm, cpm
from execution.spc_chart import imr_chart_svg
from execution.spc_histogram import histogram_svg
from execution.spc_subgroup_analysis import SUBGROUP_CHARTS, SubgroupAnalysis, subgroup_analysis
from execution.spc_subgroup_chart import subgroup_chart_svg
from execution.spc_subgrouping import (
    DEFAULT_SLOT_MINUTES,
    SLOT_MINUTES,
    Grouping,
    subgroup_values,
)
from execution.spc_window import WindowAnalysis

IMR = "imr"
CHART_CHOICES = [(IMR, "I-MR"), ("xbar-r", "X̄-R"), ("xbar-s", "X̄-S")]
DEFAULT_SUBGROUP_SIZE = 5
SUBGROUP_SIZE_MESSAGE = "Subgroup size: a whole number of values from 2 to 25."
GROUPING_MESSAGE = (
    "Subgroups: choose n consecutive values, carrier pass (panel), event or time slot."
)
SLOT_MESSAGE = "Slot: choose " + ", ".join(SLOT_MINUTES.values()) + "."
# The window form's fields as the page labels them (errors name what the user sees).
WINDOW_LABELS = {
    "size": "Last values",
    "start": "From",
    "end": "To",
    "station": "Station",
    "equipment_id": "Equipment",
}


@dataclass(frozen=True)
class ChartChoice:
    """The chart asked for: its kind, and for the X̄ charts how values are subgrouped."""

    kind: str = IMR
    grouping: str = Grouping.CONSECUTIVE
    size: int = DEFAULT_SUBGROUP_SIZE
    slot_minutes: int = DEFAULT_SLOT_MINUTES


class SpcChartForm(forms.Form):
    """The chart controls, read from the page's GET parameters `chart`, `group`, `subgroup`
    and `slot`."""

    chart = forms.ChoiceField(
        choices=CHART_CHOICES,
        required=False,
        error_messages={"invalid_choice": "Chart: choose I-MR, X̄-R or X̄-S."},
    )
    group = forms.ChoiceField(
        choices=Grouping.choices,
        required=False,
        error_messages={"invalid_choice": GROUPING_MESSAGE},
    )
    subgroup = forms.IntegerField(
        min_value=2,
        max_value=25,
        required=False,
        error_messages={
            "invalid": SUBGROUP_SIZE_MESSAGE,
            "min_value": SUBGROUP_SIZE_MESSAGE,
            "max_value": SUBGROUP_SIZE_MESSAGE,
        },
    )
    slot = forms.TypedChoiceField(
        choices=list(SLOT_MINUTES.items()),
        coerce=int,
        required=False,
        error_messages={"invalid_choice": SLOT_MESSAGE},
    )

    @classmethod
    def from_query(cls, query) -> "SpcChartForm":
        return cls({name: query.get(name, "") for name in ("chart", "group", "subgroup", "slot")})

    def choice(self) -> ChartChoice:
        """The chart asked for; the I-MR chart when the controls are invalid."""
        if not self.is_valid():
            return ChartChoice()
        data = self.cleaned_data
        return ChartChoice(
            kind=data["chart"] or IMR,
            grouping=data["group"] or Grouping.CONSECUTIVE,
            size=data["subgroup"] or DEFAULT_SUBGROUP_SIZE,
            slot_minutes=data["slot"] or DEFAULT_SLOT_MINUTES,
        )

    def messages(self) -> list[str]:
        return [error for errors in self.errors.values() for error in errors]


def window_errors(form: forms.Form) -> list[str]:
    """The window form's errors as sentences naming the controls by their labels."""
    messages = []
    for field, errors in form.errors.items():
        label = WINDOW_LABELS.get(field)
        messages += [f"{label}: {error}" if label else str(error) for error in errors]
    return messages


@dataclass(frozen=True)
class ControlRow:
    label: str
    text: str
    known: bool = True


def _per_size(label: str, values: list[float], sizes: list[int]) -> list[ControlRow]:
    """One row for a limit equal for every subgroup, else one row per subgroup size."""
    if len(set(values)) == 1:
        return [ControlRow(label, f"{values[0]:.4f}")]
    seen = {}
    for size, value in zip(sizes, values, strict=True):
        seen.setdefault(size, value)
    return [
        ControlRow(f"{label} (n = {size})", f"{value:.4f}") for size, value in sorted(seen.items())
    ]


def subgroup_control_rows(subgrouped: SubgroupAnalysis) -> list[ControlRow]:
    """The X̄-R or X̄-S chart's limits as figures, per subgroup size when sizes differ."""
    chart, symbol = subgrouped.chart, subgrouped.spread_symbol
    sizes = chart.sizes
    centres = [chart.spread_centre(index) for index in range(len(sizes))]
    centre = "μ (frozen centre)" if subgrouped.frozen else "X̿ (centre)"
    return [
        *_per_size("X̄ UCL", chart.mean_ucl, sizes),
        ControlRow(centre, f"{chart.grand_mean:.4f}"),
        *_per_size("X̄ LCL", chart.mean_lcl, sizes),
        *_per_size(f"{symbol} UCL", chart.spread_ucl, sizes),
        *_per_size(f"{symbol} centre", centres, sizes),
        *_per_size(f"{symbol} LCL", chart.spread_lcl, sizes),
        ControlRow(
            "σ (frozen baseline)" if subgrouped.frozen else "σ within", f"{chart.sigma_within:.4f}"
        ),
    ]


def chart_section(query, result: WindowAnalysis, *, url_for) -> dict:
    """Context of the chart: the form, the SVG, its limits (subgroup charts) and any error."""
    form = SpcChartForm.from_query(query)
    choice = form.choice()
    errors = form.messages()
    subgrouped, left_out = None, []
    if choice.kind != IMR:
        subgrouping = subgroup_values(
            result.values,
            choice.grouping,
            size=choice.size,
            slot_minutes=choice.slot_minutes,
            window_cut=result.more_in_range,
        )
        left_out = subgrouping.left_out
        subgrouped = subgroup_analysis(result, choice.kind, subgrouping)
        if isinstance(subgrouped, NoChart):
            errors.append(subgrouped.missing)
            subgrouped = None
    if errors:
        errors.append("The I-MR chart is shown instead.")
    if subgrouped is None:
        svg = imr_chart_svg(result, url_for=url_for)
    else:
        svg = subgroup_chart_svg(subgrouped)
    return {
        "chart_form": form,
        "chart_kind": choice.kind if subgrouped is not None else IMR,
        "chart_choices": CHART_CHOICES,
        "chart_choice": choice,
        "groupings": Grouping.choices,
        "slots": SLOT_MINUTES.items(),
        "subgroup_size": choice.size,
        "subgroup_charts": SUBGROUP_CHARTS,
        "chart": format_html('<div class="mes-chart">{}</div>', svg),
        "chart_errors": errors,
        "subgroup": subgrouped,
        "subgroup_left_out": left_out,
        "subgroup_controls": subgroup_control_rows(subgrouped) if subgrouped else [],
        "subgroup_beyond": _subgroup_beyond(subgrouped) if subgrouped else [],
    }


def _subgroup_beyond(subgrouped: SubgroupAnalysis) -> list[str]:
    """The subgroups whose mean completes a rule, or whose spread is beyond its limits."""
    symbol = subgrouped.spread_symbol
    rows = [
        (violation.index, f"X̄ rule {violation.rule.value}: {violation.rule.description}")
        for violation in subgrouped.violations.means
    ]
    rows += [
        (index, f"{symbol} beyond its control limit")
        for index in subgrouped.violations.spreads_beyond
    ]
    return [
        f"subgroup {index + 1} ({subgrouped.groups[index][-1].collected_at:%Y-%m-%d %H:%M}): {what}"
        for index, what in sorted(rows)
    ]


# --- the capability panel ----------------------------------------------------------------------


def cpm_figure(result: WindowAnalysis) -> Figure:
    """Cpm against the spec's target: the analysis's own, or, when the window was analysed
    without the target, worked out from the same mean and σ overall."""
    figures = result.analysis.capability
    target = result.limits.target
    if figures.cpm.known or target is None or figures.n < CAPABILITY_MINIMUM:
        return figures.cpm
    limits = result.limits
    return cpm(figures.mean.value, figures.sigma_overall.value, limits.lsl, limits.usl, target)


@dataclass(frozen=True)
class PpmRow:
    label: str
    cells: list[tuple[str, bool]]  # (text, known): below the LSL, above the USL, total


def _ppm_cell(figure: Figure) -> tuple[str, bool]:
    return (f"{figure.value:,.2f}", True) if figure.known else (figure.missing, False)


def ppm_rows(result: WindowAnalysis) -> list[PpmRow]:
    """Parts per million outside the spec: expected (σ within, σ overall) and observed."""
    figures = result.analysis.capability
    rows = []
    for label, ppm in (
        ("expected, σ within", figures.ppm_within),
        ("expected, σ overall", figures.ppm_overall),
        ("observed", figures.ppm_observed),
    ):
        if ppm is None:
            continue
        rows.append(PpmRow(label, [_ppm_cell(part) for part in _parts(ppm)]))
    return rows


def _parts(ppm: Ppm) -> list[Figure]:
    return [ppm.below, ppm.above, ppm.total]


def capability_panel(result: WindowAnalysis) -> dict:
    """The histogram, Cpm, the PPM table and the capability warnings."""
    return {
        "histogram": histogram_svg(result),
        "cpm": cpm_figure(result),
        "ppm": ppm_rows(result),
        "capability_warnings": result.analysis.capability.warnings,
    }
