"""Limits and judging (docs/ingestion.md): `judge_value`, `validate_limits`, DataSpec saving."""

import math

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from execution.judging import judge_value, validate_limits
from execution.models import DataSpec
from tests.factories import DataSpecFactory, OperationFactory

NUMBER, TEXT, BOOLEAN, JSON = (
    DataSpec.DataType.NUMBER,
    DataSpec.DataType.TEXT,
    DataSpec.DataType.BOOLEAN,
    DataSpec.DataType.JSON,
)

REFLOW_SPEC = {"min": 240, "max": 250, "target": 245, "unit": "C"}
REFLOW_ALARM = {"min": 235, "max": 255, "action": "HOLD"}


def judged(data_type, value, spec=None, alarm=None):
    """(judge, alarmed) of one value against an unsaved DataSpec."""
    judgement = judge_value(DataSpec(data_type=data_type, spec=spec, alarm=alarm), value)
    return judgement.judge, judgement.alarmed


# --- NUMBER ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (240, "PASS"),  # exactly min
        (250, "PASS"),  # exactly max
        (245, "PASS"),
        (240.0, "PASS"),
        (239.999, "FAIL"),
        (250.001, "FAIL"),
        (0, "FAIL"),
        (-245, "FAIL"),
    ],
)
def test_number_is_judged_against_inclusive_min_and_max(value, expected):
    assert judged(NUMBER, value, REFLOW_SPEC) == (expected, False)


@pytest.mark.parametrize(
    ("value", "expected"), [(1, "PASS"), (1_000_000, "PASS"), (0.999, "FAIL"), (-5, "FAIL")]
)
def test_number_with_only_a_min_has_no_upper_bound(value, expected):
    assert judged(NUMBER, value, {"min": 1})[0] == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(3, "PASS"), (-1_000_000, "PASS"), (3.001, "FAIL"), (100, "FAIL")]
)
def test_number_with_only_a_max_has_no_lower_bound(value, expected):
    assert judged(NUMBER, value, {"max": 3})[0] == expected


@pytest.mark.parametrize("value", [245, 0, 1e9])
def test_number_spec_with_only_a_target_judges_na(value):
    assert judged(NUMBER, value, {"target": 245, "unit": "C"}) == ("NA", False)


@pytest.mark.parametrize(
    ("data_type", "value"),
    [(NUMBER, 245), (TEXT, "PASS"), (BOOLEAN, True), (BOOLEAN, False), (JSON, {"a": 1})],
)
@pytest.mark.parametrize("spec", [None, {}])
def test_value_without_a_spec_judges_na(data_type, value, spec):
    assert judged(data_type, value, spec) == ("NA", False)


# --- TEXT, BOOLEAN, JSON -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("OK", "PASS"), ("GOOD", "PASS"), ("NG", "FAIL"), ("", "FAIL"), ("OK ", "FAIL")],
)
def test_text_is_judged_against_the_allowed_list(value, expected):
    assert judged(TEXT, value, {"allowed": ["OK", "GOOD"]}) == (expected, False)


def test_text_with_an_empty_allowed_list_fails_every_value():
    assert judged(TEXT, "OK", {"allowed": []})[0] == "FAIL"


@pytest.mark.parametrize(
    ("expected_value", "value", "expected"),
    [(True, True, "PASS"), (True, False, "FAIL"), (False, False, "PASS"), (False, True, "FAIL")],
)
def test_boolean_is_judged_against_the_expected_value(expected_value, value, expected):
    assert judged(BOOLEAN, value, {"expected": expected_value}) == (expected, False)


@pytest.mark.parametrize("value", [{"defects": []}, [1, 2, 3], "text", 42, None])
def test_json_values_are_never_judged(value):
    assert judged(JSON, value, None, {"action": "ALARM_ONLY"}) == ("NA", False)


# --- alarms ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (245, ("PASS", False)),
        (238, ("FAIL", False)),  # out of spec, inside the alarm band
        (252, ("FAIL", False)),
        (235, ("FAIL", False)),  # exactly the alarm min: not alarmed
        (255, ("FAIL", False)),  # exactly the alarm max: not alarmed
        (234.9, ("FAIL", True)),
        (255.1, ("FAIL", True)),
        (300, ("FAIL", True)),
    ],
)
def test_number_is_alarmed_only_outside_the_alarm_limits(value, expected):
    assert judged(NUMBER, value, REFLOW_SPEC, REFLOW_ALARM) == expected


def test_alarm_limits_apply_even_without_spec_limits():
    assert judged(NUMBER, 300, None, {"max": 255, "action": "ALARM_ONLY"}) == ("NA", True)
    assert judged(NUMBER, 250, None, {"max": 255, "action": "ALARM_ONLY"}) == ("NA", False)


@pytest.mark.parametrize("action", ["ALARM_ONLY", "HOLD"])
@pytest.mark.parametrize(
    ("data_type", "spec", "value", "expected"),
    [
        (NUMBER, {"max": 3}, 3, ("PASS", False)),
        (NUMBER, {"max": 3}, 4, ("FAIL", True)),
        (TEXT, {"allowed": ["PASS"]}, "PASS", ("PASS", False)),
        (TEXT, {"allowed": ["PASS"]}, "FAIL", ("FAIL", True)),
        (BOOLEAN, {"expected": True}, True, ("PASS", False)),
        (BOOLEAN, {"expected": True}, False, ("FAIL", True)),
        (NUMBER, {"target": 3}, 99, ("NA", False)),
        (TEXT, None, "anything", ("NA", False)),
    ],
)
def test_alarm_with_an_action_but_no_limits_is_raised_exactly_when_the_judge_fails(
    action, data_type, spec, value, expected
):
    assert judged(data_type, value, spec, {"action": action}) == expected


def test_alarm_without_action_or_limits_never_alarms():
    assert judged(NUMBER, 4, {"max": 3}, {}) == ("FAIL", False)
    assert judged(NUMBER, 4, {"max": 3}, None) == ("FAIL", False)


# --- validate_limits ---------------------------------------------------------------------------

VALID_LIMITS = [
    (NUMBER, REFLOW_SPEC, REFLOW_ALARM),
    (NUMBER, {"min": 240}, None),
    (NUMBER, {"max": 250}, {"action": "ALARM_ONLY"}),
    (NUMBER, {"min": 245, "max": 245}, None),  # a single allowed value
    (NUMBER, {"min": -1.5, "max": 2.25}, {"min": -3, "max": 4}),
    (NUMBER, {"target": 245}, None),
    (NUMBER, None, None),
    (TEXT, {"allowed": ["OK", "GOOD"]}, {"action": "ALARM_ONLY"}),
    (TEXT, {"allowed": []}, None),
    (BOOLEAN, {"expected": True}, {"action": "HOLD"}),
    (BOOLEAN, {"expected": False}, None),
    (JSON, None, None),
]

INVALID_LIMITS = [
    # (id, data type, spec, alarm, the field the error is reported on)
    ("min-greater-than-max", NUMBER, {"min": 250, "max": 240}, None, "spec"),
    ("non-numeric-min", NUMBER, {"min": "240"}, None, "spec"),
    ("non-numeric-max", NUMBER, {"max": "high"}, None, "spec"),
    ("boolean-min", NUMBER, {"min": True}, None, "spec"),
    ("list-max", NUMBER, {"max": [250]}, None, "spec"),
    ("nan-min", NUMBER, {"min": math.nan}, None, "spec"),
    ("inf-max", NUMBER, {"max": math.inf}, None, "spec"),
    ("minus-inf-min", NUMBER, {"min": -math.inf}, None, "spec"),
    ("non-numeric-target", NUMBER, {"target": "245"}, None, "spec"),
    ("unknown-key-Max", NUMBER, {"min": 240, "Max": 250}, None, "spec"),
    ("unknown-key-on-text", TEXT, {"allowed": ["OK"], "expected": "OK"}, None, "spec"),
    ("unknown-key-on-boolean", BOOLEAN, {"expected": True, "allowed": [True]}, None, "spec"),
    ("spec-not-an-object", NUMBER, [240, 250], None, "spec"),
    ("allowed-a-string", TEXT, {"allowed": "PASS"}, None, "spec"),
    ("allowed-numbers", TEXT, {"allowed": [1, 2]}, None, "spec"),
    ("allowed-mixed", TEXT, {"allowed": ["PASS", 1]}, None, "spec"),
    ("allowed-an-object", TEXT, {"allowed": {"PASS": True}}, None, "spec"),
    ("expected-a-string", BOOLEAN, {"expected": "true"}, None, "spec"),
    ("expected-a-number", BOOLEAN, {"expected": 1}, None, "spec"),
    ("unknown-alarm-action", NUMBER, None, {"min": 235, "action": "STOP"}, "alarm"),
    ("lowercase-alarm-action", NUMBER, None, {"action": "hold"}, "alarm"),
    ("alarm-min-greater-than-max", NUMBER, None, {"min": 255, "max": 235}, "alarm"),
    ("alarm-nan", NUMBER, None, {"max": math.nan, "action": "HOLD"}, "alarm"),
    ("alarm-non-numeric", NUMBER, None, {"min": "235"}, "alarm"),
    ("alarm-unknown-key", NUMBER, None, {"Min": 235, "action": "HOLD"}, "alarm"),
    ("alarm-min-on-text", TEXT, {"allowed": ["PASS"]}, {"min": 1, "action": "HOLD"}, "alarm"),
    ("alarm-max-on-boolean", BOOLEAN, None, {"max": 1}, "alarm"),
    ("alarm-not-an-object", NUMBER, None, "HOLD", "alarm"),
]


@pytest.mark.parametrize(("data_type", "spec", "alarm"), VALID_LIMITS)
def test_valid_limits_are_accepted(data_type, spec, alarm):
    validate_limits(data_type, spec, alarm)  # raises on refusal


@pytest.mark.parametrize(
    ("data_type", "spec", "alarm", "field"),
    [case[1:] for case in INVALID_LIMITS],
    ids=[case[0] for case in INVALID_LIMITS],
)
def test_invalid_limits_are_refused_on_the_field_that_is_wrong(data_type, spec, alarm, field):
    with pytest.raises(ValidationError) as refused:
        validate_limits(data_type, spec, alarm)
    assert field in refused.value.message_dict


def test_unknown_key_is_named_in_the_refusal():
    with pytest.raises(ValidationError) as refused:
        validate_limits(NUMBER, {"min": 240, "Max": 250}, None)
    assert "Max" in " ".join(refused.value.message_dict["spec"])


def test_integer_bound_too_large_for_a_float_is_refused_not_crashing():
    # JSON allows integers of any size (the admin's JSON field parses them);
    # the value column is a float, so such a bound is not a finite number.
    with pytest.raises(ValidationError) as refused:
        validate_limits(NUMBER, {"max": 10**400}, None)
    assert "spec" in refused.value.message_dict


# --- DataSpec.save and full_clean --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data_type", "spec", "alarm", "field"),
    [case[1:] for case in INVALID_LIMITS],
    ids=[case[0] for case in INVALID_LIMITS],
)
def test_dataspec_full_clean_refuses_invalid_limits(data_type, spec, alarm, field):
    data_spec = DataSpec(
        operation=OperationFactory(),
        name="Peak Temperature",
        data_type=data_type,
        spec=spec,
        alarm=alarm,
    )
    with pytest.raises(ValidationError) as refused:
        data_spec.full_clean()
    assert field in refused.value.message_dict


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data_type", "spec", "alarm", "field"),
    [case[1:] for case in INVALID_LIMITS],
    ids=[case[0] for case in INVALID_LIMITS],
)
def test_dataspec_save_refuses_invalid_limits(data_type, spec, alarm, field):
    with pytest.raises(ValidationError) as refused:
        DataSpecFactory(data_type=data_type, spec=spec, alarm=alarm)
    assert field in refused.value.message_dict
    assert not DataSpec.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("data_type", "spec", "alarm"), VALID_LIMITS)
def test_dataspec_with_valid_limits_is_cleaned_and_saved(data_type, spec, alarm):
    data_spec = DataSpec(
        operation=OperationFactory(), name="Spec", data_type=data_type, spec=spec, alarm=alarm
    )
    data_spec.full_clean()
    data_spec.save()
    data_spec.refresh_from_db()
    assert (data_spec.spec, data_spec.alarm) == (spec, alarm)


@pytest.mark.django_db
def test_editing_a_saved_spec_to_a_typo_is_refused_and_the_stored_limits_are_kept():
    data_spec = DataSpecFactory(spec={"min": 240, "max": 250})
    data_spec.spec = {"min": 240, "Max": 250}
    with pytest.raises(ValidationError):
        data_spec.save()
    data_spec.refresh_from_db()
    assert data_spec.spec == {"min": 240, "max": 250}


@pytest.mark.django_db
def test_changing_data_type_makes_alarm_limits_invalid_on_save():
    data_spec = DataSpecFactory(data_type=NUMBER, spec=None, alarm={"min": 1, "max": 2})
    data_spec.data_type = TEXT
    with pytest.raises(ValidationError):
        data_spec.save()
    assert DataSpec.objects.get(pk=data_spec.pk).data_type == NUMBER


# --- the admin form ----------------------------------------------------------------------------


def _dataspec_form(operation, spec: str) -> dict:
    return {
        "operation": operation.pk,
        "name": "Peak Temperature",
        "item_type": DataSpec.ItemType.KEY,
        "data_type": NUMBER,
        "method": DataSpec.Method.AUTO,
        "trigger_type": DataSpec.TriggerType.EACH_UNIT,
        "trigger_rule": "null",
        "spec": spec,
        "alarm": "null",
        "is_active": "on",
    }


@pytest.mark.parametrize(
    "spec",
    [
        '{"min": 240, "Max": 250}',
        '{"min": 250, "max": 240}',
        '{"min": "240"}',
        '{"max": 1' + "0" * 400 + "}",
    ],
    ids=["typo", "min-greater-than-max", "non-numeric", "huge-integer"],
)
def test_admin_refuses_invalid_limits_with_a_form_error(admin_client, spec):
    operation = OperationFactory()
    response = admin_client.post(
        reverse("admin:execution_dataspec_add"), _dataspec_form(operation, spec)
    )
    assert response.status_code == 200  # the form again, not a redirect or a 500
    assert response.context["adminform"].form.errors.get("spec")
    assert not DataSpec.objects.exists()


def test_admin_saves_valid_limits(admin_client):
    operation = OperationFactory()
    response = admin_client.post(
        reverse("admin:execution_dataspec_add"),
        _dataspec_form(operation, '{"min": 240, "max": 250, "unit": "C"}'),
    )
    assert response.status_code == 302, response.content
    assert DataSpec.objects.get().spec == {"min": 240, "max": 250, "unit": "C"}
