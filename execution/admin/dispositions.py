"""Back office for failed units' dispositions (docs/execution.md): the list of what was
decided, by whom and why. Evidence: made only through
`execution.tracking.dispose_failed_unit`, never edited here."""

from django.contrib import admin

from execution.models import FailureDisposition
from mes.admin.evidence import ReadOnlyAdmin


@admin.register(FailureDisposition)
class FailureDispositionAdmin(ReadOnlyAdmin):
    list_display = ["unit", "disposition", "rework_step_no", "decided_by", "decided_at"]
    list_filter = ["disposition"]
    search_fields = ["unit__sn"]
    list_select_related = ["unit", "decided_by"]
    date_hierarchy = "decided_at"
