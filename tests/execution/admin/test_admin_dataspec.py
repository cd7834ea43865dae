"""Editing a DataSpec in the back office (issue 4: DataSpec)."""

import re

import pytest
from django.urls import reverse

from execution.charts import nice_ticks
from execution.models import DataSpec
from tests.factories import person_in_role


def change_url(spec):
    return reverse("admin:execution_dataspec_change", args=[spec.pk])


def form_data(current, **changes) -> dict:
    data = {
        "operation": current.operation_id,
        "name": current.name,
        "item_type": current.item_type,
        "data_type": current.data_type,
        "method": current.method,
        "trigger_type": current.trigger_type,
        "trigger_rule": "",
        "spec": '{"min": 240, "max": 250, "target": 245, "unit": "C"}',
        "alarm": '{"min": 235, "max": 255, "action": "HOLD"}',
        "is_active": "on",
    }
    data.update(changes)
    return data


def field_errors(response, field) -> list[str]:
    assert response.status_code == 200, "expected the form again, with errors"
    return list(response.context["adminform"].form.errors.get(field, []))


# --- form errors -------------------------------------------------------------------------------


def test_json_with_a_syntax_error_is_refused_with_where_it_is_and_an_example(integration, line):
    response = integration.post(change_url(line.peak), form_data(line.peak, spec='{"min": 240,'))

    [error] = field_errors(response, "spec")
    assert error.startswith("This is not valid JSON:")
    assert "line 1, column 13" in error
    assert '{"min": 240, "max": 250, "target": 245, "unit": "C"}' in error
    # What was typed is shown again, to be corrected.
    assert "{&quot;min&quot;: 240,</textarea>" in response.content.decode()
    line.peak.refresh_from_db()
    assert line.peak.spec == {"min": 240, "max": 250, "target": 245, "unit": "C"}


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("spec", '{"min": 250, "max": 240}', "'min' (250) is greater than 'max' (240)."),
        ("spec", '{"Max": 250}', "Unknown key(s) 'Max'"),
        ("spec", '{"min": "low"}', "'min' must be a finite number"),
        ("spec", "[240, 250]", "Limits must be a JSON object."),
        ("alarm", '{"action": "STOP"}', "'action' must be one of ALARM_ONLY, HOLD"),
        ("spec", '{"min": NaN}', "NaN is not a number JSON allows"),
        ("alarm", '{"max": Infinity}', "Infinity is not a number JSON allows"),
    ],
)
def test_limits_that_could_not_be_judged_are_refused_beside_their_field(
    integration, line, field, text, message
):
    response = integration.post(change_url(line.peak), form_data(line.peak, **{field: text}))

    errors = field_errors(response, field)
    assert any(message in error for error in errors), errors
    line.peak.refresh_from_db()
    assert line.peak.alarm == {"min": 235, "max": 255, "action": "HOLD"}


def test_blank_limit_alarm_and_trigger_rule_are_saved_as_null(integration, line):
    response = integration.post(
        change_url(line.peak), form_data(line.peak, spec="  ", alarm="", trigger_rule="\n")
    )

    assert response.status_code == 302
    line.peak.refresh_from_db()
    assert (line.peak.spec, line.peak.alarm, line.peak.trigger_rule) == (None, None, None)


def test_valid_limits_are_saved_as_json_objects(integration, line):
    response = integration.post(
        change_url(line.peak),
        form_data(
            line.peak,
            spec='{"min": 238, "max": 252}',
            alarm='{"action": "ALARM_ONLY"}',
            trigger_rule='{"everyMinutes": 30}',
        ),
    )

    assert response.status_code == 302
    line.peak.refresh_from_db()
    assert line.peak.spec == {"min": 238, "max": 252}
    assert line.peak.alarm == {"action": "ALARM_ONLY"}
    assert line.peak.trigger_rule == {"everyMinutes": 30}


def test_the_form_keeps_the_model_field_names_and_shows_limits_as_indented_json(integration, line):
    response = integration.get(change_url(line.peak))
    form = response.context["adminform"].form

    assert {"spec", "alarm", "trigger_rule"} <= set(form.fields)
    page = response.content.decode()
    assert 'name="spec"' in page and 'name="alarm"' in page and 'name="trigger_rule"' in page
    assert "\n  &quot;min&quot;: 240," in page  # one key a line (PostgreSQL orders the keys)
    assert re.search(r'<textarea name="trigger_rule"[^>]*>\s*</textarea>', page)


def test_an_integration_admin_can_add_a_spec_with_blank_limits(integration, line):
    response = integration.post(
        reverse("admin:execution_dataspec_add"),
        form_data(line.peak, name="Oxygen ppm", spec="", alarm=""),
    )
    assert response.status_code == 302
    spec = DataSpec.objects.get(name="Oxygen ppm")
    assert spec.spec is None and spec.alarm is None


def test_quality_staff_cannot_change_a_spec(client, line):
    client.force_login(person_in_role("quality staff"))

    response = client.post(change_url(line.peak), form_data(line.peak, spec='{"min": 1}'))

    assert response.status_code == 403
    line.peak.refresh_from_db()
    assert line.peak.spec["min"] == 240


# --- chart axes (the SPC chart itself: tests/execution/test_spc_chart.py) ---


def test_axis_ticks_are_round_numbers_covering_the_range():
    assert nice_ticks(231.2, 258.8) == [235, 240, 245, 250, 255]
    assert nice_ticks(0.0, 1.0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
