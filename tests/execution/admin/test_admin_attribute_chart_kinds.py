"""The attribute chart page's np, c and u charts, fed Montgomery's worked examples through the
database (Introduction to Statistical Quality Control, 6th ed., 2009, chapter 7; the data
and the book's figures are listed in tests/execution/spc/test_attributes.py):

- np: Example 7.1's orange-juice cans, 30 samples of 50; the book's p chart limits
  0.4102 and 0.0524 times n = 50 are the np limits 20.51 and 2.62; samples 15 and 23
  are beyond.
- c: Example 7.3's circuit boards, one count per value: c̄ = 19.85, UCL 33.22,
  LCL 6.48; samples 6 and 20 beyond.
- u: Example 7.4's computers, 5 per hour: ū = 1.93, UCL 3.79, LCL 0.07.
"""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse

from execution.models import DataSpec, DataValue
from tests.execution.admin.test_admin_attribute_charts import SVG, svg_of
from tests.execution.spc.test_attributes import CIRCUIT_BOARDS, COMPUTERS, ORANGE_JUICE
from tests.factories import BASE_TIME, DataSpecFactory, TrackFactory

pytestmark = pytest.mark.django_db


def write(spec, rows):
    """Values of `spec` from (minutes after BASE_TIME, number or None, judge) rows."""
    track = TrackFactory()
    DataValue.objects.bulk_create(
        DataValue(
            spec=spec,
            track=track,
            station=track.station,
            collected_at=BASE_TIME + timedelta(minutes=minute),
            value_number=number,
            value_boolean=None if number is not None else judge == "PASS",
            limits=spec.limits,
            judge=judge,
            source="AUTO",
            source_ref=f"device-data:attribute-{minute}",
        )
        for minute, number, judge in rows
    )


def chart_page(client, spec, **query):
    url = reverse("admin:execution_dataspec_attribute_chart", args=[spec.pk])
    response = client.get(url, query)
    assert response.status_code == 200
    return response.content.decode()


def table_rows(page: str) -> list[list[str]]:
    body = re.search(r'<table id="attribute-chart-table">.*?<tbody>(.*?)</tbody>', page, re.S)[1]
    return [re.findall(r"<td>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def beyond(page: str) -> list[int]:
    points = svg_of(page, "attribute-chart").findall(f".//{SVG}circle")
    return [index + 1 for index, point in enumerate(points) if "mes-beyond" in point.get("class")]


@pytest.fixture
def verdict(db):
    return DataSpecFactory(name="AOI Verdict", data_type=DataSpec.DataType.BOOLEAN)


@pytest.fixture
def defects(db):
    return DataSpecFactory(name="AOI Defect Count", spec={"max": 40})


def test_the_np_chart_of_samples_of_50_matches_example_7_1(quality, verdict):
    rows, minute = [], 0
    for failed in ORANGE_JUICE:
        for index in range(50):
            rows.append((minute, None, "FAIL" if index < failed else "PASS"))
            minute += 1
    write(verdict, rows)

    page = chart_page(quality, verdict, chart="np", sample=50)

    table = table_rows(page)
    assert len(table) == 30 and [row[1] for row in table[:2]] == ["50", "50"]
    assert [int(row[2]) for row in table] == ORANGE_JUICE
    assert float(table[0][4]) == pytest.approx(50 * 0.4102, abs=0.005)
    assert float(table[0][3]) == pytest.approx(50 * 0.0524, abs=0.005)
    assert "np̄ = 11.5667" in html.unescape(page)
    assert beyond(page) == [15, 23]


def test_the_c_chart_of_one_count_per_board_matches_example_7_3(quality, defects):
    write(defects, [(minute, count, "PASS") for minute, count in enumerate(CIRCUIT_BOARDS)])

    page = chart_page(quality, defects, chart="c")

    table = table_rows(page)
    assert len(table) == 26
    # The book works from the rounded c̄ = 19.85: agreement to 0.01.
    assert float(table[0][4]) == pytest.approx(33.22, abs=0.01)
    assert float(table[0][3]) == pytest.approx(6.48, abs=0.005)
    assert "c̄ = 19.8462" in html.unescape(page)
    assert beyond(page) == [6, 20]


def test_the_u_chart_of_defects_per_board_per_hour_matches_example_7_4(quality, defects):
    rows = []
    for hour, total in enumerate(COMPUTERS):
        share, rest = divmod(total, 5)  # the hour's count over its five boards
        for board in range(5):
            rows.append((hour * 60 + board, share + (board < rest), "PASS"))
    write(defects, rows)

    page = chart_page(quality, defects, chart="u", slot=60)

    table = table_rows(page)
    assert len(table) == 20 and {row[1] for row in table} == {"5"}
    assert "ū = 1.93" in html.unescape(page)
    assert float(table[0][4]) == pytest.approx(3.79, abs=0.005)
    assert float(table[0][3]) == pytest.approx(0.07, abs=0.005)
    assert float(table[5][2]) == pytest.approx(3.2)  # 16 defects on 5 computers
    assert beyond(page) == []


def test_a_value_that_is_not_a_count_is_named_and_no_c_chart_drawn(quality, defects):
    write(defects, [(0, 3, "PASS"), (1, 2.5, "PASS"), (2, 1, "PASS")])
    not_a_count = DataValue.objects.get(value_number=2.5)

    page = html.unescape(chart_page(quality, defects, chart="c"))

    assert (
        f"No c chart: value {not_a_count.pk} is 2.5: c and u charts need counts "
        "(whole numbers of 0 or more)"
    ) in page
    assert 'id="attribute-chart"' not in page


def test_a_pass_fail_spec_has_no_u_chart_and_says_why(quality, verdict):
    write(verdict, [(minute, None, "PASS") for minute in range(5)])

    page = html.unescape(chart_page(quality, verdict, chart="u"))

    assert "No u chart: c and u charts need a NUMBER spec whose values are defect counts" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"chart": "x"}, "Chart: choose p, np, c or u."),
        (
            {"chart": "np", "sample": "1"},
            "Sample size: a whole number of judged values from 2 to 1000.",
        ),
        (
            {"chart": "np", "sample": "lots"},
            "Sample size: a whole number of judged values from 2 to 1000.",
        ),
    ],
)
def test_an_unreadable_choice_is_said_and_the_default_shown(quality, verdict, query, message):
    write(verdict, [(minute, None, "FAIL" if minute % 7 == 0 else "PASS") for minute in range(200)])

    page = html.unescape(chart_page(quality, verdict, **query))

    errors = re.search(r'<ul class="errorlist" id="attribute-chart-errors">(.*?)</ul>', page, re.S)
    assert re.findall(r"<li>([^<]+)</li>", errors[1]) == [message, "The default is shown instead."]
    assert 'id="attribute-chart"' in page


def test_the_spec_page_and_the_overview_link_every_attribute_chart(quality, defects):
    write(defects, [(minute, minute % 3, "PASS") for minute in range(30)])
    url = reverse("admin:execution_dataspec_attribute_chart", args=[defects.pk])

    spec_page = quality.get(reverse("admin:execution_dataspec_change", args=[defects.pk]))
    overview = quality.get(reverse("admin:execution_dataspec_spc"))

    for page in (spec_page.content.decode(), overview.content.decode()):
        for kind in ("p", "np", "c", "u"):
            assert f'href="{url}?chart={kind}"' in page
