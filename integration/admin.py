"""Back office for received data: records and messages are read-only evidence."""

from django.contrib import admin

from execution.admin import ReadOnlyAdmin
from integration.models import DeviceDataRecord, GatewayKey, IntegrationMessage


@admin.register(DeviceDataRecord)
class DeviceDataRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "event_id",
        "event_time",
        "source",
        "run_no",
        "unit_sn",
        "station_code",
        "step_no",
        "data_values_created",
        "duplicate_count",
        "received_at",
    ]
    list_filter = ["source", "station_code"]
    search_fields = ["event_id", "run_no", "unit_sn"]
    date_hierarchy = "event_time"


@admin.register(IntegrationMessage)
class IntegrationMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "status",
        "system",
        "entity_type",
        "business_key",
        "error_code",
        "sent_by",
        "resolved_at",
        "created_at",
    ]
    list_filter = ["status", "system", "entity_type", "error_code"]
    search_fields = ["business_key", "dedupe_key"]
    list_select_related = ["sent_by"]
    date_hierarchy = "created_at"


@admin.register(GatewayKey)
class GatewayKeyAdmin(ReadOnlyAdmin):
    list_display = ["user", "prefix", "created_at", "rotated_at", "revoked_at", "last_used_at"]
    search_fields = ["user__username", "prefix"]
    list_select_related = ["user"]
    exclude = ["digest"]
