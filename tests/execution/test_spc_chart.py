"""The SPC section of a NUMBER spec's admin page: I-MR chart, figures, violations, window."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from execution.models import DataSpec, DataValue
from execution.spc import capability
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


def test_points_are_placed_by_collection_time_and_a_long_pause_is_a_gap(integration, line):
    first = add_values(line.peak, line.track, STEADY)
    add_values(line.peak, line.track, STEADY, start=BASE_TIME + timedelta(hours=5))

    chart = chart_of(spec_page(integration, line.peak))

    xs = [float(x) for x in re.findall(r'class="mes-point [^"]*"[^>]*cx="([\d.]+)"', chart)]
    regular, across_the_pause = xs[1] - xs[0], xs[10] - xs[9]
    assert across_the_pause > 20 * regular
    individuals = panel(chart, "individuals")
    assert individuals.count('class="mes-gap"') == 1
    assert "No values for 4 h 51 min" in individuals
    assert individuals.count("<polyline") == 2  # the line is not drawn across the pause
    assert f'data-value-id="{first[0].pk}"' in chart


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
    assert "No point breaks rules 1–4 in this window." in page
    assert "mes-violation" not in chart_of(page)


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
