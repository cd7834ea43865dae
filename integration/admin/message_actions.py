"""A message's page buttons and the acknowledgement of what needs attention (issue 14).

A mixin for IntegrationMessageAdmin: the "Acknowledge" list action (with a page
asking for the note), the Acknowledge form and the Replay button on a message's
page (both POST, CSRF-protected, then a redirect), the "acknowledged" list
filter and the who/when/why field. The rules live in
integration.acknowledgements and integration.ingestion; this module only asks,
calls and reports.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from integration.acknowledgements import (
    ACKNOWLEDGE_PERMISSION,
    NOTE_MAX_LENGTH,
    NoteRequired,
    acknowledge_messages,
    is_acknowledgeable,
)
from integration.models import IntegrationMessage
from mes.admin.display import badge

Status = IntegrationMessage.Status
ACTION_LIMIT = 500


class AcknowledgedFilter(admin.SimpleListFilter):
    """Messages someone acknowledged, or not (each choice read from a partial index when
    combined with the status: docs/growth.md)."""

    title = "acknowledged"
    parameter_name = "acknowledged"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(acknowledged_at__isnull=True)
        return queryset


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        label="Why it needs no more attention",
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept on each message with your name and the time.",
    )


def page_acknowledge_form() -> AcknowledgeForm:
    """The form of a message's Acknowledge panel: its note belongs to the page's
    `acknowledge-form` by the `form` attribute, as the panel stands inside the admin's
    own form (change_form.html)."""
    form = AcknowledgeForm(auto_id="id_acknowledge_%s")
    form.fields["note"].widget.attrs["form"] = "acknowledge-form"
    return form


def acknowledged_marker(message):
    """The ACKNOWLEDGED badge with its date, or None for a message nobody acknowledged."""
    if message.acknowledged_at is None:
        return None
    return format_html(
        "{} {}", badge("ACKNOWLEDGED", "acknowledged"), f"{message.acknowledged_at:%Y-%m-%d %H:%M}"
    )


class MessageActionsMixin:
    """Acknowledge and Replay on IntegrationMessageAdmin (which has `replay_one`)."""

    # --- permissions ---

    def has_acknowledge_permission(self, request):
        return request.user.has_perm(ACKNOWLEDGE_PERMISSION)

    # --- the who/when/why field ---

    @admin.display(description="acknowledged")
    def acknowledgement(self, message):
        if message.acknowledged_at is None:
            return "—"
        who = message.acknowledged_by.get_username() if message.acknowledged_by else "—"
        return format_html(
            '<div id="acknowledgement">{} by <strong>{}</strong> at {} UTC'
            '<blockquote class="mes-note">{}</blockquote></div>',
            badge("ACKNOWLEDGED", "acknowledged"),
            who,
            f"{message.acknowledged_at:%Y-%m-%d %H:%M:%S}",
            message.acknowledgement_note,
        )

    # --- the list action, with its page asking for the note ---

    @admin.action(
        description="Acknowledge selected conflicts and failures", permissions=["acknowledge"]
    )
    def acknowledge_selected(self, request, queryset):
        form = AcknowledgeForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._acknowledge(request, queryset, form.cleaned_data["note"])
            return None  # back to the list
        # At most ACTION_LIMIT, named on the page and sent back by key: "select all" over a
        # list of millions must not acknowledge what nobody saw.
        selected = list(queryset.order_by("pk")[: ACTION_LIMIT + 1])
        more = len(selected) > ACTION_LIMIT
        selected = selected[:ACTION_LIMIT]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Acknowledge conflicts and failures",
            "form": form,
            "selected": [(m, is_acknowledgeable(m) and not m.acknowledged_at) for m in selected],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "acknowledge_selected",
            "more": more,
            "limit": ACTION_LIMIT,
        }
        return TemplateResponse(
            request, "admin/integration/integrationmessage/acknowledge.html", context
        )

    def _acknowledge(self, request, messages_to_acknowledge, note):
        """Call the service and report its outcome in the admin's messages."""
        try:
            outcome = acknowledge_messages(messages_to_acknowledge, by=request.user, note=note)
        except NoteRequired as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        except DatabaseError:
            self.message_user(
                request,
                "The messages are being written right now: nothing was acknowledged. "
                "Try again in a moment.",
                messages.ERROR,
            )
            return
        for message in outcome.acknowledged:
            self.log_change(request, message, f"Acknowledged: {note}")
        if outcome.acknowledged:
            self.message_user(
                request,
                f"{len(outcome.acknowledged)} message(s) acknowledged: "
                f"{', '.join(f'#{m.pk}' for m in outcome.acknowledged)}.",
                messages.SUCCESS,
            )
        if outcome.already_acknowledged:
            self.message_user(
                request,
                "Already acknowledged, left as they were: "
                f"{', '.join(f'#{m.pk}' for m in outcome.already_acknowledged)}.",
                messages.INFO,
            )
        if outcome.refused:
            self.message_user(
                request,
                "Not acknowledged (only a CONFLICT or a FAILED message not yet resolved "
                f"needs it): {', '.join(f'#{m.pk} {m.status}' for m in outcome.refused)}.",
                messages.WARNING,
            )

    # --- the message's page: Acknowledge form and Replay button ---

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/acknowledge/",
                self.admin_site.admin_view(self.acknowledge_view),
                name=f"{prefix}_acknowledge",
            ),
            path(
                "<path:object_id>/replay/",
                self.admin_site.admin_view(self.replay_view),
                name=f"{prefix}_replay",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        message = self.get_object(request, unquote(object_id))
        extra = {}
        if message is not None:
            extra = {
                "can_acknowledge": self.has_acknowledge_permission(request)
                and is_acknowledgeable(message)
                and message.acknowledged_at is None,
                "can_replay": self.has_replay_permission(request)
                and message.status == Status.FAILED,
                "acknowledge_form": page_acknowledge_form(),
            }
        return super().change_view(
            request, object_id, form_url, extra_context={**extra, **(extra_context or {})}
        )

    def _message_for(self, request, object_id, may):
        if request.method != "POST":
            return None
        if not may:
            raise PermissionDenied
        message = self.get_object(request, unquote(object_id))
        if message is None:
            raise Http404("No such message.")
        return message

    def acknowledge_view(self, request, object_id):
        """POST: acknowledge this message with the note sent, then back to its page."""
        message = self._message_for(request, object_id, self.has_acknowledge_permission(request))
        if message is None:
            return HttpResponseNotAllowed(["POST"])
        form = AcknowledgeForm(request.POST)
        if form.is_valid():
            self._acknowledge(request, [message], form.cleaned_data["note"])
        else:
            self.message_user(request, "Say why it needs no more attention.", messages.ERROR)
        return HttpResponseRedirect(
            reverse("admin:integration_integrationmessage_change", args=[message.pk])
        )

    def replay_view(self, request, object_id):
        """POST: replay this FAILED message as the list's action does, then open the new
        attempt's page (or this one again if nothing was stored)."""
        message = self._message_for(request, object_id, self.has_replay_permission(request))
        if message is None:
            return HttpResponseNotAllowed(["POST"])
        latest_before = message.replays.order_by("-pk").values_list("pk", flat=True).first()
        self.message_user(request, *self.replay_one(request, message))
        newer = message.replays.order_by("-pk")
        if latest_before is not None:
            newer = newer.filter(pk__gt=latest_before)
        attempt = newer.first()
        return HttpResponseRedirect(
            reverse("admin:integration_integrationmessage_change", args=[(attempt or message).pk])
        )
