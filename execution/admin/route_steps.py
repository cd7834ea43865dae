"""The route step form of the back office: a step binds only its own operation's specs.

Used by the route step page and by the steps inline of a route version, so the
binding is refused before anything is saved (execution.route_binding holds the rule).
"""

from django import forms

from execution.models import RouteStep
from execution.route_binding import foreign_specs_message, specs_of_other_operations


class RouteStepForm(forms.ModelForm):
    """A route step; bound specs of another operation than the step's are refused."""

    class Meta:
        model = RouteStep
        fields = ["route_version", "step_no", "operation", "data_specs"]

    def clean(self):
        cleaned = super().clean()
        operation, specs = cleaned.get("operation"), cleaned.get("data_specs")
        if operation is not None and specs:
            foreign = specs_of_other_operations(operation, specs.select_related("operation"))
            if foreign:
                self.add_error("data_specs", foreign_specs_message(foreign, operation))
        return cleaned
