"""Pagination of the read API with the envelope of docs/api.md: items, total, page, pageSize,
plus totalIsEstimate and nextCursor.

- `page`: numbered pages. Bad `page` or `pageSize` values are a 400, not a silent
  default; a page past the last is an empty page. A deep page reads the keys of
  the rows it skips first (from the ordering's index), then its own rows.
- `cursor`: the `nextCursor` of the previous answer; each page then starts right
  after the last row shown, read from the index wherever it is (keyset
  pagination): constant time at any depth, and no row skipped or shown twice
  when new rows arrive meanwhile. `cursor` and `page` do not go together.
- `total` is exact up to mes.counting.EXACT_UP_TO items and PostgreSQL's
  estimate past it, with `totalIsEstimate: true`.

A view lists newest first by `cursor_fields` (datetime fields, then `pk`,
all descending); its queryset's ordering must be the same.
"""

import base64
import json

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from mes.counting import bounded_count, far_past

DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
MAX_DIGITS = 18  # any page past the last is empty anyway
MAX_CURSOR_LENGTH = 200
# From this offset a numbered page's rows are found by key first.
KEYS_FIRST_FROM = 1_000


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


def encode_cursor(row, fields: list[str]) -> str:
    position = [getattr(row, field).isoformat() for field in fields] + [row.pk]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def decode_cursor(raw: str, fields: list[str]) -> list:
    """The position a cursor names: one datetime per field, then a primary key."""
    problem = ValidationError({"cursor": ["Not a cursor of this list: use nextCursor as given."]})
    if len(raw) > MAX_CURSOR_LENGTH:
        raise problem
    try:
        position = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError as error:
        raise problem from error
    if not isinstance(position, list) or len(position) != len(fields) + 1:
        raise problem
    *moments, pk = position
    try:
        parsed = [parse_datetime(m) if isinstance(m, str) else None for m in moments]
    except ValueError as error:  # a date that cannot be: February 30th, offset +99:00
        raise problem from error
    if any(moment is None or moment.tzinfo is None for moment in parsed):
        raise problem
    if isinstance(pk, bool) or not isinstance(pk, int) or not 1 <= pk < 2**63:
        raise problem
    return [*parsed, pk]


def after_position(fields: list[str], position: list) -> Q:
    """Rows after `position` in the order (fields…, pk) all descending.

    The first field's `<=` is what the index starts from; the rest tells apart
    the rows that share it.
    """
    columns = [*fields, "pk"]
    after = Q()
    for depth in range(len(columns)):
        same = {columns[i]: position[i] for i in range(depth)}
        after |= Q(**same, **{f"{columns[depth]}__lt": position[depth]})
    return Q(**{f"{fields[0]}__lte": position[0]}) & after


class EnvelopePagination(BasePagination):
    def paginate_queryset(self, queryset, request, view=None):
        self.page_size = _positive_int(request, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        self.cursor_fields = getattr(view, "cursor_fields", None)
        raw_cursor = request.query_params.get("cursor")
        if raw_cursor is not None and "page" in request.query_params:
            raise ValidationError({"cursor": ["Give cursor or page, not both."]})
        counted = bounded_count(queryset)
        self.total, self.total_is_estimate = counted.value, counted.is_estimate
        if raw_cursor is not None and self.cursor_fields:
            self.page_number = None
            position = decode_cursor(raw_cursor, self.cursor_fields)
            queryset = queryset.filter(after_position(self.cursor_fields, position))
            rows = list(queryset[: self.page_size + 1])
        else:
            self.page_number = _positive_int(request, "page", 1)
            rows = self._numbered_page(queryset)
        self.next_cursor = None
        if len(rows) > self.page_size and self.cursor_fields:
            self.next_cursor = encode_cursor(rows[self.page_size - 1], self.cursor_fields)
        return rows[: self.page_size]

    def _numbered_page(self, queryset) -> list:
        """The page's rows and, when there is a next row, one more (for nextCursor)."""
        bottom = (self.page_number - 1) * self.page_size
        top = bottom + self.page_size + 1
        end = far_past(self.total) if self.total_is_estimate else self.total
        if bottom >= end:
            return []  # past the end: no OFFSET of billions (or past bigint)
        if bottom < KEYS_FIRST_FROM:
            return list(queryset[bottom:top])
        keys = list(queryset.values_list("pk", flat=True)[bottom:top])
        return list(queryset.filter(pk__in=keys))

    def get_paginated_response(self, data):
        return Response(
            {
                "items": data,
                "total": self.total,
                "totalIsEstimate": self.total_is_estimate,
                "page": self.page_number,
                "pageSize": self.page_size,
                "nextCursor": self.next_cursor,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "properties": {
                "items": schema,
                "total": {"type": "integer"},
                "totalIsEstimate": {"type": "boolean"},
                "page": {"type": "integer", "nullable": True},
                "pageSize": {"type": "integer"},
                "nextCursor": {"type": "string", "nullable": True},
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
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "nextCursor of the previous page (keyset pagination)",
                "schema": {"type": "string"},
            },
        ]
