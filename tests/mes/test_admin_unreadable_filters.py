"""A list filter value the back office cannot read is an error message above an empty
list, on every list (mes/admin/unreadable_filters.py; docs/back-office.md)."""

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import reverse

from mes.admin.unreadable_filters import ReadableFiltersChangeList

VALUES = reverse("admin:execution_datavalue_changelist")
EXPORT = reverse("admin:execution_datavalue_export")
RECORDS = reverse("admin:integration_devicedatarecord_changelist")
MESSAGES = reverse("admin:integration_integrationmessage_changelist")
HOLDS = reverse("admin:execution_hold_changelist")
UNITS = reverse("admin:execution_unit_changelist")
DISPOSITIONS = reverse("admin:execution_failuredisposition_changelist")
DATE_TIME_FORM = "2026-12-06 or 2026-12-06 14:00"


def unreadable(client, url: str) -> tuple[list[str], int]:
    """The list's error messages and its row count, for a list that must still answer."""
    response = client.get(url)
    assert response.status_code == 200, response.get("Location")
    errors = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
    return errors, len(response.context["cl"].result_list)


def test_a_date_range_filter_given_a_word_says_so_and_lists_nothing(quality, traffic):
    errors, rows = unreadable(quality, VALUES + "?collectedFrom=yesterday")
    assert rows == 0
    assert errors == [
        "The filter “collected at (collectedFrom)” could not read “yesterday”: it takes a "
        f"date, or a date and time, such as {DATE_TIME_FORM}. No rows are shown until the "
        "value is corrected or the filter cleared."
    ]


def test_a_lookup_in_the_address_given_a_local_date_names_the_form_it_takes(quality, traffic):
    errors, rows = unreadable(quality, VALUES + "?collected_at__gte=06.12.2026")
    assert rows == 0
    [error] = errors
    assert "“collected at (collected_at__gte)” could not read “06.12.2026”" in error
    assert DATE_TIME_FORM in error


def test_the_message_is_on_the_page_above_the_empty_list(quality, traffic):
    page = quality.get(VALUES + "?receivedTo=06.12.2026").content.decode()
    assert "could not read “06.12.2026”" in page
    assert '<span class="mes-result-count">0</span> data values' in page


def test_every_unreadable_value_is_named_and_readable_filters_stay_in_the_links(quality, traffic):
    response = quality.get(VALUES + "?collectedFrom=soon&judge__exact=FAIL&receivedTo=later")
    errors = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(errors) == 2
    assert "“soon”" in errors[0] and "“later”" in errors[1]
    changelist = response.context["cl"]
    assert changelist.result_list.count() == 0
    # Clearing all filters drops the unreadable ones too; other links keep what was typed.
    assert "soon" not in changelist.clear_all_filters_qs
    assert "collectedFrom=soon" in changelist.get_query_string()


def test_a_choice_field_given_a_value_it_does_not_offer_lists_its_choices(quality, traffic):
    errors, rows = unreadable(quality, VALUES + "?judge__exact=pass")
    assert rows == 0
    [error] = errors
    assert "“judge (judge__exact)” could not read “pass”: it takes one of PASS, FAIL, NA" in error


def test_a_value_the_data_does_not_hold_is_an_honest_empty_list(quality, traffic):
    errors, rows = unreadable(quality, VALUES + "?station=NO-SUCH-STATION")
    assert (errors, rows) == ([], 0)


def test_a_parameter_that_is_no_filter_is_named(quality, traffic):
    errors, rows = unreadable(quality, VALUES + "?colected_at__gte=2026-12-06")
    assert rows == 0
    [error] = errors
    assert "“colected_at__gte” could not read “2026-12-06”: it takes nothing" in error


def test_the_value_export_of_an_unreadable_filter_leads_to_the_list_saying_why(quality, traffic):
    response = quality.get(EXPORT + "?collectedFrom=soon&judge__exact=FAIL")
    assert response.status_code == 302
    assert response["Location"] == VALUES + "?collectedFrom=soon&judge__exact=FAIL"
    errors, rows = unreadable(quality, response["Location"])
    assert rows == 0 and "could not read “soon”" in errors[0]


@pytest.mark.parametrize(
    ("query", "named", "form"),
    [
        ("?stepNo=forty", "step number (stepNo)", "a whole number such as 40"),
        ("?stepNo=-1", "step number (stepNo)", "a whole number such as 40"),
        ("?eventFrom=24.01.2026", "event time (eventFrom)", DATE_TIME_FORM),
        ("?eventTo=9999-12-31", "event time (eventTo)", DATE_TIME_FORM),  # past the calendar
    ],
)
def test_the_record_list_names_its_unreadable_filters(quality, traffic, query, named, form):
    errors, rows = unreadable(quality, RECORDS + query)
    assert rows == 0
    [error] = errors
    assert f"“{named}”" in error and form in error


def test_the_message_list_names_an_unreadable_date(quality, traffic):
    errors, rows = unreadable(quality, MESSAGES + "?createdFrom=last-tuesday")
    assert rows == 0
    [error] = errors
    assert "“created (createdFrom)” could not read “last-tuesday”" in error


def test_the_hold_list_no_longer_lists_every_hold_for_a_state_it_does_not_offer(quality, traffic):
    assert unreadable(quality, HOLDS)[1] == 1  # evt-hot held its unit
    errors, rows = unreadable(quality, HOLDS + "?open=maybe")
    assert rows == 0
    [error] = errors
    assert "“state (open)” could not read “maybe”: it takes one of yes, no" in error


def test_the_hold_list_names_a_spec_that_is_no_number(quality, traffic):
    errors, rows = unreadable(quality, HOLDS + "?spec__id__exact=peak")
    assert rows == 0
    [error] = errors
    assert "could not read “peak”: it takes a whole number such as 40" in error


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("?tracked=maybe", "“tracked in (tracked)” could not read “maybe”"),
        ("?current_step_no=ten", "could not read “ten”: it takes a whole number"),
        ("?status__exact=DONE,SCRAPPED", "could not read “DONE,SCRAPPED”: it takes one of"),
    ],
)
def test_the_unit_list_names_its_unreadable_filters(quality, traffic, query, said):
    assert unreadable(quality, UNITS)[1] == 1
    errors, rows = unreadable(quality, UNITS + query)
    assert rows == 0
    [error] = errors
    assert said in error


@pytest.mark.parametrize(
    "query",
    [
        "?decided_at__year=2026&decided_at__month=13",
        "?decided_at__year=twenty&decided_at__month=1&decided_at__day=1",
    ],
)
def test_a_date_drill_down_of_no_real_date_is_named_and_the_page_still_draws(quality, query):
    errors, rows = unreadable(quality, DISPOSITIONS + query)
    assert rows == 0
    [error] = errors
    assert "“decided at (decided_at__" in error and "a month 1–12" in error


def test_every_list_of_execution_and_integration_names_unreadable_filters():
    checked = 0
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in ("execution", "integration"):
            assert model_admin.get_changelist(None) is ReadableFiltersChangeList, model
            checked += 1
    assert checked > 10
