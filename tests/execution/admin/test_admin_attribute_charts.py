"""Attribute charts in the back office (docs/quality.md "Attribute charts"): a spec's p
chart of the fraction judged FAIL per time slot, and the Pareto of defect codes; the
figures are counted by hand in each test (the formulas' published checks are in
tests/execution/spc/test_attributes.py)."""

import math
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from execution.models import DataSpec
from tests.factories import BASE_TIME, DataSpecFactory, DataValueFactory, TrackFactory

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def aoi(db):
    return DataSpecFactory(name="AOI Verdict", data_type=DataSpec.DataType.BOOLEAN)


def judged(spec, slot_hour: int, fails: int, passes: int):
    track = TrackFactory()
    for index in range(fails + passes):
        DataValueFactory(
            spec=spec,
            track=track,
            value_number=None,
            value_boolean=index >= fails,
            judge="FAIL" if index < fails else "PASS",
            collected_at=BASE_TIME + timedelta(hours=slot_hour, minutes=index % 60),
        )


def svg_of(page: str, element_id: str) -> ET.Element:
    start = page.index(f'id="{element_id}">') + len(f'id="{element_id}">')
    return ET.fromstring(page[start : page.index("</svg>", start) + len("</svg>")])


def test_the_p_chart_counts_each_hours_fraction_and_marks_a_slot_beyond_its_limit(quality, aoi):
    # 20 hours of 50 boards with 2 failed each, then one hour with 20 of 50 failed.
    for hour in range(20):
        judged(aoi, hour, fails=2, passes=48)
    judged(aoi, 20, fails=20, passes=30)

    response = quality.get(reverse("admin:execution_dataspec_p_chart", args=[aoi.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    chart = response.context["data"].chart
    p_bar = (20 * 2 + 20) / (21 * 50)
    assert chart.centre == pytest.approx(p_bar)
    assert chart.ucl[0] == pytest.approx(p_bar + 3 * math.sqrt(p_bar * (1 - p_bar) / 50))
    assert chart.beyond == [20]
    svg = svg_of(page, "attribute-chart")
    points = svg.findall(f".//{SVG}circle")
    assert len(points) == 21
    assert [point.get("class") for point in points].count("mes-point mes-beyond") == 1
    assert "<td>40%</td>" in page  # the last slot's fraction in the table


def test_an_unknown_subgroup_is_said_and_the_hour_is_used(quality, aoi):
    judged(aoi, 0, 1, 9)

    response = quality.get(
        reverse("admin:execution_dataspec_p_chart", args=[aoi.pk]), {"slot": "7"}
    )

    assert response.status_code == 200
    assert "Subgroup &#x27;7&#x27; is not one of" in response.content.decode()
    assert response.context["data"].slot_minutes == 60


def test_a_spec_without_judged_values_has_no_p_chart_and_says_why(quality, aoi):
    response = quality.get(reverse("admin:execution_dataspec_p_chart", args=[aoi.pk]))

    assert response.status_code == 200
    assert 'id="attribute-chart-missing"' in response.content.decode()


def test_the_pareto_counts_failed_passes_by_defect_code_largest_first(quality):
    now = timezone.now()
    for code, count in (("BRIDGE", 5), ("MISSING", 3), ("<b>TOMBSTONE</b>", 2)):
        for _ in range(count):
            TrackFactory(result="FAIL", defect_code=code, out_at=now, station__code="AOI-01")
    TrackFactory(result="PASS", out_at=now, station__code="AOI-02")
    TrackFactory(result="FAIL", defect_code="OLD", out_at=now - timedelta(days=40))

    response = quality.get(reverse("admin:execution_dataspec_pareto"), {"days": "30"})

    page = response.content.decode()
    rows = response.context["data"].rows
    assert [(row.code, row.count) for row in rows] == [
        ("BRIDGE", 5),
        ("MISSING", 3),
        ("<b>TOMBSTONE</b>", 2),
    ]
    assert rows[1].cumulative_percent == pytest.approx(80.0)
    assert "<b>TOMBSTONE" not in page and "&lt;b&gt;TOMBSTONE" in page
    assert len(svg_of(page, "pareto-chart").findall(f".//{SVG}rect")) == 3


def test_the_pareto_of_one_station_and_a_bad_period_is_said(quality):
    now = timezone.now()
    TrackFactory(result="FAIL", defect_code="BRIDGE", out_at=now, station__code="AOI-01")
    TrackFactory(result="FAIL", defect_code="SHORT", out_at=now, station__code="AOI-02")

    one = quality.get(reverse("admin:execution_dataspec_pareto"), {"station": "AOI-02"})
    bad = quality.get(reverse("admin:execution_dataspec_pareto"), {"days": "yesterday"})

    assert [row.code for row in one.context["data"].rows] == ["SHORT"]
    assert "Period &#x27;yesterday&#x27; is not one of" in bad.content.decode()
    assert bad.context["days"] == 30


def test_the_overview_links_the_pass_fail_specs_and_the_pareto(quality, aoi):
    page = quality.get(reverse("admin:execution_dataspec_spc")).content.decode()

    assert reverse("admin:execution_dataspec_p_chart", args=[aoi.pk]) in page
    assert reverse("admin:execution_dataspec_pareto") in page
