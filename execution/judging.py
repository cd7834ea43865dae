"""Limit validation and judging of collected values (docs/ingestion.md: limits and judging).

One judging function serves ingestion, the admin and anything else that needs
to know whether a value met its spec: `judge_value`.
"""

import json
import math
from dataclasses import dataclass
from numbers import Real

from django.core.exceptions import ValidationError

NUMBER_SPEC_KEYS = {"min", "max", "target", "unit"}
TEXT_SPEC_KEYS = {"allowed"}
BOOLEAN_SPEC_KEYS = {"expected"}
ALARM_KEYS = {"min", "max", "action"}
ALARM_ACTIONS = ("ALARM_ONLY", "HOLD")

PASS, FAIL, NA = "PASS", "FAIL", "NA"


@dataclass(frozen=True)
class Judgement:
    judge: str  # PASS, FAIL or NA (DataValue.Judge)
    alarmed: bool


def _is_number(value) -> bool:
    if not isinstance(value, Real) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _check_bounds(limits: dict, errors: list[str]) -> None:
    for key in ("min", "max"):
        if key in limits and limits[key] is not None and not _is_number(limits[key]):
            errors.append(f"'{key}' must be a finite number, not {limits[key]!r}.")
    low, high = limits.get("min"), limits.get("max")
    if _is_number(low) and _is_number(high) and low > high:
        errors.append(f"'min' ({low}) is greater than 'max' ({high}).")


def _unknown_keys(limits: dict, allowed: set[str]) -> list[str]:
    unknown = sorted(set(limits) - allowed)
    if not unknown:
        return []
    return [
        f"Unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}."
    ]


def _spec_errors(data_type: str, spec) -> list[str]:
    if spec is None:
        return []
    if not isinstance(spec, dict):
        return ["Limits must be a JSON object."]
    if data_type == "NUMBER":
        errors = _unknown_keys(spec, NUMBER_SPEC_KEYS)
        _check_bounds(spec, errors)
        if spec.get("target") is not None and not _is_number(spec["target"]):
            errors.append(f"'target' must be a finite number, not {spec['target']!r}.")
        if spec.get("unit") is not None and not isinstance(spec["unit"], str):
            errors.append("'unit' must be a string.")
        return errors
    if data_type == "TEXT":
        errors = _unknown_keys(spec, TEXT_SPEC_KEYS)
        allowed = spec.get("allowed")
        if allowed is not None and (
            not isinstance(allowed, list) or not all(isinstance(item, str) for item in allowed)
        ):
            errors.append("'allowed' must be a list of strings.")
        return errors
    if data_type == "BOOLEAN":
        errors = _unknown_keys(spec, BOOLEAN_SPEC_KEYS)
        expected = spec.get("expected")
        if expected is not None and not isinstance(expected, bool):
            errors.append("'expected' must be true or false.")
        return errors
    if data_type == "JSON":
        return [] if not spec else ["JSON values are not judged: leave the limits empty."]
    return [f"Unknown data type {data_type!r}."]


def _alarm_errors(data_type: str, alarm) -> list[str]:
    if alarm is None:
        return []
    if not isinstance(alarm, dict):
        return ["Alarm must be a JSON object."]
    errors = _unknown_keys(alarm, ALARM_KEYS)
    action = alarm.get("action")
    if action is not None and action not in ALARM_ACTIONS:
        errors.append(f"'action' must be one of {', '.join(ALARM_ACTIONS)}, not {action!r}.")
    has_bounds = alarm.get("min") is not None or alarm.get("max") is not None
    if has_bounds and data_type != "NUMBER":
        errors.append("Alarm limits 'min'/'max' apply to NUMBER specs only.")
    else:
        _check_bounds(alarm, errors)
    return errors


def validate_limits(data_type: str, spec, alarm) -> None:
    """Refuse limits that could not be judged as written (docs/ingestion.md: limits and judging).

    Raises ValidationError keyed by field ('spec', 'alarm') so forms show the
    message beside the field.
    """
    errors = {}
    if spec_errors := _spec_errors(data_type, spec):
        errors["spec"] = spec_errors
    if alarm_errors := _alarm_errors(data_type, alarm):
        errors["alarm"] = alarm_errors
    if errors:
        raise ValidationError(errors)


def limits_problem(spec) -> str | None:
    """Why a DataSpec's stored limits cannot be judged, or None. `validate_limits` keeps
    such limits out, but an SQL data fix goes past it (limits stored as text): a screen
    that judges as the operator types says so instead of failing."""
    try:
        validate_limits(spec.data_type, spec.spec, spec.alarm)
    except ValidationError as error:
        return " ".join(error.messages)
    return None


def _outside(value: float, limits: dict) -> bool:
    low, high = limits.get("min"), limits.get("max")
    return (low is not None and value < low) or (high is not None and value > high)


def _judge_against_spec(data_type: str, spec: dict | None, value) -> str:
    if not spec or data_type == "JSON":
        return NA
    if data_type == "NUMBER":
        if spec.get("min") is None and spec.get("max") is None:
            return NA  # a target alone sets no criterion
        return FAIL if _outside(value, spec) else PASS
    if data_type == "TEXT":
        if spec.get("allowed") is None:
            return NA
        return PASS if value in spec["allowed"] else FAIL
    if data_type == "BOOLEAN":
        if spec.get("expected") is None:
            return NA
        return PASS if value is spec["expected"] else FAIL
    return NA


def judge_value(spec, value) -> Judgement:
    """Judge one value against a DataSpec's limits and alarm.

    `judge` is PASS when the value meets the spec, FAIL when it does not, NA
    when the spec sets no criterion (always for JSON). `alarmed` is true when
    a NUMBER is outside the alarm limits; where the alarm has an action but no
    limits, when the judge is FAIL. Limits are inclusive.
    """
    judge = _judge_against_spec(spec.data_type, spec.spec, value)
    alarm = spec.alarm or {}
    if alarm.get("min") is not None or alarm.get("max") is not None:
        alarmed = spec.data_type == "NUMBER" and _outside(value, alarm)
    else:
        alarmed = bool(alarm.get("action")) and judge == FAIL
    return Judgement(judge=judge, alarmed=alarmed)


# --- limits in words (the back office, the unit history, exports) ---


def _bounds(limits: dict) -> str:
    low, high = limits.get("min"), limits.get("max")
    if low is not None and high is not None:
        return f"{low} – {high}"
    if low is not None:
        return f"≥ {low}"
    if high is not None:
        return f"≤ {high}"
    return ""


def describe_limits(limits: dict | None) -> str:
    """Stored limits (`{"spec": …, "alarm": …}`) in a few words.

    For example "240 – 250 C; target 245; alarm 235 – 255 (HOLD)".
    """
    limits = limits or {}
    spec, alarm = limits.get("spec") or {}, limits.get("alarm") or {}
    parts = []
    if bounds := _bounds(spec):
        parts.append(f"{bounds} {spec.get('unit', '')}".strip())
    if "allowed" in spec:
        parts.append("allowed: " + ", ".join(map(str, spec["allowed"] or [])))
    if "expected" in spec:
        parts.append(f"expected: {json.dumps(spec['expected'])}")
    if spec.get("target") is not None:
        parts.append(f"target {spec['target']}")
    alarm_bounds = _bounds(alarm)
    if alarm_bounds or alarm.get("action"):
        action = f" ({alarm['action']})" if alarm.get("action") else ""
        parts.append(f"alarm {alarm_bounds or 'on FAIL'}{action}")
    return "; ".join(parts) or "no limits"


def describe_sender_limits(limits: dict | None) -> str:
    """The sender's own limits of a reading (`{"min", "max", "expected", "unit"}`), in a
    few words, e.g. "230 – 260 C; expected 245"; "—" when it sent none."""
    if not limits:
        return "—"
    parts = []
    if bounds := _bounds(limits):
        parts.append(f"{bounds} {limits.get('unit') or ''}".strip())
    if limits.get("expected") is not None:
        parts.append(f"expected {limits['expected']}")
    return "; ".join(parts) or "—"
