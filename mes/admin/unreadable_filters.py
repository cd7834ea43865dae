"""A list filter value that cannot be read is said in words, and the list shows no rows.

Django's admin answers an unreadable filter (`?collected_at__gte=yesterday`, a date
drill-down of month 13, our own text boxes given `06.12.2026`) by redirecting to the
unfiltered list with `?e=1`, which reads like "everything"; a choice filter given a value
it does not offer (`?open=maybe`) is ignored and lists everything too. Here every such
value becomes an error message on the list naming the filter, the value and the form it
takes, and the list is empty until the value is corrected or cleared
(docs/back-office.md "Filters that cannot be read").

`ReadableFiltersMixin` on a ModelAdmin gives its list `ReadableFiltersChangeList`.
"""

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP

DATE = "a date such as 2026-12-06"
DATE_TIME = "a date, or a date and time, such as 2026-12-06 or 2026-12-06 14:00"
WHOLE_NUMBER = "a whole number such as 40"
# Choices listed in a message; a longer list ends with "…".
CHOICES_NAMED = 12
# Lookups whose value is a part of a date or time, a whole number.
DATE_PARTS = {"year", "iso_year", "quarter", "month", "week", "week_day", "iso_week_day"}
DATE_PARTS |= {"day", "hour", "minute", "second"}


class UnreadableFilterValue(IncorrectLookupParameters):
    """A list filter's value that cannot be read: the filter's name, what was given, and
    the form the filter takes ("a date such as 2026-12-06")."""

    def __init__(self, title: str, value: str, expected: str):
        super().__init__(title, value, expected)
        self.title, self.value, self.expected = title, value, expected

    def __str__(self):
        return (
            f"The filter “{self.title}” could not read “{self.value}”: it takes "
            f"{self.expected}. No rows are shown until the value is corrected or the filter "
            "cleared."
        )


def one_of(choices) -> str:
    """The expected form of a filter offering `choices` (their values, as in the URL)."""
    named = [str(choice) for choice in choices]
    if not named:
        return "one of its choices (it offers none now)"
    listed = ", ".join(named[:CHOICES_NAMED]) + (", …" if len(named) > CHOICES_NAMED else "")
    return f"one of {listed}"


class ReadableFiltersChangeList(ChangeList):
    """A list that names each filter value it cannot read (`unreadable_filters`) and then
    lists nothing, instead of Django's redirect to the unfiltered list."""

    def __init__(self, *args, **kwargs):
        self.unreadable_filters: list[UnreadableFilterValue] = []
        super().__init__(*args, **kwargs)

    def get_filters(self, request):
        specs, *rest = super().get_filters(request)
        for spec in specs:
            if problem := _unoffered_choice(request, spec, self.root_queryset):
                raise problem
        return (specs, *rest)

    def get_queryset(self, request, exclude_parameters=None):
        try:
            return super().get_queryset(request, exclude_parameters)
        except IncorrectLookupParameters:
            pass
        typed = self.filter_params
        unreadable = self._unreadable_values(request)
        culprits = {name for names, _ in unreadable for name in names}
        # The list is drawn without the unreadable values (its filters, drill-down and
        # "clear all" read them), and then emptied: no row is shown for them.
        self.filter_params = {n: v for n, v in typed.items() if n not in culprits}
        try:
            queryset = super().get_queryset(request, exclude_parameters)
        finally:
            self.filter_params = typed
        if exclude_parameters is None:
            self.unreadable_filters = [problem for _, problem in unreadable]
            # The date drill-down and the search box read `params`: without these, they
            # offer the list's other filters.
            self.params = {n: v for n, v in self.params.items() if n not in culprits}
        return queryset.none()

    def _unreadable_values(self, request) -> list[tuple[list[str], UnreadableFilterValue]]:
        """The unreadable parameters and what is wrong with them, found by reading each
        filter's parameters alone (only when the list could not be read: a few queries
        per filter in use)."""
        typed = self.filter_params
        found = []
        try:
            for group in self._parameter_groups(typed):
                self.filter_params = {name: typed[name] for name in group}
                try:
                    super().get_queryset(request)
                except IncorrectLookupParameters as error:
                    found.append((group, self._describe(group, typed, error)))
        finally:
            self.filter_params = typed
        if not found:
            # Readable alone, not together: every filter in use is named.
            names = list(self.get_filters_params(typed))
            together = "&".join(f"{name}={typed[name][-1]}" for name in names)
            found = [(names, UnreadableFilterValue("the filters together", together, "…"))]
        return found

    def _parameter_groups(self, typed) -> list[list[str]]:
        """The list's filter parameters, alone, but a date drill-down's year, month and day
        together (a month is read only with its year)."""
        names = list(self.get_filters_params(typed))
        drill_down = [name for name in names if name in self._drill_down_parameters()]
        return [[name] for name in names if name not in drill_down] + (
            [drill_down] if drill_down else []
        )

    def _drill_down_parameters(self) -> list[str]:
        if not self.date_hierarchy:
            return []
        return [f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day")]

    def _describe(self, group: list[str], typed, error) -> UnreadableFilterValue:
        if isinstance(error, UnreadableFilterValue):
            return error
        if isinstance(error.__cause__, UnreadableFilterValue):
            return error.__cause__
        if group[0] in self._drill_down_parameters():
            field = get_fields_from_path(self.model, self.date_hierarchy)[-1]
            given = [name for name in self._drill_down_parameters() if name in group]
            return UnreadableFilterValue(
                f"{field.verbose_name} ({', '.join(given)})",
                "-".join(typed[name][-1] for name in given),
                "a real date: a year such as 2026, a month 1–12, a day of that month",
            )
        return describe_lookup(self.model, group[0], typed[group[0]][-1])


def describe_lookup(model, name: str, value: str) -> UnreadableFilterValue:
    """What an unreadable lookup parameter such as `collected_at__gte` takes, from the
    field it names."""
    parts = name.split(LOOKUP_SEP)
    for end in range(len(parts), 0, -1):
        try:
            fields = get_fields_from_path(model, LOOKUP_SEP.join(parts[:end]))
        except (FieldDoesNotExist, NotRelationField):
            continue
        lookup = parts[end] if end < len(parts) else "exact"
        title = " ".join(str(field.verbose_name) for field in fields)
        return UnreadableFilterValue(f"{title} ({name})", value, _expected_form(fields[-1], lookup))
    return UnreadableFilterValue(name, value, "nothing: this list has no such filter")


def _expected_form(field, lookup: str) -> str:
    if lookup == "isnull":
        return "1 or 0"
    if lookup in DATE_PARTS:
        return WHOLE_NUMBER
    if field.is_relation and field.target_field is not None:
        field = field.target_field
    if isinstance(field, models.DateTimeField):
        form = DATE_TIME
    elif isinstance(field, models.DateField):
        form = DATE
    elif isinstance(field, models.BooleanField):
        form = "1 or 0"
    elif isinstance(field, models.IntegerField):
        form = WHOLE_NUMBER
    elif isinstance(field, models.FloatField | models.DecimalField):
        form = "a number such as -0.25"
    elif field.choices:
        form = one_of(value for value, _ in field.flatchoices)
    else:
        form = f"a value of the field “{field.verbose_name}”"
    return f"{form}, or several separated by commas" if lookup == "in" else form


def _unoffered_choice(request, spec, queryset) -> UnreadableFilterValue | None:
    """The problem of a choice filter given a value it does not offer, if any: a filter of
    fixed choices that ignores such a value (and would list everything), or a field of
    choices (an enumeration: `judge__exact=pass` is a typo, not a judge no value has).
    A filter of what the data holds (a station code, an error code) filters by any value:
    none of the rows has it, and the list is rightly empty."""
    if isinstance(spec, admin.SimpleListFilter):
        offered = [str(value) for value, _ in spec.lookup_choices]
        given = spec.value()
        if given is not None and given not in offered and _ignores(spec, request, queryset):
            return UnreadableFilterValue(
                f"{spec.title} ({spec.parameter_name})", given, one_of(offered)
            )
    if isinstance(spec, admin.ChoicesFieldListFilter):
        offered = [str(value) for value, _ in spec.field.flatchoices]
        for given in spec.lookup_val or []:
            if given not in offered:
                return UnreadableFilterValue(
                    f"{spec.title} ({spec.lookup_kwarg})", given, one_of(offered)
                )
    return None


def _ignores(spec, request, queryset) -> bool:
    """Whether the filter, with its value, leaves the list as it was."""
    filtered = spec.queryset(request, queryset)
    return filtered is None or filtered is queryset


class ReadableFiltersMixin:
    """A ModelAdmin whose list says which filter values it cannot read, as error messages
    above an empty list (ReadableFiltersChangeList)."""

    def get_changelist(self, request, **kwargs):
        return ReadableFiltersChangeList

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        # The list is a TemplateResponse drawn after this returns: the messages still show.
        context = getattr(response, "context_data", None) or {}
        for problem in getattr(context.get("cl"), "unreadable_filters", ()):
            messages.error(request, str(problem))
        return response
