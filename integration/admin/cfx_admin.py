"""IPC-CFX reading names: which spec a machine's reading is written as (docs/cfx.md)."""

from django.contrib import admin

from integration.models import CfxReadingName
from mes.admin.unreadable_filters import ReadableFiltersMixin


@admin.register(CfxReadingName)
class CfxReadingNameAdmin(ReadableFiltersMixin, admin.ModelAdmin):
    list_display = ["reading_name", "spec_name", "station"]
    list_filter = ["station"]
    search_fields = ["reading_name", "spec_name", "station__code"]
    search_help_text = "Reading name, spec name or station code."
    autocomplete_fields = ["station"]
    # station: the station column.
    list_select_related = ["station"]
