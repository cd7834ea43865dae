"""Evidence in the back office: pages that show received data and never change it.

`ReadOnlyAdmin` is the base of every list of evidence (values, records, messages,
gateway keys): no add, change or delete, bounded counts for lists that grow by
millions (mes/admin/paging.py), and a message for a filter value it cannot read
(mes/admin/unreadable_filters.py).
"""

from django.contrib import admin

from mes.admin.paging import BoundedCountPaginator
from mes.admin.unreadable_filters import ReadableFiltersMixin


class EvidenceMixin:
    """Received data is evidence: nobody adds, changes or deletes it in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadableFiltersMixin, EvidenceMixin, admin.ModelAdmin):
    # Counts per filter choice would scan the largest tables on every page.
    show_facets = admin.ShowFacets.NEVER
    # Evidence lists grow by millions: counts are bounded, deep pages read keys first,
    # and the unfiltered total is not counted beside the filtered one.
    paginator = BoundedCountPaginator
    show_full_result_count = False
