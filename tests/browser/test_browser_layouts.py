"""The quality pages fit the screen (issue 26): at 1280 × 800 and at 1920 × 1080, every
form field and every column header of a CONFLICT message's page, a FAILED message's
page, an open hold's page and a unit's page lies inside the viewport's width (scrolling
down is fine; scrolling sideways to find a field is not).

The unit has a realistic history: 30 values, a refused event, a hold closed for rework
with a long note. Folded details (<details>) are opened before measuring, so what they
hold is measured too. Fixtures of tests/browser/test_browser.py.
"""

import pytest

from execution.holds import close_hold
from execution.models import Hold
from integration.ingestion.errors import EventRefused
from integration.ingestion.service import receive_device_event
from integration.models import IntegrationMessage
from tests.browser import test_browser
from tests.browser.test_browser import pytestmark, shoot, sign_in  # noqa: F401
from tests.factories import person_in_role, reflow_event

page = test_browser.page  # the browser tab fixture
VIEWPORTS = [(1280, 800), (1920, 1080)]
REWORK_NOTE = (
    "Peak temperature 260 C at REFLOW-01: thermocouple TC-3 re-seated, profile re-run on a "
    "test board; this board goes back to step 40 for a second reflow and an X-ray of U3."
)

# Every visible form field and column header, and each timeline row, with its box and
# the box of the nearest ancestor that would cut it off (a scroll box); the page's
# <details> opened first.
MEASURE = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const scrollBox = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return a.getBoundingClientRect();
    }
    return null;
  };
  const selector = 'input:not([type=hidden]), textarea, select, button, th, .mes-history-row';
  return [...document.querySelectorAll(selector)]
    .map(el => ({el, box: el.getBoundingClientRect()}))
    .filter(({box}) => box.width > 0 && box.height > 0)
    .map(({el, box}) => {
      const clip = scrollBox(el);
      return {
        what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
          + (el.name ? '[name=' + el.name + ']' : '')
          + ' "' + (el.innerText || el.value || '').trim().slice(0, 30) + '"',
        left: Math.round(box.left), right: Math.round(box.right),
        shownFrom: clip ? Math.round(clip.left) : null,
        shownTo: clip ? Math.round(clip.right) : null,
      };
    });
}"""


def outside(page, width: int, expected: str) -> list[dict]:
    """The fields, headers and rows of the page that lie beyond its left or right edge, or
    beyond the edge of a box that scrolls or cuts them sideways;
        `expected` starts the description of one that must have been measured."""
    measured = page.evaluate(MEASURE)
    assert any(box["what"].startswith(expected) for box in measured), f"no {expected} measured"
    return [
        box
        for box in measured
        if box["left"] < max(0, box["shownFrom"] or 0)
        or box["right"] > min(width, box["shownTo"] or width)
    ]


@pytest.fixture
def history(traffic, line):
    """SN-0001 on hold (evt-hot, 260), then 30 more readings, a refused event of its own,
    and the hold's id."""
    for n in range(30):
        receive_device_event(
            reflow_event(
                f"evt-2026-01-24-reflow-01-{n:06d}",
                244 + n % 3,
                eventTime=f"2026-01-24T11:{n + 1:02d}:00Z",
            ),
            sent_by=traffic.record.sent_by,
        )
    with pytest.raises(EventRefused):
        receive_device_event(
            reflow_event(
                "evt-2026-01-24-reflow-01-refused",
                data=[{"specName": "Flux Density", "valueNumber": 1}],
            ),
            sent_by=traffic.record.sent_by,
        )
    return Hold.objects.get(unit=line.unit)


@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
def test_every_field_and_column_of_the_quality_pages_is_inside_the_viewport(
    page, traffic, line, history, width, height
):
    person_in_role("quality staff")
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, "quality-staff")
    failed = IntegrationMessage.objects.get(status="FAILED", business_key__endswith="refused")
    note = "textarea#id_acknowledge_note"
    pages = {
        "conflict": (f"/admin/integration/integrationmessage/{traffic.conflict.pk}/change/", note),
        "failed": (f"/admin/integration/integrationmessage/{failed.pk}/change/", note),
        "hold": (f"/admin/execution/hold/{history.pk}/change/", "textarea#id_note"),
    }
    found = {}
    for name, (url, expected) in pages.items():
        page.goto(url)
        shoot(page, f"layout-{width}-{name}")
        found[name] = outside(page, width, expected)

    close_hold(history.pk, disposition="REWORK", note=REWORK_NOTE, closed_by=None)
    page.goto(f"/admin/execution/unit/{line.unit.pk}/page/")
    assert page.locator(".mes-history-row").count() >= 30
    shoot(page, f"layout-{width}-unit")
    found["unit"] = outside(page, width, "th")

    beyond = {name: boxes for name, boxes in found.items() if boxes}
    assert not beyond, "\n".join(
        f"{name}: {box['what']} at x = {box['left']}–{box['right']}"
        + (f" (its box shows {box['shownFrom']}–{box['shownTo']})" if box["shownTo"] else "")
        for name, boxes in beyond.items()
        for box in boxes
    )
