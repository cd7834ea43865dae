"""Back office for the plant's reason codes (docs/holds.md "Reason codes"): the list
quality staff keep, and the field each disposition form shows while the list has an
active code. The rule that a code is needed lives in execution/reason_codes.py."""

from django import forms
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from execution.models import ReasonCode
from execution.reason_codes import active_reason_choices
from mes.admin.unreadable_filters import ReadableFiltersMixin


class ReasonCodeField:
    """A form mixin: `reason`, a choice of the active codes, needed when there is any."""

    def add_reason_field(self) -> None:
        choices = active_reason_choices()
        self.fields["reason"] = forms.ChoiceField(
            label="Reason code",
            choices=[("", "—"), *choices],
            required=bool(choices),
            help_text="Why, from the plant's list of reason codes. Kept with the decision.",
        )


@admin.register(ReasonCode)
class ReasonCodeAdmin(ReadableFiltersMixin, SimpleHistoryAdmin):
    list_display = ["code", "name", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]
    fields = ["code", "name", "description", "is_active"]

    def get_readonly_fields(self, request, obj=None):
        # Decisions name a code: it keeps its meaning. Retire it and add another.
        return ["code"] if obj is not None else []
