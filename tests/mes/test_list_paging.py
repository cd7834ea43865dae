"""Lists of millions: bounded counts, estimates said as such, keys-first deep pages, cursors."""

import pytest
from django.db import connection

from execution.models import DataValue
from integration.ingestion.service import receive_device_events
from integration.models import DeviceDataRecord, IntegrationMessage
from mes.counting import bounded_count
from tests.factories import reflow_event

LIST_URL = "/api/integration/device-data"
MESSAGES_URL = "/api/integration/messages"
RECORDS_ADMIN = "/admin/integration/devicedatarecord/"
VALUES_ADMIN = "/admin/execution/datavalue/"
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="estimates come from PostgreSQL's planner"
)


@pytest.fixture
def events(line, gateway):
    """25 records; eventTimes repeat (five per minute), so the order needs every key."""
    sent = [
        reflow_event(f"evt-{n:02d}", eventTime=f"2026-01-24T10:{n // 5:02d}:00Z") for n in range(25)
    ]
    receive_device_events(sent, sent_by=gateway)
    return sent


def items(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["eventId"] for item in response.json()["data"]["items"]]


def newest_first() -> list[str]:
    return list(
        DeviceDataRecord.objects.order_by("-event_time", "-received_at", "-pk").values_list(
            "event_id", flat=True
        )
    )


def test_cursor_pages_walk_the_whole_list_once_in_order(events, quality_client):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"pageSize": 4, **({"cursor": cursor} if cursor else {})}
        response = quality_client.get(LIST_URL, params)
        seen += items(response)
        cursor = response.json()["data"]["nextCursor"]
        pages += 1
        if cursor is None:
            break
        assert pages < 20
    assert seen == newest_first()
    assert pages == 7  # 25 rows by 4: the last page says there is no next one


def test_a_cursor_page_skips_nothing_when_new_events_arrive(events, quality_client, gateway):
    first = quality_client.get(LIST_URL, {"pageSize": 10})
    receive_device_events(
        [reflow_event("evt-new", eventTime="2026-01-24T11:00:00Z")], sent_by=gateway
    )
    cursor = first.json()["data"]["nextCursor"]
    second = quality_client.get(LIST_URL, {"pageSize": 10, "cursor": cursor})
    assert items(second) == newest_first()[11:21]  # the new event is before the first page


def test_messages_walk_by_cursor_too(events, quality_client):
    seen, cursor = [], None
    for _ in range(10):
        response = quality_client.get(
            MESSAGES_URL, {"pageSize": 7, **({"cursor": cursor} if cursor else {})}
        )
        seen += [item["id"] for item in response.json()["data"]["items"]]
        cursor = response.json()["data"]["nextCursor"]
        if cursor is None:
            break
    expected = IntegrationMessage.objects.order_by("-created_at", "-pk").values_list(
        "pk", flat=True
    )
    assert seen == [str(pk) for pk in expected]


@pytest.mark.parametrize(
    "cursor",
    [
        "WyIyMDI2LTAyLTMwVDAwOjAwOjAwKzAwOjAwIiwgIjIwMjYtMDEtMDFUMDA6MDA6MDArMDA6MDAiLCAxXQ",
        "WyIyMDI2LTAxLTMwVDAwOjAwOjAwKzk5OjAwIiwgIjIwMjYtMDEtMDFUMDA6MDA6MDArMDA6MDAiLCAxXQ",
        "nonsense",
        "W10",
        "WyIyMDI2LTAxLTI0IiwgMV0",
        "x" * 500,
        "WyJub3QgYSB0aW1lIiwgIm5vdCBhIHRpbWUiLCAxXQ",
    ],
)
def test_a_cursor_that_is_not_ours_is_a_readable_400(events, quality_client, cursor):
    response = quality_client.get(LIST_URL, {"cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.content.decode()


def test_cursor_and_page_together_are_a_400(events, quality_client):
    first = quality_client.get(LIST_URL, {"pageSize": 4})
    cursor = first.json()["data"]["nextCursor"]
    response = quality_client.get(LIST_URL, {"cursor": cursor, "page": 2})
    assert response.status_code == 400
    assert "not both" in response.content.decode()


def test_deep_numbered_pages_read_keys_first_and_list_the_same_rows(
    events, quality_client, monkeypatch
):
    expected = [
        items(quality_client.get(LIST_URL, {"pageSize": 4, "page": n})) for n in range(1, 8)
    ]
    monkeypatch.setattr("mes.api.pagination.KEYS_FIRST_FROM", 0)
    keys_first = [
        items(quality_client.get(LIST_URL, {"pageSize": 4, "page": n})) for n in range(1, 8)
    ]
    assert keys_first == expected
    assert sum(expected, []) == newest_first()


def test_counts_are_exact_up_to_the_bound(events):
    assert bounded_count(DeviceDataRecord.objects.all(), exact_up_to=25).value == 25
    assert bounded_count(DeviceDataRecord.objects.all(), exact_up_to=25).is_estimate is False


@on_postgresql
def test_past_the_bound_the_count_is_the_planners_estimate_and_says_so(events):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE integration_devicedatarecord")
    counted = bounded_count(DeviceDataRecord.objects.all(), exact_up_to=10)
    assert counted.is_estimate is True
    assert counted.value >= 11  # never below what was seen
    assert str(counted).startswith("about ")


@on_postgresql
def test_the_api_total_says_when_it_is_an_estimate(events, quality_client, monkeypatch):
    monkeypatch.setattr("mes.counting.EXACT_UP_TO", 10)
    data = quality_client.get(LIST_URL).json()["data"]
    assert data["totalIsEstimate"] is True and data["total"] >= 11
    filtered = quality_client.get(LIST_URL, {"eventId": "evt-03"}).json()["data"]
    assert (filtered["total"], filtered["totalIsEstimate"]) == (1, False)


@on_postgresql
def test_the_admin_list_says_about_when_its_count_is_estimated(events, quality, monkeypatch):
    monkeypatch.setattr("mes.counting.EXACT_UP_TO", 10)
    page = quality.get(VALUES_ADMIN).content.decode()
    assert "about " in page
    exact = quality.get(VALUES_ADMIN + "?q=SN-0001&judge__exact=FAIL").content.decode()
    assert "about " not in exact


def test_deep_admin_pages_read_keys_first_and_list_the_same_rows(events, quality, monkeypatch):
    monkeypatch.setattr("django.contrib.admin.options.ModelAdmin.list_per_page", 4)

    def page(number):
        response = quality.get(RECORDS_ADMIN + f"?p={number}")
        assert response.status_code == 200
        return [row.event_id for row in response.context["cl"].result_list]

    expected = [page(n) for n in range(1, 8)]
    monkeypatch.setattr("mes.admin.paging.KEYS_FIRST_FROM", 0)
    assert [page(n) for n in range(1, 8)] == expected
    assert sum(expected, []) == newest_first()


@on_postgresql
def test_an_admin_page_past_an_estimated_end_is_empty_not_an_error(events, quality, monkeypatch):
    monkeypatch.setattr("mes.counting.EXACT_UP_TO", 3)
    monkeypatch.setattr("django.contrib.admin.options.ModelAdmin.list_per_page", 4)
    response = quality.get(RECORDS_ADMIN + "?p=500")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_the_values_list_still_lists_every_value_newest_first(events, quality):
    response = quality.get(VALUES_ADMIN)
    shown = [row.pk for row in response.context["cl"].result_list]
    assert shown == list(
        DataValue.objects.order_by("-collected_at", "-id").values_list("pk", flat=True)
    )


@pytest.mark.parametrize("page", ["999999999999999999", "100000000000"])
def test_a_page_number_far_past_the_end_is_an_empty_page(events, quality_client, page):
    for url in (LIST_URL, MESSAGES_URL):
        response = quality_client.get(url, {"page": page, "pageSize": 100})
        assert response.status_code == 200, response.content
        assert response.json()["data"]["items"] == []


@on_postgresql
def test_a_page_far_past_an_estimated_end_is_empty_without_reading(
    events, quality_client, quality, monkeypatch
):
    monkeypatch.setattr("mes.counting.EXACT_UP_TO", 3)
    monkeypatch.setattr("django.contrib.admin.options.ModelAdmin.list_per_page", 4)
    response = quality_client.get(LIST_URL, {"page": "999999999999999999", "pageSize": 100})
    assert response.status_code == 200 and response.json()["data"]["items"] == []
    admin_page = quality.get(RECORDS_ADMIN + "?p=3000000000000000000")  # past bigint
    assert admin_page.status_code == 200
    assert list(admin_page.context["cl"].result_list) == []
