"""Back office for data-collection specs: limits edited as JSON text, checked when saved,
and the spec's SPC section under its form (execution/admin/spc.py)."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from execution.admin.attribute_charts import AttributeChartsMixin
from execution.admin.master_data_tables import MasterDataTables, SpecResource
from execution.admin.spc import SpcSectionMixin
from execution.admin.spc_decisions import SpcDecisionsMixin
from execution.judging import describe_limits
from execution.models import DataSpec
from mes.admin.unreadable_filters import ReadableFiltersMixin


class LimitJSONField(forms.JSONField):
    """JSON typed as text: blank means none (null), and a syntax error says where it is."""

    def __init__(self, *, example: str, **kwargs):
        self.example = example
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "widget", forms.Textarea(attrs={"rows": 6, "cols": 60, "class": "vLargeTextField"})
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        if self.disabled:
            return value
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value, parse_constant=_refuse_constant)
        except json.JSONDecodeError as error:
            raise ValidationError(
                "This is not valid JSON: %(reason)s (line %(line)s, column %(column)s). "
                "Write an object such as %(example)s, or leave the box empty for none.",
                code="invalid",
                params={
                    "reason": error.msg,
                    "line": error.lineno,
                    "column": error.colno,
                    "example": self.example,
                },
            ) from error
        except ValueError as error:
            raise ValidationError(
                "%(reason)s; limits must be finite numbers.",
                code="invalid",
                params={"reason": error},
            ) from error

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value  # what the person typed, shown again with the error
        if value is None:
            return ""
        return json.dumps(value, ensure_ascii=False, indent=2)

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != initial
        except ValidationError:
            return True


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


class DataSpecForm(forms.ModelForm):
    """The spec's own fields; `spec`, `alarm` and `trigger_rule` edited as JSON text."""

    spec = LimitJSONField(
        example='{"min": 240, "max": 250, "target": 245, "unit": "C"}',
        help_text='NUMBER: {"min": 240, "max": 250, "target": 245, "unit": "C"} (min or max '
        'may be left out); TEXT: {"allowed": ["OK", "GOOD"]}; BOOLEAN: {"expected": true}; '
        "JSON: empty. Limits are inclusive. Empty: no limits (values judge NA).",
    )
    alarm = LimitJSONField(
        example='{"min": 235, "max": 255, "action": "HOLD"}',
        help_text='{"min": 235, "max": 255, "action": "ALARM_ONLY" or "HOLD"}; min/max for '
        "NUMBER specs only. With an action and no limits, a FAIL raises the alarm. "
        "Empty: no alarm.",
    )
    trigger_rule = LimitJSONField(
        example='{"everyMinutes": 30}',
        help_text="Any JSON the trigger needs, stored and shown (not enforced at ingestion). "
        "Empty: none.",
    )

    class Meta:
        model = DataSpec
        fields = [
            "operation",
            "name",
            "item_type",
            "data_type",
            "method",
            "trigger_type",
            "trigger_rule",
            "spec",
            "alarm",
            "is_required",
            "is_active",
        ]


@admin.register(DataSpec)
class DataSpecAdmin(
    ReadableFiltersMixin,
    AttributeChartsMixin,
    SpcDecisionsMixin,
    SpcSectionMixin,
    MasterDataTables,
    admin.ModelAdmin,
):
    resource_classes = [SpecResource]
    form = DataSpecForm
    list_display = [
        "name",
        "operation",
        "data_type",
        "method",
        "item_type",
        "limits_summary",
        "is_required",
        "is_active",
    ]
    list_filter = ["data_type", "method", "item_type", "is_active", "operation"]
    search_fields = ["name", "operation__code"]
    list_select_related = ["operation"]
    autocomplete_fields = ["operation"]
    fieldsets = [
        (None, {"fields": ["operation", "name", "item_type", "data_type", "method"]}),
        (
            "Limits",
            {
                "fields": ["spec", "alarm"],
                "description": "Checked when saved (docs/ingestion.md). Values already received "
                "keep the limits they were judged against.",
            },
        ),
        ("Trigger", {"fields": ["trigger_type", "trigger_rule", "is_required", "is_active"]}),
    ]

    @admin.display(description="limits")
    def limits_summary(self, spec):
        return describe_limits(spec.limits)
