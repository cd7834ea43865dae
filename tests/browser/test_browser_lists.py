"""The values and messages lists at 1,400 × 900 in a real Chromium: the columns people ask
about (when, which unit, which station, which event) are whole, on one line, on screen.

Reuses the browser fixtures of tests/browser/test_browser.py; slow, like them.
"""

import pytest

from integration.ingestion.errors import EventRefused
from integration.ingestion.service import receive_device_event
from tests.browser import test_browser
from tests.browser.test_browser import CHROMIUM, shoot, sign_in
from tests.factories import person_in_role, reflow_event

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="no chromium"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# The browser tab fixture, `page`, of tests/browser/test_browser.py: registered here under
# the same name.
page = test_browser.page

# Cells that must be whole and on one line, by list.
VALUE_COLUMNS = ["collected_at", "unit_sn", "station", "run_no"]
MESSAGE_COLUMNS = ["created_at", "business_key", "status_badge", "client", "error_code"]

# Every cell of these columns: its text fits its box (nothing cut off), takes one line,
# and the cell is inside the list's visible area (which scrolls sideways when too wide)
# and on screen.
MEASURE = """(columns) => {
  const shown = document.querySelector('#changelist .results').getBoundingClientRect();
  const rows = [];
  for (const name of columns) {
    for (const cell of document.querySelectorAll(`#result_list .field-${name}`)) {
      const box = cell.getBoundingClientRect();
      const text = document.createRange();
      text.selectNodeContents(cell);
      const tops = new Set([...text.getClientRects()].map((r) => Math.round(r.bottom)));
      rows.push({
        column: name, text: cell.innerText,
        cut: cell.scrollWidth > cell.clientWidth + 1,
        lines: tops.size,
        hidden: box.right > shown.right + 1 || box.right > window.innerWidth,
      });
    }
  }
  return rows;
}"""


@pytest.fixture
def plant_traffic(line, gateway):
    """Events with the keys a plant sends: long event ids, several per unit."""
    for n in range(12):
        receive_device_event(
            reflow_event(
                f"REFLOW-01-2026-01-24T10:{n:02d}:00.000Z-{n:06d}",
                240 + n,
                eventTime=f"2026-01-24T10:{n:02d}:00Z",
            ),
            sent_by=gateway,
        )
    with pytest.raises(EventRefused):
        receive_device_event(
            reflow_event("REFLOW-01-2026-01-24T11:00:00.000Z-late", unitSn="SN-LATE"),
            sent_by=gateway,
        )


def assert_whole_on_one_line(tab, columns) -> None:
    cells = tab.evaluate(MEASURE, columns)
    assert {cell["column"] for cell in cells} == set(columns)
    for cell in cells:
        assert not cell["cut"], cell
        assert cell["lines"] == 1, cell
        assert not cell["hidden"], cell


def test_the_values_list_shows_when_which_unit_and_where_whole_at_1400_px(page, plant_traffic):
    person_in_role("quality staff")
    sign_in(page, "quality-staff")

    page.goto("/admin/execution/datavalue/")
    page.wait_for_selector("#result_list")

    assert page.viewport_size == {"width": 1400, "height": 900}
    assert_whole_on_one_line(page, VALUE_COLUMNS)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    shoot(page, "lists-1-values")


def test_the_messages_list_shows_when_and_which_event_whole_at_1400_px(page, plant_traffic):
    person_in_role("quality staff")
    sign_in(page, "quality-staff")

    page.goto("/admin/integration/integrationmessage/")
    page.wait_for_selector("#result_list")

    assert_whole_on_one_line(page, MESSAGE_COLUMNS)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    shoot(page, "lists-2-messages")
