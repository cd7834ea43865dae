"""List filters for the back office that Django's admin lacks: exact-value text boxes and
date/time ranges.

Their query parameters are named like the read API's filters (`runNo`,
`eventFrom`, `createdTo`, …), so a link from the dashboard or another page reads
the same way as an API call. A value that cannot be parsed raises
`UnreadableFilterValue`, which the list shows as an error message above no rows
(mes/admin/unreadable_filters.py), never as a silently unfiltered list.
"""

from datetime import UTC, datetime, time, timedelta

from django.contrib.admin import ListFilter
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from mes.admin.unreadable_filters import DATE_TIME, UnreadableFilterValue


class InputFilter(ListFilter):
    """A text box matching one field exactly, e.g. `?runNo=RUN-2026-001`."""

    template = "admin/filters/input_filter.html"
    parameter_name: str = ""
    field_path: str = ""
    # Turns the text into the field's type; a ValueError marks a bad parameter.
    convert = staticmethod(str)
    # What `convert` reads, said in an error message: "a whole number such as 40".
    expected = "text"
    placeholder = ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        if self.parameter_name in params:
            value = params.pop(self.parameter_name)[-1].strip()
            if value:
                self.used_parameters[self.parameter_name] = value

    def value(self):
        return self.used_parameters.get(self.parameter_name)

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.parameter_name]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            converted = self.convert(self.value())
        except ValueError as error:
            raise UnreadableFilterValue(
                f"{self.title} ({self.parameter_name})", self.value(), self.expected
            ) from error
        return queryset.filter(**{self.field_path: converted})

    def choices(self, changelist):
        # One "choice": what the template needs to draw the form.
        yield {
            "inputs": [(self.parameter_name, self.value() or "", self.placeholder)],
            "hidden": _other_parameters(changelist, self.expected_parameters()),
            "clear_url": changelist.get_query_string(remove=self.expected_parameters()),
            "active": self.value() is not None,
        }


def input_filter(title, parameter_name, field_path, convert=str, placeholder="", expected="text"):
    """An InputFilter class for one field."""
    return type(
        f"{parameter_name}InputFilter",
        (InputFilter,),
        {
            "title": title,
            "parameter_name": parameter_name,
            "field_path": field_path,
            "convert": staticmethod(convert),
            "placeholder": placeholder,
            "expected": expected,
        },
    )


def whole_number(text: str) -> int:
    number = int(text)
    if number < 0:
        raise ValueError(f"{text!r} is not a whole number")
    return number


def parse_bound(text: str, *, upper: bool) -> tuple[datetime, bool]:
    """A range bound from ISO 8601 text: (instant, inclusive).

    A date alone means the whole day in the site's time zone, so `to=2026-01-24`
    includes that day. A date-time without an offset is in the site's time zone
    (what a browser's date-time box sends). Raises ValueError or OverflowError
    for text that names no instant.
    """
    day = parse_date(text)
    if day is not None:
        start = timezone.make_aware(datetime.combine(day, time.min))
        return (start + timedelta(days=1), False) if upper else (start, True)
    moment = parse_datetime(text)
    if moment is None:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    # As UTC: a database may refuse an odd offset (PostgreSQL stops at ±15:59).
    return moment.astimezone(UTC), True


class DateRangeFilter(ListFilter):
    """From/to boxes on a date-time field, both inclusive, e.g. `?createdFrom=2026-01-24`."""

    template = "admin/filters/input_filter.html"
    field_path: str = ""
    from_parameter: str = ""
    to_parameter: str = ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.expected_parameters():
            if name in params:
                value = params.pop(name)[-1].strip()
                if value:
                    self.used_parameters[name] = value

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.from_parameter, self.to_parameter]

    def queryset(self, request, queryset):
        lookups = {}
        if start := self.used_parameters.get(self.from_parameter):
            moment, _ = self._bound(self.from_parameter, start, upper=False)
            lookups[f"{self.field_path}__gte"] = moment
        if end := self.used_parameters.get(self.to_parameter):
            moment, inclusive = self._bound(self.to_parameter, end, upper=True)
            lookups[f"{self.field_path}__{'lte' if inclusive else 'lt'}"] = moment
        return queryset.filter(**lookups)

    def _bound(self, parameter: str, text: str, *, upper: bool) -> tuple[datetime, bool]:
        try:
            return parse_bound(text, upper=upper)
        except (ValueError, OverflowError) as error:
            raise UnreadableFilterValue(f"{self.title} ({parameter})", text, DATE_TIME) from error

    def choices(self, changelist):
        yield {
            "inputs": [
                (self.from_parameter, self.used_parameters.get(self.from_parameter, ""), "from"),
                (self.to_parameter, self.used_parameters.get(self.to_parameter, ""), "to"),
            ],
            "hidden": _other_parameters(changelist, self.expected_parameters()),
            "clear_url": changelist.get_query_string(remove=self.expected_parameters()),
            "active": bool(self.used_parameters),
            "help": "ISO 8601: 2026-01-24 or 2026-01-24T10:00:00Z; both ends inclusive.",
        }


def date_range_filter(title, field_path, from_parameter, to_parameter):
    """A DateRangeFilter class for one date-time field."""
    return type(
        f"{from_parameter}RangeFilter",
        (DateRangeFilter,),
        {
            "title": title,
            "field_path": field_path,
            "from_parameter": from_parameter,
            "to_parameter": to_parameter,
        },
    )


def _other_parameters(changelist, own: list[str]) -> list[tuple[str, str]]:
    """The list's other parameters, kept as hidden inputs when this filter's form is sent."""
    return [
        (name, value)
        for name, values in sorted(changelist.filter_params.items())
        if name not in own
        for value in values
    ]
