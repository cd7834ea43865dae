"""IntegrationMessage review: every inbound attempt, read-only, and the replay of FAILED ones.

The replay action sends each selected message to the service of its entity type, at
once: device data to the ingestion service's `replay_failed_message`, a track-in or
track-out to the stations' `replay_tracking_message` (admin/tracking_replay.py); it
reports each outcome in the admin's messages. The rules live only in those services.
"""

import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from rest_framework.exceptions import ValidationError as ShapeError

from execution.unit_links import unit_link
from integration.admin.message_actions import (
    AcknowledgedFilter,
    MessageActionsMixin,
    acknowledged_marker,
)
from integration.admin.tracking_replay import is_tracking, replay_tracking
from integration.ingestion.errors import (
    EventFailedUnexpectedly,
    EventIdConflict,
    EventNotWritten,
    EventRefused,
    EventWriteError,
    MessageNotReplayable,
)
from integration.ingestion.service import replay_failed_message
from integration.master_data_calls import is_master_data
from integration.models import (
    IntegrationMessage,
    TrackingRecord,
    business_key_for,
    tracking_key_for,
)
from integration.payload_diff import ABSENT, compare_payloads
from mes.admin.display import admin_link, badge, pretty_json
from mes.admin.evidence import ReadOnlyAdmin
from mes.admin.filters import date_range_filter, input_filter
from mes.admin.site import moment
from mes.skip_scan import distinct_values

REPLAY_PERMISSION = "integration.replay_integrationmessage"
Status = IntegrationMessage.Status


def message_url(message) -> str:
    return reverse("admin:integration_integrationmessage_change", args=[message.pk])


def message_link(message) -> str:
    return admin_link(message_url(message), f"#{message.pk}")


def record_link(record) -> str:
    url = reverse("admin:integration_devicedatarecord_change", args=[record.pk])
    return admin_link(url, f"record {record.pk} ({record.event_id})")


def original_message(record):
    """The message that wrote a record: its SUCCESS attempt."""
    # By business key, which is indexed (the record column is not).
    return (
        IntegrationMessage.objects.filter(
            business_key=record.business_key, record=record, status=Status.SUCCESS
        )
        .order_by("pk")
        .first()
    )


def original_of(message):
    """The attempt that took a DUPLICATE's or CONFLICT's id: the SUCCESS message of its
    record (device data) or of its business key (a track-in or track-out, whose record is
    a TrackingRecord); None when not found."""
    if is_tracking(message):
        return (
            IntegrationMessage.objects.filter(
                business_key=message.business_key, status=Status.SUCCESS
            )
            .order_by("pk")
            .first()
        )
    return original_message(message.record) if message.record_id else None


class ResolutionFilter(admin.SimpleListFilter):
    """FAILED messages still waiting for a fix, or those whose event was written since."""

    title = "resolution"
    parameter_name = "resolved"

    def lookups(self, request, model_admin):
        return [("no", "Unresolved (FAILED)"), ("yes", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(status=Status.FAILED, resolved_at__isnull=True)
        if self.value() == "yes":
            # Only FAILED messages are ever resolved; saying so reads the status index.
            return queryset.filter(status=Status.FAILED, resolved_at__isnull=False)
        return queryset


class ErrorCodeFilter(admin.SimpleListFilter):
    """The error codes messages carry, found through the error index (no table scan)."""

    title = "error code"
    parameter_name = "error_code__exact"

    def lookups(self, request, model_admin):
        codes = distinct_values(IntegrationMessage._meta.db_table, "error_code", "error_code <> ''")
        return [(code, code) for code in codes]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(error_code=self.value())


def _json_cell(value) -> str:
    if value is ABSENT:
        return "(absent)"
    return json.dumps(value, ensure_ascii=False)


@admin.register(IntegrationMessage)
class IntegrationMessageAdmin(MessageActionsMixin, ReadOnlyAdmin):
    # When, what and which event first. The business key's prefix says what kind of call
    # it was (device-data:, track-in:, track-out:); system and entity type are on each
    # message's page, and filter the list.
    list_display = [
        "id",
        "created_at",
        "status_badge",
        "business_key",
        "unit_page",
        "error_code",
        "client",
        "resolution",
    ]
    list_display_links = ["id", "status_badge"]
    list_filter = [
        "status",
        "system",
        "entity_type",
        ErrorCodeFilter,
        ResolutionFilter,
        AcknowledgedFilter,
        date_range_filter("created", "created_at", "createdFrom", "createdTo"),
        input_filter("business key", "businessKey", "business_key"),
    ]
    search_fields = ["business_key"]
    search_help_text = (
        "eventId or business key (device-data:, track-in: or track-out:<eventId>): the whole of it."
    )
    # sent_by: the client column; record: the unit column.
    list_select_related = ["sent_by", "record"]
    actions = ["replay_selected", "acknowledge_selected"]
    readonly_fields = [
        "status_badge",
        "unit_page",
        "client",
        "resolution",
        "record_link",
        "original_link",
        "replay_of_link",
        "replays_links",
        "acknowledgement",
        "payload_json",
        "conflict_comparison",
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (
                None,
                {
                    "fields": [
                        "status_badge",
                        "direction",
                        "system",
                        "entity_type",
                        "business_key",
                        "dedupe_key",
                        "unit_page",
                        "client",
                        "created_at",
                    ]
                },
            ),
            (
                "Outcome",
                {
                    "fields": [
                        "error_code",
                        "error_message",
                        "resolution",
                        "record_link",
                        "original_link",
                        "replay_of_link",
                        "replays_links",
                        "acknowledgement",
                    ]
                },
            ),
        ]
        if obj is not None and obj.status == Status.CONFLICT:
            fieldsets.append(
                (
                    "Conflict: stored and incoming payload",
                    {
                        "fields": ["conflict_comparison"],
                        "classes": ["wide"],
                        "description": "The eventId was first written with the stored payload; "
                        "this attempt sent another. Differing fields are marked ≠. `meta` is "
                        "not part of an event's identity: a difference there alone is no "
                        "conflict.",
                    },
                )
            )
        fieldsets.append(("Payload as received", {"fields": ["payload_json"]}))
        return fieldsets

    def get_search_results(self, request, queryset, search_term):
        # Exact, from the business key's index (a contains-match reads every message).
        term = search_term.strip()
        if not term:
            return queryset, False
        keys = {term, business_key_for(term)}
        keys |= {tracking_key_for(kind, term) for kind in TrackingRecord.Kind.values}
        return queryset.filter(business_key__in=keys), False

    # --- columns and fields ---

    @admin.display(description="status", ordering="status")
    def status_badge(self, message):
        return badge(message.status)

    @admin.display(description="unit")
    def unit_page(self, message):
        # A FAILED message keeps its whole payload; the others' serial is their record's. A
        # track-in or track-out names its unit `sn`, as the stations send it.
        payload = message.payload if isinstance(message.payload, dict) else {}
        sn = payload.get("sn" if is_tracking(message) else "unitSn")
        if sn is None and message.record_id:
            sn = message.record.unit_sn
        return unit_link(sn if isinstance(sn, str) else None)

    @admin.display(description="client", ordering="sent_by__username")
    def client(self, message):
        return message.sent_by.username if message.sent_by else "—"

    @admin.display(description="resolution", ordering="resolved_at")
    def resolution(self, message):
        if message.status != Status.FAILED:
            return acknowledged_marker(message) or "—"
        if message.resolved_at is None:
            return acknowledged_marker(message) or badge("FAILED", "unresolved")
        return format_html("{} {}", badge("RESOLVED", "resolved"), moment(message.resolved_at))

    @admin.display(description="record")
    def record_link(self, message):
        return record_link(message.record) if message.record_id else "—"

    @admin.display(description="original")
    def original_link(self, message):
        """For a DUPLICATE or CONFLICT: the attempt that wrote the record."""
        if message.status not in (Status.DUPLICATE, Status.CONFLICT):
            return "—"
        original = original_of(message)
        if original is None:
            return "—"
        return format_html("{} ({})", message_link(original), badge(original.status))

    @admin.display(description="replay of")
    def replay_of_link(self, message):
        if message.replay_of_id is None:
            return "—"
        return format_html("{} (FAILED)", message_link(message.replay_of))

    @admin.display(description="replays")
    def replays_links(self, message):
        replays = list(message.replays.order_by("pk"))
        if not replays:
            return "—"
        return format_html_join(
            ", ", "{} ({})", ((message_link(r), badge(r.status)) for r in replays)
        )

    @admin.display(description="payload")
    def payload_json(self, message):
        return pretty_json(message.full_payload)

    @admin.display(description="comparison")
    def conflict_comparison(self, message):
        if message.status != Status.CONFLICT:
            return "—"
        original = original_of(message)
        if original is None:
            return "The payload that wrote the record was not found."
        rows = format_html_join(
            "",
            '<tr class="{}"><td class="mes-diff-mark">{}</td>'
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    "mes-diff-changed" if field.differs else "mes-diff-same",
                    "≠" if field.differs else "",
                    field.path,
                    _json_cell(field.stored),
                    _json_cell(field.incoming),
                )
                for field in compare_payloads(original.full_payload, message.full_payload)
            ),
        )
        return format_html(
            '<table class="mes-diff" id="conflict-diff"><thead><tr><th></th><th>field</th>'
            "<th>stored (message {})</th><th>incoming (this message)</th></tr></thead>"
            "<tbody>{}</tbody></table>"
            '<div class="mes-side-by-side" id="conflict-payloads">'
            "<div><h4>Stored — {}</h4>{}</div><div><h4>Incoming — message #{}</h4>{}</div></div>",
            original.pk,
            rows,
            message_link(original),
            pretty_json(original.full_payload),
            message.pk,
            pretty_json(message.full_payload),
        )

    # --- replay ---

    def has_replay_permission(self, request):
        return request.user.has_perm(REPLAY_PERMISSION)

    @admin.action(description="Replay selected failed messages", permissions=["replay"])
    def replay_selected(self, request, queryset):
        # sent_by: the original gateway, named on the record the replay writes.
        for message in queryset.select_related("sent_by").order_by("created_at", "pk"):
            self.message_user(request, *self.replay_one(request, message))

    def replay_one(self, request, message):
        """Replay one message through the service of its entity type; (text, level) for
        the report."""
        if is_tracking(message):
            text, level, attempt = replay_tracking(message, replayed_by=request.user)
            if attempt is not None:
                self.log_change(request, message, f"Replayed as message {attempt.pk}.")
            return text, level
        link = message_link(message)
        if is_master_data(message):
            # Its system holds the data and sends it again; a later success resolves it.
            return (
                format_html(
                    "Message {} is master data ({}): not replayed here; its system sends "
                    "it again (docs/master-data.md).",
                    link,
                    message.get_entity_type_display(),
                ),
                messages.WARNING,
            )
        try:
            outcome = replay_failed_message(message, replayed_by=request.user)
        except MessageNotReplayable:
            return (
                format_html("Message {} is {}, not FAILED: not replayed.", link, message.status),
                messages.WARNING,
            )
        except EventRefused as refusal:
            return (
                format_html(
                    "Message {} refused again: {} — {} (kept as message {}).",
                    link,
                    refusal.refusal.code,
                    refusal.refusal.message,
                    message_link(refusal.failed_message),
                ),
                messages.ERROR,
            )
        except EventIdConflict as conflict:
            return (
                format_html(
                    "Message {}: its eventId was written with another payload, {} "
                    "(conflict kept as message {}).",
                    link,
                    record_link(conflict.record),
                    message_link(conflict.conflict_message),
                ),
                messages.ERROR,
            )
        except EventFailedUnexpectedly as failure:
            kept = failure.failed_message
            return (
                format_html(
                    "Message {} failed unexpectedly again (logged with its traceback){}. {}",
                    link,
                    format_html(" and is kept as message {}", message_link(kept)) if kept else "",
                    "Fix the cause (for instance the spec's limits), then replay it.",
                ),
                messages.ERROR,
            )
        except (EventNotWritten, EventWriteError) as error:
            return (
                format_html(
                    "Message {} not replayed now: {} (Replay it again to send it again.)",
                    link,
                    error.message,
                ),
                messages.ERROR,
            )
        except ShapeError as error:
            return (
                format_html(
                    "Message {} is not a valid event under the current rules; nothing stored: {}",
                    link,
                    str(error.detail)[:300],
                ),
                messages.ERROR,
            )
        self.log_change(request, message, f"Replayed as message {outcome.message.pk}.")
        if outcome.is_duplicate:
            return (
                format_html(
                    "Message {}: the event was already written as {}; answered as a duplicate "
                    "(message {}).",
                    link,
                    record_link(outcome.record),
                    message_link(outcome.message),
                ),
                messages.INFO,
            )
        return (
            format_html(
                "Message {} replayed: {} written with {} value(s) (message {}); resolved.",
                link,
                record_link(outcome.record),
                len(outcome.values),
                message_link(outcome.message),
            ),
            messages.SUCCESS,
        )
