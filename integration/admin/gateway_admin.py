"""Gateways for integration admins: list with last use, create (key shown once), re-key, revoke.

Built on the Gateway proxy, whose manager sees only users in the `Gateways`
group that are neither staff nor superusers, and whose form has one field,
the name: nobody reaches other users or their flags through it (docs/operations.md: permissions).
A key appears once. The request that makes it keeps it in the session and
redirects (Post/Redirect/Get) to the key's page, which takes it out of the
session and is never cached: a reload finds no key there and issues none. The
gateway's keys are shown on its own page; there is no second menu entry for them.
Each key change reaches the MQTT broker after the MES (docs/mqtt-broker.md).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from integration.gateways.broker_accounts import (
    broker_warning,
    update_broker_after_issue,
    update_broker_after_revoke,
)
from integration.gateways.keys import (
    check_gateway_name,
    create_gateway,
    issue_gateway_key,
    revoke_gateway_key,
)
from integration.models import Gateway, GatewayKey
from mes.admin.display import badge
from mes.admin.evidence import ReadOnlyAdmin
from mes.admin.site import moment
from mes.admin.unreadable_filters import ReadableFiltersMixin


class GatewayForm(forms.ModelForm):
    """A gateway's name: the only thing about its account an integration admin edits."""

    class Meta:
        model = Gateway
        fields = ["username"]
        labels = {"username": "name"}
        help_texts = {
            "username": "The gateway's name, e.g. gw-reflow-1: letters, digits and @ . + - _ "
            "only; unique among all users."
        }

    def clean_username(self):
        name = self.cleaned_data["username"]
        try:
            check_gateway_name(name)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error
        return name


def _issued_key_session_name(gateway) -> str:
    return f"mes-issued-gateway-key-{gateway.pk}"


def _key_of(gateway) -> GatewayKey | None:
    try:
        return gateway.gateway_key
    except GatewayKey.DoesNotExist:
        return None


@admin.register(Gateway)
class GatewayAdmin(ReadableFiltersMixin, admin.ModelAdmin):
    form = GatewayForm
    list_display = ["name", "key_status", "key_prefix", "last_used", "key_issued"]
    search_fields = ["username"]
    # gateway_key: the key columns (one key per gateway).
    list_select_related = ["gateway_key"]
    readonly_fields = ["key_status", "key_prefix", "key_issued", "key_revoked", "last_used"]
    show_facets = admin.ShowFacets.NEVER

    def get_fieldsets(self, request, obj=None):
        name = (None, {"fields": ["username"]})
        if obj is None:
            return [
                (
                    None,
                    {
                        "fields": ["username"],
                        "description": "Saving creates the gateway's account in the Gateways "
                        "group and its API key, shown once on the next page.",
                    },
                )
            ]
        return [
            name,
            (
                "API key",
                {
                    "fields": [
                        "key_status",
                        "key_prefix",
                        "key_issued",
                        "key_revoked",
                        "last_used",
                    ],
                    "description": "Only a digest of the key is stored: a lost key cannot be "
                    "shown again, only replaced (re-key).",
                },
            ),
        ]

    def has_delete_permission(self, request, obj=None):
        # Records name the gateway that sent them: revoke its key instead.
        return False

    # --- columns ---

    @admin.display(description="name", ordering="username")
    def name(self, gateway):
        return gateway.username

    @admin.display(description="key")
    def key_status(self, gateway):
        key = _key_of(gateway)
        if key is None:
            return badge("NOKEY", "no key")
        if key.revoked_at is not None:
            return badge("REVOKED", "revoked")
        return badge("SUCCESS", "active")

    @admin.display(description="key prefix")
    def key_prefix(self, gateway):
        key = _key_of(gateway)
        return f"{key.prefix}…" if key else "—"

    @admin.display(description="last used", ordering="gateway_key__last_used_at")
    def last_used(self, gateway):
        key = _key_of(gateway)
        if key is None or key.last_used_at is None:
            return "never"
        return moment(key.last_used_at)

    @admin.display(description="key issued", ordering="gateway_key__created_at")
    def key_issued(self, gateway):
        key = _key_of(gateway)
        if key is None:
            return "—"
        return moment(key.rotated_at or key.created_at)

    @admin.display(description="revoked at")
    def key_revoked(self, gateway):
        key = _key_of(gateway)
        return moment(key.revoked_at if key else None)

    # --- create and rename ---

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["username"])
            return
        user, key = create_gateway(obj.username)
        obj.pk = user.pk
        obj._state.adding = False
        obj._state.db = user._state.db
        request.issued_gateway_key = key
        self.tell_broker_outcome(request, update_broker_after_issue(user.username, key), "creation")

    def response_add(self, request, obj, post_url_continue=None):
        return self.show_key_once(request, obj, request.issued_gateway_key, "created")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        gateway = self.get_object(request, unquote(object_id))
        key = _key_of(gateway) if gateway else None
        # Revoke is offered only while there is a key to revoke.
        extra_context = {
            **(extra_context or {}),
            "key_active": bool(key and key.revoked_at is None),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- re-key and revoke ---

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/rekey/",
                self.admin_site.admin_view(self.rekey_view),
                name=f"{prefix}_rekey",
            ),
            path(
                "<path:object_id>/key/",
                self.admin_site.admin_view(self.issued_key_view),
                name=f"{prefix}_issued_key",
            ),
            path(
                "<path:object_id>/revoke/",
                self.admin_site.admin_view(self.revoke_view),
                name=f"{prefix}_revoke",
            ),
            *super().get_urls(),
        ]

    def _gateway_to_change(self, request, object_id):
        gateway = self.get_object(request, unquote(object_id))
        if gateway is None:
            raise Http404("No such gateway.")
        if not self.has_change_permission(request, gateway):
            raise PermissionDenied
        return gateway

    def rekey_view(self, request, object_id):
        gateway = self._gateway_to_change(request, object_id)
        if request.method != "POST":
            return self.confirm_page(
                request,
                gateway,
                action="Re-key",
                explanation="A new key replaces the current one, which stops working within "
                "a second. The new key is shown once, on the next page.",
            )
        key = issue_gateway_key(gateway)
        self.log_change(request, gateway, "Re-keyed: the previous key no longer works.")
        self.tell_broker_outcome(
            request, update_broker_after_issue(gateway.username, key), "re-key"
        )
        return self.show_key_once(request, gateway, key, "re-keyed")

    def revoke_view(self, request, object_id):
        gateway = self._gateway_to_change(request, object_id)
        key = _key_of(gateway)
        if request.method != "POST" and not (key and key.revoked_at is None):
            self.message_user(request, f"{gateway.username} has no active key to revoke.")
            return HttpResponseRedirect(
                reverse("admin:integration_gateway_change", args=[gateway.pk])
            )
        if request.method != "POST":
            return self.confirm_page(
                request,
                gateway,
                action="Revoke key",
                explanation="The gateway's key stops working within a second; its requests are "
                "answered 401 until it is re-keyed. Data it already sent is kept.",
            )
        if revoke_gateway_key(gateway):
            self.log_change(request, gateway, "Key revoked.")
            self.message_user(request, f"The key of {gateway.username} is revoked.")
        else:
            self.message_user(
                request, f"{gateway.username} had no active key.", level=messages.WARNING
            )
        # Disabled at the broker even when the MES had no active key: it may have missed one.
        self.tell_broker_outcome(request, update_broker_after_revoke(gateway.username), "revoke")
        return HttpResponseRedirect(reverse("admin:integration_gateway_change", args=[gateway.pk]))

    def tell_broker_outcome(self, request, update, after):
        """Say what the MQTT broker made of a key change (nothing when sync is off)."""
        if update.done:
            self.message_user(request, f"MQTT broker updated after the {after}.")
        elif update.failed:
            self.message_user(request, broker_warning(update, after=after), level=messages.ERROR)

    # --- pages ---

    def confirm_page(self, request, gateway, *, action, explanation):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": gateway,
            "title": f"{action} {gateway.username}?",
            "action": action,
            "explanation": explanation,
        }
        return TemplateResponse(
            request, "admin/integration/gateway/confirm_key_action.html", context
        )

    def show_key_once(self, request, gateway, key, what):
        """Keep the new key for the one page that shows it, and redirect there."""
        request.session[_issued_key_session_name(gateway)] = {"key": key, "what": what}
        return HttpResponseRedirect(
            reverse("admin:integration_gateway_issued_key", args=[gateway.pk])
        )

    def issued_key_view(self, request, object_id):
        """The new key, once: taken out of the session as it is shown."""
        gateway = self._gateway_to_change(request, object_id)
        issued = request.session.pop(_issued_key_session_name(gateway), None)
        if issued is None:
            self.message_user(
                request,
                f"The key of {gateway.username} was shown once and is not stored; "
                "re-key the gateway if it was lost.",
                level=messages.WARNING,
            )
            return HttpResponseRedirect(
                reverse("admin:integration_gateway_change", args=[gateway.pk])
            )
        return self.key_page(request, gateway, issued["key"], issued["what"])

    def key_page(self, request, gateway, key, what):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": gateway,
            "title": f"Gateway {gateway.username} {what}",
            "key": key,
            "what": what,
            "authorization": format_html("Authorization: Token {}", key),
        }
        response = TemplateResponse(request, "admin/integration/gateway/key_issued.html", context)
        # The only copy of the key: never stored by a browser or proxy cache.
        add_never_cache_headers(response)
        response["Cache-Control"] = "no-store, " + response["Cache-Control"]
        return response


@admin.register(GatewayKey)
class GatewayKeyAdmin(ReadOnlyAdmin):
    """The keys, read-only, reached by URL only: the menu's one entry is Gateways, whose
    pages show each gateway's key."""

    list_display = ["user", "prefix", "created_at", "rotated_at", "revoked_at", "last_used_at"]
    search_fields = ["user__username", "prefix"]
    list_select_related = ["user"]
    exclude = ["digest"]

    def get_model_perms(self, request):
        # No permissions here means no menu entry (Django's admin index hides the model).
        return {}
