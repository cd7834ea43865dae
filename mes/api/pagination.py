"""Page-number pagination with the envelope of docs/api.md: items, total, page, pageSize.

Bad `page` or `pageSize` values are a 400, not a silent default; a page past the
last is an empty page.
"""

from django.core.paginator import EmptyPage, Paginator
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
MAX_DIGITS = 18  # any page past the last is empty anyway


def _positive_int(request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # ASCII digits only ("²" is a digit to str.isdigit), and short enough for int().
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= MAX_DIGITS else 0
    if number < 1 or (maximum is not None and number > maximum):
        bound = f"1–{maximum}" if maximum else "≥ 1"
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise ValidationError({name: [f"Must be a whole number {bound}, not {shown!r}."]})
    return number


class EnvelopePagination(BasePagination):
    def paginate_queryset(self, queryset, request, view=None):
        self.page_number = _positive_int(request, "page", 1)
        self.page_size = _positive_int(request, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        paginator = Paginator(queryset, self.page_size)
        self.total = paginator.count
        try:
            return list(paginator.page(self.page_number).object_list)
        except EmptyPage:
            return []

    def get_paginated_response(self, data):
        return Response(
            {
                "items": data,
                "total": self.total,
                "page": self.page_number,
                "pageSize": self.page_size,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "properties": {
                "items": schema,
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "pageSize": {"type": "integer"},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": "pageSize",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
        ]
