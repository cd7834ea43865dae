"""The station page's forms: a scanned serial, a track-in, and a track-out whose readings
are one field per MANUAL spec of the unit's step. They parse what was typed; the rules
(and the judging) are the services'."""

import uuid

from django import forms

from execution.models import DataSpec, PassResult

BOOLEAN_CHOICES = [("", "—"), ("true", "Yes / OK"), ("false", "No / NOT OK")]


def new_event_id() -> str:
    """An id for one action on the page: the form carries it, so a re-send after a
    network blip re-uses it and is taken once."""
    return f"station-page-{uuid.uuid4().hex}"


class ScanForm(forms.Form):
    sn = forms.CharField(label="Serial number", max_length=100, strip=True)


class TrackInForm(forms.Form):
    sn = forms.CharField(max_length=100, widget=forms.HiddenInput)
    event_id = forms.CharField(max_length=200, widget=forms.HiddenInput)


def reading_field_name(spec: DataSpec) -> str:
    return f"spec_{spec.pk}"


def manual_specs(specs: list[DataSpec]) -> list[DataSpec]:
    """The specs an operator enters here: MANUAL, and not JSON (no one types JSON)."""
    return [
        spec
        for spec in specs
        if spec.method == DataSpec.Method.MANUAL and spec.data_type != DataSpec.DataType.JSON
    ]


class TrackOutForm(forms.Form):
    """The readings of the step's MANUAL specs, the result and a defect code."""

    sn = forms.CharField(max_length=100, widget=forms.HiddenInput)
    event_id = forms.CharField(max_length=200, widget=forms.HiddenInput)
    result = forms.ChoiceField(choices=PassResult.choices, required=False)
    defect_code = forms.CharField(label="Defect code", max_length=100, required=False)

    def __init__(self, *args, specs: list[DataSpec], **kwargs):
        super().__init__(*args, **kwargs)
        self.specs = manual_specs(specs)
        for spec in self.specs:
            name = reading_field_name(spec)
            if spec.data_type == DataSpec.DataType.NUMBER:
                field = forms.FloatField(required=False)
            elif spec.data_type == DataSpec.DataType.BOOLEAN:
                field = forms.TypedChoiceField(
                    choices=BOOLEAN_CHOICES,
                    coerce=lambda text: text == "true",
                    empty_value=None,
                    required=False,
                )
            else:
                field = forms.CharField(max_length=2000, required=False, strip=False)
            field.label = spec.name
            self.fields[name] = field
        if self.specs and not self.is_bound:
            # The scanner's Enter tracked the unit in: the cursor waits in the first reading.
            self.fields[reading_field_name(self.specs[0])].widget.attrs["autofocus"] = True

    def readings(self) -> list[tuple[DataSpec, object]]:
        """The entered readings (spec, value); blank fields are left out. Call after
        is_valid()."""
        found = []
        for spec in self.specs:
            value = self.cleaned_data.get(reading_field_name(spec))
            if value is None or value == "":
                continue
            found.append((spec, value))
        return found

    def data_items(self) -> list[dict]:
        """The readings as the track-out's `data` (docs/api.md, "Stations: track in and
        track out")."""
        key_by_type = {
            DataSpec.DataType.NUMBER: "valueNumber",
            DataSpec.DataType.BOOLEAN: "valueBoolean",
            DataSpec.DataType.TEXT: "valueText",
        }
        return [
            {"specId": str(spec.pk), key_by_type[spec.data_type]: value}
            for spec, value in self.readings()
        ]
