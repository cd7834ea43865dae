"""DeviceDataRecord review: accepted events with the replaced system's filters, read-only.

A record's page lists the values it wrote (FAIL and alarmed rows marked) and
every message of its eventId, FAILED attempts before it included.
"""

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse

from execution.admin.values import CollectedValuesMixin, value_list_url
from execution.models import DataValue
from execution.unit_links import unit_link
from integration.models import DeviceDataRecord, IntegrationMessage
from mes.admin.display import admin_link, changelist_url, pretty_json
from mes.admin.evidence import ReadOnlyAdmin
from mes.admin.filters import date_range_filter, input_filter, whole_number
from mes.admin.unreadable_filters import WHOLE_NUMBER

MESSAGES_SHOWN = 100


class DuplicatedFilter(admin.SimpleListFilter):
    title = "duplicates"
    parameter_name = "duplicated"

    def lookups(self, request, model_admin):
        return [("yes", "Received more than once"), ("no", "Received once")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(duplicate_count__gt=0)
        if self.value() == "no":
            return queryset.filter(duplicate_count=0)
        return queryset


@admin.register(DeviceDataRecord)
class DeviceDataRecordAdmin(CollectedValuesMixin, ReadOnlyAdmin):
    list_display = [
        "event_id",
        "event_time",
        "source",
        "run_no",
        "unit_page",
        "station_code",
        "step_no",
        "data_values_created",
        "duplicate_count",
        "client",
        "received_at",
    ]
    list_filter = [
        input_filter("eventId", "eventId", "event_id"),
        input_filter("run number", "runNo", "run_no"),
        input_filter("unit serial number", "unitSn", "unit_sn"),
        input_filter("station code", "stationCode", "station_code"),
        input_filter(
            "step number", "stepNo", "step_no", convert=whole_number, expected=WHOLE_NUMBER
        ),
        "source",
        date_range_filter("event time", "event_time", "eventFrom", "eventTo"),
        DuplicatedFilter,
    ]
    search_fields = ["event_id", "run_no", "unit_sn"]
    search_help_text = "eventId, run number or unit serial number: the whole of it."
    # sent_by: the client column.
    list_select_related = ["sent_by"]
    readonly_fields = [
        "client",
        "data_json",
        "meta_json",
        "messages_link",
        "values_link",
        "unit_page",
    ]
    fieldsets = [
        (
            "Event",
            {
                "fields": [
                    "event_id",
                    "event_time",
                    "source",
                    "payload_hash",
                    "received_at",
                    "client",
                ]
            },
        ),
        (
            "Where",
            {
                "fields": [
                    "run_no",
                    "unit_page",
                    "station_code",
                    "step_no",
                    "track",
                    "carrier_track",
                    "operation",
                    "equipment_id",
                    "operator_id",
                ]
            },
        ),
        (
            "Outcome",
            {
                "fields": [
                    "data_values_created",
                    "values_link",
                    "duplicate_count",
                    "last_duplicate_at",
                    "messages_link",
                ]
            },
        ),
        ("Data as received", {"fields": ["data_json", "meta_json"]}),
    ]

    def get_search_results(self, request, queryset, search_term):
        # Exact matches, each read from its own index (a contains-match reads every record).
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(event_id=term) | Q(run_no=term) | Q(unit_sn=term)), False

    @admin.display(description="unit serial number", ordering="unit_sn")
    def unit_page(self, record):
        return unit_link(record.unit_sn)

    @admin.display(description="client", ordering="sent_by__username")
    def client(self, record):
        return record.sent_by.username if record.sent_by else "—"

    @admin.display(description="data")
    def data_json(self, record):
        return pretty_json(record.data)

    @admin.display(description="meta")
    def meta_json(self, record):
        return pretty_json(record.meta)

    @admin.display(description="messages")
    def messages_link(self, record):
        count = IntegrationMessage.objects.filter(business_key=record.business_key).count()
        url = changelist_url("integration", "integrationmessage", businessKey=record.business_key)
        return admin_link(url, f"{count} message(s) for this eventId")

    @admin.display(description="values")
    def values_link(self, record):
        return admin_link(
            self.collected_values_url(record), f"{record.data_values_created} value(s) written"
        )

    # --- the values and messages under the form ---

    def collected_values(self, record):
        return DataValue.objects.filter(source_ref=record.business_key)

    def collected_values_url(self, record):
        return value_list_url(sourceRef=record.business_key)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and request.user.has_perm("integration.view_integrationmessage"):
            # sent_by: the client column.
            rows = list(
                IntegrationMessage.objects.filter(business_key=obj.business_key)
                .select_related("sent_by")
                .order_by("created_at", "pk")[:MESSAGES_SHOWN]
            )
            for row in rows:
                row.admin_url = reverse(
                    "admin:integration_integrationmessage_change", args=[row.pk]
                )
            context["message_table"] = {
                "rows": rows,
                "list_url": changelist_url(
                    "integration", "integrationmessage", businessKey=obj.business_key
                ),
            }
        return super().render_change_form(request, context, add, change, form_url, obj)
