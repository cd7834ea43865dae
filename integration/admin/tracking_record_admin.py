"""TrackingRecord review: the track-ins and track-outs written once by their eventId,
with the first answer a re-send gets again (docs/execution.md). Read-only evidence."""

from django.contrib import admin

from integration.models import TrackingRecord
from mes.admin.display import pretty_json
from mes.admin.evidence import ReadOnlyAdmin


@admin.register(TrackingRecord)
class TrackingRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "event_id",
        "kind",
        "unit_sn",
        "station_code",
        "received_at",
        "duplicate_count",
        "sent_by",
    ]
    list_filter = ["kind"]
    search_fields = ["=event_id", "=unit_sn", "=station_code"]
    list_select_related = ["sent_by"]
    exclude = ["answer"]
    readonly_fields = ["answer_shown"]

    @admin.display(description="answer")
    def answer_shown(self, record):
        return pretty_json(record.answer)
