"""The route step form of the back office: a step binds only its own operation's specs,
and names only stations of its own station type.

Used by the route step page and by the steps inline of a route version, so the
binding is refused before anything is saved (execution.route_binding holds the rules).
"""

from django import forms

from execution.models import RouteStep
from execution.route_binding import (
    foreign_specs_message,
    specs_of_other_operations,
    stations_of_other_type,
    stations_of_other_type_message,
)


class RouteStepForm(forms.ModelForm):
    """A route step; bound specs of another operation than the step's are refused, and so
    are allowed stations of another type than the step's (no unit could start there)."""

    class Meta:
        model = RouteStep
        fields = [
            "route_version",
            "step_no",
            "operation",
            "data_specs",
            "station_type",
            "allowed_stations",
        ]

    def clean(self):
        cleaned = super().clean()
        version = cleaned.get("route_version")
        if version is not None and version.runs.exists():
            # A version a run names is fixed: a change is a new version (docs/master-data.md).
            self.add_error(
                "route_version",
                f"{version} is used by a run: its steps are fixed; make a new version.",
            )
        operation, specs = cleaned.get("operation"), cleaned.get("data_specs")
        if operation is not None and specs:
            foreign = specs_of_other_operations(operation, specs.select_related("operation"))
            if foreign:
                self.add_error("data_specs", foreign_specs_message(foreign, operation))
        station_type, stations = cleaned.get("station_type"), cleaned.get("allowed_stations")
        if station_type and stations:
            other = stations_of_other_type(station_type, stations)
            if other:
                self.add_error(
                    "allowed_stations", stations_of_other_type_message(other, station_type)
                )
        return cleaned
