"""The SPC section of a NUMBER spec's admin page: I-MR chart, figures, violations, window."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.urls import reverse

from execution.models import DataSpec, DataValue
from execution.spc import capability
from execution.spc_chart import PLOT_WIDTH
from execution.spc_control import exclude_value
from execution.spc_svg import pause_text
from tests.factories import (
    BASE_TIME,
    DataSpecFactory,
    StationFactory,
    TrackFactory,
    close_pass,
    person_in_role,
)

# Around 245 with a little spread and no pattern: no Nelson rule fires, even repeated.
STEADY = [245.0, 245.6, 245.7, 245.3, 244.5, 244.4, 244.9, 245.2, 245.3, 244.8]


def add_values(spec, track, numbers, *, start=BASE_TIME, every=timedelta(minutes=1), **fields):
    """Values of `spec` collected `every` apart from `start`; returns them oldest first."""
    fields.setdefault("judge", "PASS")
    offset = DataValue.objects.count()
    return DataValue.objects.bulk_create(
        DataValue(
            spec=spec,
            track=track,
            station=track.station,
            collected_at=start + every * index,
            value_number=number,
            limits=spec.limits,
            source="AUTO",
            source_ref=f"device-data:spc-{offset + index}",
            **fields,
        )
        for index, number in enumerate(numbers)
    )


def spec_page(client, spec, **query) -> str:
    response = client.get(reverse("admin:execution_dataspec_change", args=[spec.pk]), query)
    assert response.status_code == 200
    return response.content.decode()


def chart_of(page: str) -> str:
    match = re.search(r'<svg[^>]*class="mes-spc-chart".*?</svg>', page, flags=re.S)
    assert match, "no SPC chart on the page"
    return match.group(0)


SVG = "{http://www.w3.org/2000/svg}"


def parsed(svg: str) -> ET.Element:
    """The chart as XML: its coordinates are read from attributes, not from the text."""
    return ET.fromstring(svg)


def elements(root: ET.Element, tag: str, css_class: str) -> list[ET.Element]:
    """Elements `tag` (circle, g, …) whose class list holds `css_class`, in document order."""
    return [
        element for element in root.iter(SVG + tag) if css_class in element.get("class", "").split()
    ]


def title_of(element: ET.Element) -> str:
    return element.find(SVG + "title").text


def panel(chart: str, name: str) -> str:
    match = re.search(rf'<g class="mes-panel mes-panel-{name}">.*?</g>', chart, flags=re.S)
    assert match, f"no {name} panel"
    return match.group(0)


def limit_labels(svg: str) -> dict[str, str]:
    return dict(
        re.findall(
            r'<line class="mes-limit [^"]*" data-limit="([^"]+)"[^>]*>'
            r"<title>([^<]+)</title>",
            svg,
        )
    )


def figures_of(page: str) -> dict[str, str]:
    table = re.search(r'<table aria-label="Capability figures">.*?</table>', page, flags=re.S)
    assert table, "no capability table"
    return dict(re.findall(r"<th scope=\"row\">([^<]+)</th><td[^>]*>([^<]+)</td>", table[0]))


# --- the chart ---------------------------------------------------------------------------------


def test_the_chart_has_an_individuals_and_a_moving_range_panel_with_labelled_limits(
    integration, line
):
    add_values(line.peak, line.track, STEADY * 3)

    chart = chart_of(spec_page(integration, line.peak))

    individuals = limit_labels(panel(chart, "individuals"))
    assert set(individuals) == {"UCL", "X̄", "LCL", "USL", "LSL", "target"}
    assert individuals["USL"] == "USL 250" and individuals["LSL"] == "LSL 240"
    assert individuals["target"] == "target 245"
    assert individuals["X̄"].startswith("X̄ 245.")
    assert set(limit_labels(panel(chart, "moving-range"))) == {"UCL", "MR̄"}
    assert chart.count('class="mes-range-point"') == 29  # one per value after the first


def test_the_chart_draws_the_newest_100_values_by_default_and_50_when_asked(integration, line):
    add_values(line.peak, line.track, STEADY * 11)  # 110 values

    page = spec_page(integration, line.peak)
    default = chart_of(page)
    fifty = chart_of(spec_page(integration, line.peak, values=50))

    assert "More values match: only the newest 100 are analysed." in page

    assert default.count('class="mes-point ') == 100
    assert fifty.count('class="mes-point ') == 50
    # The newest 100: the ten oldest (10:00 to 10:09) are left out.
    assert "2026-01-24 10:10" in default and "2026-01-24 10:09:00" not in default


def test_points_are_equally_spaced_in_collection_order_whatever_the_pauses(integration, line):
    add_values(line.peak, line.track, STEADY)
    add_values(line.peak, line.track, STEADY, start=BASE_TIME + timedelta(hours=5))

    chart = parsed(chart_of(spec_page(integration, line.peak)))

    points = elements(chart, "circle", "mes-point")
    assert [point.get("data-index") for point in points] == [str(i) for i in range(20)]
    xs = [float(point.get("cx")) for point in points]
    steps = [later - earlier for earlier, later in zip(xs, xs[1:], strict=False)]
    # Equal spacing: the plot's width shared by 20 points (coordinates are rounded to 0.1).
    assert steps == [pytest.approx(PLOT_WIDTH / 20, abs=0.11)] * 19


def test_a_long_pause_is_a_dashed_break_line_labelled_with_its_length(integration, line):
    add_values(line.peak, line.track, STEADY)
    add_values(line.peak, line.track, STEADY, start=BASE_TIME + timedelta(hours=5))

    page = chart_of(spec_page(integration, line.peak))
    chart = parsed(page)

    [pause] = elements(chart, "g", "mes-break")
    assert pause.get("data-before") == "10"
    marker = pause.find(SVG + "line")
    assert marker.get("stroke-dasharray")
    xs = [float(point.get("cx")) for point in elements(chart, "circle", "mes-point")]
    assert xs[9] < float(marker.get("x1")) == float(marker.get("x2")) < xs[10]
    [label] = elements(pause, "text", "mes-break-label")
    assert label.text == "pause 4 h 51 min"  # from 10:09 to 15:00
    # The line between the points is not drawn across the pause, on either panel.
    [individuals] = elements(chart, "g", "mes-panel-individuals")
    assert len(elements(individuals, "polyline", "mes-trace")) == 2
    [moving_range] = elements(chart, "g", "mes-panel-moving-range")
    assert len(elements(moving_range, "polyline", "mes-trace")) == 2


def test_a_regular_series_has_no_break(integration, line):
    add_values(line.peak, line.track, STEADY * 3)
    chart = parsed(chart_of(spec_page(integration, line.peak)))
    assert elements(chart, "g", "mes-break") == []
    assert len(elements(chart, "polyline", "mes-trace")) == 2  # one per panel


def test_breaks_too_close_to_label_each_keep_their_length_on_hover(integration, line):
    # 100 values: a pause before the 91st and another before the 92nd, 6.7 px apart.
    add_values(line.peak, line.track, STEADY * 9)
    add_values(line.peak, line.track, [245.0], start=BASE_TIME + timedelta(hours=3))
    add_values(line.peak, line.track, STEADY[:9], start=BASE_TIME + timedelta(hours=6))

    chart = parsed(chart_of(spec_page(integration, line.peak)))

    first, second = elements(chart, "g", "mes-break")
    assert [label.text for label in elements(first, "text", "mes-break-label")] == [
        "pause 1 h 31 min"
    ]
    assert elements(second, "text", "mes-break-label") == []
    assert title_of(second.find(SVG + "line")) == "pause 3 h"


@pytest.mark.parametrize(
    ("pause", "text"),
    [
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=4, minutes=51, seconds=30), "4 h 51 min"),
        (timedelta(days=316, hours=2, minutes=5), "316 d 2 h"),
        (timedelta(minutes=12), "12 min"),
        (timedelta(days=1, minutes=5), "1 d"),
    ],
)
def test_a_pause_is_named_in_its_two_largest_units(pause, text):
    assert pause_text(pause) == text


def test_each_point_tells_its_time_and_value_on_hover(integration, line):
    values = add_values(line.peak, line.track, STEADY)

    chart = parsed(chart_of(spec_page(integration, line.peak)))

    points = elements(chart, "circle", "mes-point")
    assert points[0].get("data-value-id") == str(values[0].pk)
    assert title_of(points[0]) == "#1 2026-01-24 10:00:00 — 245 (PASS)"
    assert title_of(points[3]) == "#4 2026-01-24 10:03:00 — 245.3 (PASS)"


def test_time_labels_sit_under_a_few_points_with_the_date_when_the_day_changes(integration, line):
    # 100 values every half hour: from 10:00 on 24 January to 11:30 on the 26th.
    add_values(line.peak, line.track, STEADY * 10, every=timedelta(minutes=30))

    chart = parsed(chart_of(spec_page(integration, line.peak)))

    xs = [float(point.get("cx")) for point in elements(chart, "circle", "mes-point")]
    ticks = elements(chart, "g", "mes-time-tick")
    assert 5 <= len(ticks) <= 8
    dates = []
    for tick in ticks:
        index = int(tick.get("data-index"))
        [time_label] = elements(tick, "text", "mes-time-label")
        moment = BASE_TIME + timedelta(minutes=30 * index)
        assert float(time_label.get("x")) == xs[index]
        assert time_label.text == f"{moment:%H:%M}"
        dates.append([label.text for label in elements(tick, "text", "mes-date-label")])
    # The first label has its date, later ones only when the day has changed.
    assert dates[0] == ["2026-01-24"]
    shown = [date[0] for date in dates if date]
    assert shown == ["2026-01-24", "2026-01-25", "2026-01-26"]


def test_points_keep_the_colour_of_their_stored_judgement(integration, line):
    add_values(line.peak, line.track, [245.0], judge="FAIL", alarmed=True)
    add_values(line.peak, line.track, [260.0], start=BASE_TIME + timedelta(minutes=1))

    chart = chart_of(spec_page(integration, line.peak))

    assert chart.count("mes-point-FAIL") == 1 and chart.count("mes-point-PASS") == 1
    assert 'stroke="#ef6c00"' in chart  # the alarm ring


def test_higher_values_are_drawn_higher(integration, line):
    add_values(line.peak, line.track, [241.0, 249.0])

    chart = chart_of(spec_page(integration, line.peak))

    low_y, high_y = (
        float(y) for y in re.findall(r'class="mes-point [^"]*"[^>]*cy="([\d.]+)"', chart)
    )
    assert high_y < low_y  # SVG's y grows downwards


# --- figures -----------------------------------------------------------------------------------


def test_capability_figures_are_shown_beside_the_chart(integration, line):
    numbers = STEADY * 3
    add_values(line.peak, line.track, numbers)
    expected = capability(numbers, lsl=240, usl=250)

    figures = figures_of(spec_page(integration, line.peak))

    assert figures["n"] == "30"
    assert figures["Cp"] == f"{expected.cp.value:.2f}"
    assert figures["Cpk"] == f"{expected.cpk.value:.2f}"
    assert figures["Pp"] == f"{expected.pp.value:.2f}"
    assert figures["Ppk"] == f"{expected.ppk.value:.2f}"
    assert figures["σ overall (sample)"] == f"{expected.sigma_overall.value:.4f}"


def test_too_few_values_are_said_instead_of_capability_figures(integration, line):
    add_values(line.peak, line.track, STEADY)

    figures = figures_of(spec_page(integration, line.peak))

    assert figures["n"] == "10"
    for name in ("Cp", "Cpk", "Pp", "Ppk"):
        assert figures[name] == "too few values (n = 10 &lt; 25)"
    assert figures["σ within (MR̄/d₂)"] != "too few values (n = 10 &lt; 25)"


def test_one_value_has_no_control_limits_and_the_chart_says_so(integration, line):
    add_values(line.peak, line.track, [245.0])

    page = spec_page(integration, line.peak)

    assert "No control limits: too few values (n = 1 &lt; 2)" in chart_of(page)
    assert set(limit_labels(chart_of(page))) == {"USL", "LSL", "target"}


def test_a_one_sided_spec_gives_cpk_but_says_cp_needs_both_limits(integration, line):
    add_values(line.unbound, line.track, STEADY * 3)
    line.unbound.spec = {"max": 250}
    line.unbound.save()

    figures = figures_of(spec_page(integration, line.unbound))

    assert figures["Cp"] == "needs both spec limits"
    assert re.fullmatch(r"\d+\.\d\d", figures["Cpk"])


# --- Nelson rule violations --------------------------------------------------------------------


def test_rule_violations_are_marked_on_the_chart_and_listed_with_links(integration, line):
    drift = [245.5, 245.9, 246.3, 246.8, 247.2, 247.7]
    values = add_values(line.peak, line.track, STEADY * 2 + drift)
    sixth_rising = values[-1]

    page = spec_page(integration, line.peak)

    listed = re.findall(r'<tr class="mes-violation-row">.*?</tr>', page, flags=re.S)
    rising = [row for row in listed if "steadily increasing or decreasing" in row]
    # 244.8 and the six drifting values: the sixth and the seventh point of the rise.
    assert len(rising) == 2
    value_url = reverse("admin:execution_datavalue_change", args=[sixth_rising.pk])
    assert f'href="{value_url}"' in rising[-1]
    assert "2026-01-24 10:25:00" in rising[-1] and "247.7" in rising[-1]
    marked = re.search(
        rf'<circle class="[^"]*mes-violation[^"]*" data-value-id="{sixth_rising.pk}"',
        chart_of(page),
    )
    assert marked


def test_a_steady_process_lists_no_violations(integration, line):
    add_values(line.peak, line.track, STEADY * 3)
    page = spec_page(integration, line.peak)
    assert "No point breaks rules 1, 2, 3, 4 in this window." in page
    assert "mes-violation" not in chart_of(page)


# --- values left out of the figures ----------------------------------------------------------


def test_a_value_left_out_stays_in_its_place_drawn_hollow_and_off_the_line(integration, line):
    values = add_values(line.peak, line.track, STEADY * 3)
    probe_error = values[12]
    exclude_value(
        probe_error, reason="probe touched the board edge", by=person_in_role("quality staff")
    )

    chart = parsed(chart_of(spec_page(integration, line.peak)))

    kept = elements(chart, "circle", "mes-point")
    assert len(kept) == 29
    [hollow] = elements(chart, "circle", "mes-excluded-point")
    assert hollow.get("data-value-id") == str(probe_error.pk)
    assert hollow.get("fill") == "none" and hollow.get("stroke")
    # In its place in collection order: between the 12th and the 13th kept value.
    xs = [float(point.get("cx")) for point in kept]
    assert xs[11] < float(hollow.get("cx")) < xs[12]
    assert [float(point.get("cx")) for point in kept][:12] == xs[:12]
    assert title_of(hollow) == "#13 2026-01-24 10:12:00 — 245.7 (PASS); left out of the figures"
    # The line joins the kept values only; the moving ranges are those of the kept values.
    [individuals] = elements(chart, "g", "mes-panel-individuals")
    [trace] = elements(individuals, "polyline", "mes-trace")
    assert len(trace.get("points").split()) == 29
    assert len(elements(chart, "circle", "mes-range-point")) == 28
    caption = elements(chart, "text", "mes-axis-caption")[0].text
    assert caption.startswith("30 values in collection order") and "1 left out, hollow" in caption


def test_a_pause_cuts_the_line_where_it_is_drawn_when_values_are_left_out(integration, line):
    before = add_values(line.peak, line.track, STEADY)
    after = add_values(line.peak, line.track, STEADY, start=BASE_TIME + timedelta(hours=5))
    staff = person_in_role("quality staff")
    # One left out before the pause and the first one after it: kept value 9 is drawn 11th.
    exclude_value(before[3], reason="probe error", by=staff)
    exclude_value(after[0], reason="first board after the stop", by=staff)

    chart = parsed(chart_of(spec_page(integration, line.peak)))

    [pause] = elements(chart, "g", "mes-break")
    assert pause.get("data-before") == "10"  # in drawing order
    x_of = {
        point.get("data-index"): point.get("cx") for point in elements(chart, "circle", "mes-point")
    }
    [individuals] = elements(chart, "g", "mes-panel-individuals")
    first, second = elements(individuals, "polyline", "mes-trace")
    assert first.get("points").split()[-1].split(",")[0] == x_of["9"]
    assert second.get("points").split()[0].split(",")[0] == x_of["11"]
    [moving_range] = elements(chart, "g", "mes-panel-moving-range")
    assert len(elements(moving_range, "polyline", "mes-trace")) == 2


# --- moving ranges beyond their limit ----------------------------------------------------------


def test_moving_ranges_beyond_their_ucl_are_ringed_and_listed_with_links(integration, line):
    # Steady, then one jump to 249 and back: the ranges into and out of it are beyond D₄·MR̄.
    values = add_values(line.peak, line.track, STEADY * 3 + [249.0, 245.0, 245.2])
    jump, back = values[30], values[31]

    page = spec_page(integration, line.peak)
    chart = parsed(chart_of(page))

    [moving_range] = elements(chart, "g", "mes-panel-moving-range")
    marked = [
        point
        for point in elements(moving_range, "circle", "mes-range-point")
        if "mes-violation" in point.get("class").split()
    ]
    assert [point.get("data-value-id") for point in marked] == [str(jump.pk), str(back.pk)]
    rings = elements(moving_range, "circle", "mes-ring")
    assert [(ring.get("cx"), ring.get("cy")) for ring in rings] == [
        (point.get("cx"), point.get("cy")) for point in marked
    ]
    assert [mark.text for mark in elements(moving_range, "text", "mes-rule-mark")] == ["MR"] * 2
    assert title_of(marked[0]).endswith("MR 4.2; beyond the moving-range UCL")
    listed = re.findall(r'<tr class="mes-range-row">.*?</tr>', page, flags=re.S)
    assert len(listed) == 2
    jump_url = reverse("admin:execution_datavalue_change", args=[jump.pk])
    assert f'href="{jump_url}"' in listed[0] and "4.2000" in listed[0]
    assert "Moving ranges beyond their UCL (2)" in page


def test_a_steady_process_has_no_moving_range_beyond_its_ucl(integration, line):
    add_values(line.peak, line.track, STEADY * 3)
    page = spec_page(integration, line.peak)
    assert "No moving range is beyond its UCL in this window." in page
    assert 'class="mes-range-row"' not in page


# --- the window --------------------------------------------------------------------------------


def test_a_time_range_limits_the_window(integration, line):
    add_values(line.peak, line.track, STEADY * 3)  # 10:00 to 10:29

    chart = chart_of(
        spec_page(integration, line.peak, **{"from": "2026-01-24T10:10", "to": "2026-01-24T10:19"})
    )

    assert chart.count('class="mes-point ') == 10
    assert "2026-01-24 10:10 to 2026-01-24 10:19" in chart


def test_station_and_equipment_filters_limit_the_window(integration, line):
    other_station = StationFactory(code="REFLOW-02")
    close_pass(line.track)
    other_track = TrackFactory(unit=line.unit, step_no=40, station=other_station)
    add_values(line.peak, line.track, STEADY, meta={"equipmentId": "OVEN-A"})
    add_values(
        line.peak,
        other_track,
        STEADY[:4],
        start=BASE_TIME + timedelta(hours=1),
        meta={"equipmentId": "OVEN-B"},
    )

    at_station = chart_of(spec_page(integration, line.peak, station="REFLOW-02"))
    on_equipment = chart_of(spec_page(integration, line.peak, equipment="OVEN-A"))
    everything = chart_of(spec_page(integration, line.peak))

    assert at_station.count('class="mes-point ') == 4
    assert on_equipment.count('class="mes-point ') == 10
    assert everything.count('class="mes-point ') == 14


def test_invalid_window_controls_are_reported_and_the_default_window_shown(integration, line):
    add_values(line.peak, line.track, STEADY)

    page = spec_page(integration, line.peak, values=7, station="NO-SUCH")

    assert "The latest 100 values are shown instead." in page
    assert chart_of(page).count('class="mes-point ') == 10
    # The controls are named as the page labels them, not by internal field names.
    errors = re.search(r'<ul class="errorlist" id="spc-window-errors">(.*?)</ul>', page, re.S)[1]
    assert "<li>Last values: Select a valid choice." in errors
    assert "<li>Station: Select a valid choice." in errors
    assert "size:" not in errors and "station:" not in errors


# --- who sees it, and where it is not drawn ----------------------------------------------------


def test_quality_staff_see_the_chart_and_nothing_loads_from_elsewhere(client, line):
    client.force_login(person_in_role("quality staff"))
    add_values(line.peak, line.track, STEADY)

    page = spec_page(client, line.peak)

    assert 'class="mes-spc-chart"' in page
    assert '<script src="http' not in page and "cdn" not in page.lower()


def test_a_spec_without_values_says_so_instead_of_a_chart(integration, line):
    page = spec_page(integration, line.conveyor)
    assert "No numeric values collected for this spec in this window." in page


def test_a_text_spec_has_no_spc_chart(integration, line):
    text_spec = DataSpecFactory(operation=line.operation, data_type=DataSpec.DataType.TEXT)
    page = spec_page(integration, text_spec)
    assert "SPC charts are drawn for NUMBER specs." in page
    assert "mes-spc-chart" not in page


@pytest.mark.parametrize("values", [50, 100, 500])
def test_each_window_size_is_offered(integration, line, values):
    page = spec_page(integration, line.peak, values=values)
    assert re.search(rf'<option value="{values}" selected>', page)
