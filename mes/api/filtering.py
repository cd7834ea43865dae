"""django-filter, with times made comparable on every database.

A time filter (`eventFrom`, `createdTo`, …) is turned into UTC before the query:
PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 and Python allow (up to
±23:59, e.g. `+23:57`: a 500 found by the schema fuzzing). A time that is
outside years 1–9999 once in UTC (`0001-01-01T00:00:00+01:00`) cannot be
compared at all (SQLite's adapter overflowed: a 500): it is a 400 like any other
bad filter value (docs/api.md).
"""

from datetime import UTC, datetime

from django_filters import utils
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError


class StrictFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise utils.translate_validation(filterset.errors)
        errors = {}
        cleaned = filterset.form.cleaned_data
        for name, value in cleaned.items():
            if isinstance(value, datetime) and value.tzinfo is not None:
                try:
                    cleaned[name] = value.astimezone(UTC)
                except OverflowError:
                    errors[name] = ["Out of range: the time must fall within years 1–9999 in UTC."]
        if errors:
            raise ValidationError(errors)
        return filterset.qs
