"""Paging for back-office lists of millions of rows (docs/growth.md).

- The count is exact up to mes.counting.EXACT_UP_TO rows and estimated past it;
  the pager says "about" (templates/admin/pagination.html).
- A page past the first few thousand rows reads only the primary keys of the
  rows it skips (from the ordering's index), then loads its own rows with
  their related objects: OFFSET no longer joins every skipped row to the
  unit, run and station tables.
- Any page number is accepted: past the real end the page is empty, since an
  estimate can be low or high; far past the estimate it is empty without a query.
"""

from django.core.paginator import InvalidPage, Paginator
from django.utils.functional import cached_property

from mes.counting import bounded_count, far_past

# From this offset a page's rows are found by key first.
KEYS_FIRST_FROM = 1_000


class BoundedCountPaginator(Paginator):
    @cached_property
    def bounded_count(self):
        return bounded_count(self.object_list)

    @cached_property
    def count(self):
        return self.bounded_count.value

    @property
    def count_is_estimate(self) -> bool:
        return self.bounded_count.is_estimate

    def validate_number(self, number):
        try:
            number = int(number)
        except (TypeError, ValueError) as error:
            raise InvalidPage(f"{number!r} is not a page number") from error
        if number < 1:
            raise InvalidPage("Page numbers start at 1")
        if not self.count_is_estimate:
            return super().validate_number(number)
        return number

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if self.count_is_estimate and bottom > far_past(self.count):
            return self._get_page([], number, self)  # no OFFSET of billions (or past bigint)
        if bottom < KEYS_FIRST_FROM:
            return super().page(number)
        keys = list(self.object_list.values_list("pk", flat=True)[bottom : bottom + self.per_page])
        return self._get_page(self.object_list.filter(pk__in=keys), number, self)
