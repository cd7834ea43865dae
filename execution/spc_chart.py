"""Server-rendered SVG of a spec's I-MR chart: individuals and moving ranges in observation order.

No JavaScript, nothing from a CDN: the spec's admin page embeds the SVG as it is.
Points are equally spaced in collection order (execution/spc_svg.py): time is on
hover and under a few labelled points, and a long pause is a thin break line, not
width. The individuals panel draws the control limits (UCL, X̄, LCL) and the
spec's current limits (LSL, USL, target), each labelled; the moving-range panel
draws MR̄ and its UCL. Points are coloured by the judgement stored with them
(nothing is judged again); points completing a Nelson rule are ringed and
numbered, and so are moving ranges beyond their UCL ("MR"). Values left out of
the figures (execution/spc_control.py) keep their place, hollow and off the line:
the line and the moving ranges join the kept values. The figures come from the
execution/spc/ package through execution/spc_window.py.
"""

from collections import defaultdict

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from execution.charts import format_number
from execution.models import DataValue
from execution.spc_svg import (
    GAP_FACTOR,
    LimitLine,
    ObservationSvg,
    Panel,
    axis_caption,
    gaps,
    local,
    padded,
)
from execution.spc_window import WindowAnalysis

__all__ = ["GAP_FACTOR", "imr_chart_svg", "individuals_lines"]

WIDTH, HEIGHT = 860, 500
LEFT, RIGHT = 64, 130
INDIVIDUALS_TOP, INDIVIDUALS_HEIGHT = 28, 250
MOVING_RANGE_TOP, MOVING_RANGE_HEIGHT = 316, 130
AXIS_Y = MOVING_RANGE_TOP + MOVING_RANGE_HEIGHT
PLOT_WIDTH = WIDTH - LEFT - RIGHT

POINT_COLOURS = {
    DataValue.Judge.PASS: "#2e7d32",
    DataValue.Judge.FAIL: "#c62828",
    DataValue.Judge.NA: "#607d8b",
}
# The mark beside a moving range beyond its UCL (rule 1 of the moving-range chart).
RANGE_MARK = "MR"


def individuals_lines(result: WindowAnalysis) -> list[LimitLine]:
    """Control limits of the window and the spec's limits, as labelled horizontal lines."""
    lines = []
    if (limits := result.analysis.limits) is not None:
        lines += [
            LimitLine("UCL", limits.ucl, "control"),
            LimitLine("X̄", limits.mean, "centre"),
            LimitLine("LCL", limits.lcl, "control"),
        ]
    spec = result.limits
    for label, value, kind in (
        ("USL", spec.usl, "spec"),
        ("LSL", spec.lsl, "spec"),
        ("target", spec.target, "target"),
    ):
        if value is not None:
            lines.append(LimitLine(label, value, kind))
    return lines


def no_values_svg() -> SafeString:
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="mes-spc-chart" width="{WIDTH}" '
        'height="60" role="img" aria-label="No values"><text x="10" y="35" '
        'font-size="14">No numeric values collected for this spec in this window.</text></svg>'
    )


def imr_chart_svg(result: WindowAnalysis, *, url_for=None) -> SafeString:
    """The window's I-MR chart as SVG; `url_for(value)` makes each point a link to it."""
    values = result.values  # kept: those the figures are of
    shown = sorted([*values, *result.excluded], key=lambda value: (value.collected_at, value.pk))
    if not shown:
        return no_values_svg()
    analysis = result.analysis
    # Kept value i is drawn at place[i] of the window in collection order.
    position = {value.pk: place for place, value in enumerate(shown)}
    place = [position[value.pk] for value in values]
    times = [value.collected_at for value in shown]
    numbers = analysis.values
    svg = ObservationSvg(len(shown), left=LEFT, plot_width=PLOT_WIDTH)
    breaks = gaps(times)
    pauses = [(index, times[index] - times[index - 1]) for index in breaks]
    # The line between kept values i - 1 and i is not drawn when a pause lies between them.
    cut = {
        index
        for index in range(1, len(place))
        if any(place[index - 1] < before <= place[index] for before in breaks)
    }

    lines = individuals_lines(result)
    left_out = [value.value_number for value in result.excluded]
    low, high = padded(numbers + left_out + [line.value for line in lines])
    individuals = Panel(INDIVIDUALS_TOP, INDIVIDUALS_HEIGHT, low, high)
    svg.frame(individuals, "individuals", "Individuals")
    svg.limit_lines(individuals, lines)
    points = [(svg.x_at(place[index]), individuals.y_at(n)) for index, n in enumerate(numbers)]
    svg.path(points, cut)
    rules_at = defaultdict(set)
    for violation in analysis.violations:
        rules_at[violation.index].add(violation.rule.value)
    for index, (value, (x, y)) in enumerate(zip(values, points, strict=True)):
        rules = sorted(rules_at.get(index, ()))
        if rules:
            svg.ring(x, y, ",".join(str(rule) for rule in rules))
        svg.add(_point(place[index], value, x, y, rules, url_for))
    for value in result.excluded:
        x, y = svg.x_at(position[value.pk]), individuals.y_at(value.value_number)
        svg.add(_left_out_point(position[value.pk], value, x, y, url_for))
    if analysis.limits is None:
        svg.note(individuals, f"No control limits: {analysis.limits_missing}")
    svg.add("</g>")

    limits = analysis.limits
    if limits is None:
        moving_range = Panel(MOVING_RANGE_TOP, MOVING_RANGE_HEIGHT, 0.0, 1.0)
        svg.frame(moving_range, "moving-range", "Moving range")
        svg.note(moving_range, "Moving ranges need two values.")
    else:
        top = max(limits.moving_ranges + [limits.mr_ucl]) * 1.08 or 1.0
        moving_range = Panel(MOVING_RANGE_TOP, MOVING_RANGE_HEIGHT, 0.0, top)
        svg.frame(moving_range, "moving-range", "Moving range")
        svg.limit_lines(
            moving_range,
            [
                LimitLine("UCL", limits.mr_ucl, "control"),
                LimitLine("MR̄", limits.mr_mean, "centre"),
            ],
        )
        # The moving range |xᵢ − xᵢ₋₁| of kept values sits under value i.
        range_points = [
            (svg.x_at(place[index]), moving_range.y_at(r))
            for index, r in enumerate(limits.moving_ranges, start=1)
        ]
        svg.path(range_points, {index - 1 for index in cut})
        beyond = set(analysis.moving_ranges_beyond)
        for index, ((x, y), moving) in enumerate(
            zip(range_points, limits.moving_ranges, strict=True), start=1
        ):
            svg.add(_range_point(place[index], values[index], x, y, moving, index in beyond, svg))
    svg.add("</g>")

    svg.break_lines([individuals, moving_range], pauses)
    svg.time_axis(times, AXIS_Y)
    caption = axis_caption(len(shown), "values", times[0], times[-1])
    if result.excluded:
        caption += f"; {len(result.excluded)} left out, hollow"
    svg.add(
        f'<text class="mes-axis-caption" x="{LEFT + PLOT_WIDTH / 2:.1f}" y="{AXIS_Y + 44}" '
        f'text-anchor="middle" fill="#666">{escape(caption)}</text>'
    )
    return svg.render(
        width=WIDTH, height=HEIGHT, aria_label=f"I-MR chart of {len(shown)} values", kind="imr"
    )


def _hover_time(value: DataValue) -> str:
    return f"{local(value.collected_at):%Y-%m-%d %H:%M:%S}"


def _point(index: int, value: DataValue, x: float, y: float, rules: list[int], url_for) -> str:
    colour = POINT_COLOURS.get(value.judge, POINT_COLOURS[DataValue.Judge.NA])
    classes = f"mes-point mes-point-{escape(value.judge)}"
    radius = 4.5 if value.alarmed or value.judge == DataValue.Judge.FAIL else 3
    ring = ' stroke="#ef6c00" stroke-width="2"' if value.alarmed else ""
    tip = (
        f"#{index + 1} {_hover_time(value)} — {format_number(value.value_number)} "
        f"({value.judge}{', alarmed' if value.alarmed else ''})"
    )
    if rules:
        classes += " mes-violation"
        tip += f"; Nelson rule {','.join(str(rule) for rule in rules)}"
    point = (
        f'<circle class="{classes}" data-value-id="{value.pk}" data-index="{index}" '
        f'cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{colour}"{ring}>'
        f"<title>{escape(tip)}</title></circle>"
    )
    if url_for is not None:
        point = f'<a href="{escape(url_for(value))}">{point}</a>'
    return point


def _left_out_point(place: int, value: DataValue, x: float, y: float, url_for) -> str:
    colour = POINT_COLOURS.get(value.judge, POINT_COLOURS[DataValue.Judge.NA])
    tip = (
        f"#{place + 1} {_hover_time(value)} — {format_number(value.value_number)} "
        f"({value.judge}); left out of the figures"
    )
    point = (
        f'<circle class="mes-excluded-point" data-value-id="{value.pk}" data-index="{place}" '
        f'cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="none" stroke="{colour}" stroke-width="1.5">'
        f"<title>{escape(tip)}</title></circle>"
    )
    if url_for is not None:
        point = f'<a href="{escape(url_for(value))}">{point}</a>'
    return point


def _range_point(
    index: int, value: DataValue, x: float, y: float, moving: float, beyond: bool, svg
) -> str:
    tip = f"#{index + 1} {_hover_time(value)} — MR {format_number(moving)}"
    classes = "mes-range-point"
    if beyond:
        classes += " mes-violation"
        tip += "; beyond the moving-range UCL"
        svg.ring(x, y, RANGE_MARK)
    return (
        f'<circle class="{classes}" data-value-id="{value.pk}" data-index="{index}" '
        f'cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#546e7a"><title>{escape(tip)}</title></circle>'
    )
