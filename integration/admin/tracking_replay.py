"""The back office's replay of a FAILED track-in or track-out message, and its report.

IntegrationMessageAdmin's `replay_one` sends each message to the service of its entity
type: device data to ingestion, track-in and track-out here, to
integration.tracking.service's `replay_tracking_message`, the stations' own rules. This
module only calls it and says in words what came of it.
"""

from django.contrib import messages
from django.urls import reverse
from django.utils.html import format_html
from rest_framework.exceptions import ValidationError as ShapeError

from integration.ingestion.errors import (
    EventFailedUnexpectedly,
    EventNotWritten,
    EventWriteError,
    MessageNotReplayable,
)
from integration.models import IntegrationMessage
from integration.tracking.errors import TrackingCallRefused, TrackingIdConflict
from integration.tracking.service import replay_tracking_message
from mes.admin.display import admin_link

EntityType = IntegrationMessage.EntityType
TRACKING_ENTITY_TYPES = frozenset({EntityType.TRACK_IN, EntityType.TRACK_OUT})


def is_tracking(message: IntegrationMessage) -> bool:
    return message.entity_type in TRACKING_ENTITY_TYPES


def _link(message) -> str:
    url = reverse("admin:integration_integrationmessage_change", args=[message.pk])
    return admin_link(url, f"#{message.pk}")


def _what_was_done(message: IntegrationMessage, answer: dict) -> str:
    where = f"{answer['stationCode']}, step {answer['stepNo']}"
    if message.entity_type == EntityType.TRACK_IN:
        return f"unit {answer['unitSn']} tracked in at {where}"
    return (
        f"unit {answer['unitSn']} tracked out of {where}: {answer['result']}, "
        f"now {answer['status']}"
    )


def replay_tracking(message: IntegrationMessage, *, replayed_by):
    """Replay a FAILED track-in or track-out; returns (text, level, new attempt's message
    or None when the call was not taken) for the admin's report."""
    link = _link(message)
    try:
        outcome = replay_tracking_message(message, replayed_by=replayed_by)
    except MessageNotReplayable as refusal:
        text = format_html("Not replayed: {}", str(refusal))
        return text, messages.WARNING, None
    except TrackingCallRefused as refusal:
        kept = refusal.failed_message
        text = format_html(
            "Message {} refused again: {} — {}{}.",
            link,
            refusal.refusal.code,
            refusal.refusal.message,
            format_html(" (kept as message {})", _link(kept)) if kept else "",
        )
        return text, messages.ERROR, None
    except TrackingIdConflict as conflict:
        text = format_html(
            "Message {}: its eventId was written since by another call "
            "(conflict kept as message {}); a person decides which is right.",
            link,
            _link(conflict.conflict_message),
        )
        return text, messages.ERROR, None
    except EventFailedUnexpectedly as failure:
        kept = failure.failed_message
        text = format_html(
            "Message {} failed unexpectedly again (logged with its traceback){}. {}",
            link,
            format_html(" and is kept as message {}", _link(kept)) if kept else "",
            "Fix the cause (for instance the spec's limits), then replay it.",
        )
        return text, messages.ERROR, None
    except (EventNotWritten, EventWriteError) as error:
        text = format_html(
            "Message {} not replayed now: {} (Replay it again to send it again.)",
            link,
            error.message,
        )
        return text, messages.ERROR, None
    except ShapeError as error:
        text = format_html(
            "Message {} is not a valid call under the current rules; nothing stored: {}",
            link,
            str(error.detail)[:300],
        )
        return text, messages.ERROR, None
    done = _what_was_done(message, outcome.answer)
    if outcome.is_duplicate:
        text = format_html(
            "Message {}: the call was already written ({}); answered as a duplicate (message {}).",
            link,
            done,
            _link(outcome.message),
        )
        return text, messages.INFO, outcome.message
    text = format_html(
        "Message {} replayed: {} (message {}); resolved.", link, done, _link(outcome.message)
    )
    return text, messages.SUCCESS, outcome.message
