"""Bring the MQTT broker's accounts in step with the MES (after the broker was down, or
any time: an account already in step is not touched, so nobody is disconnected)."""

import os
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integration.gateways.broker_accounts import (
    GatewayAccount,
    broker_sync_enabled,
    sync_gateway_clients,
    unbound_clients,
)
from integration.gateways.broker_admin import BrokerAdmin
from integration.gateways.broker_rules import BrokerAccountError
from integration.models import Gateway, GatewayKey


def gateway_accounts() -> list[GatewayAccount]:
    """Every gateway with its active key's prefix (None when revoked or never keyed)."""
    accounts = []
    # gateway_key: the key's prefix and revocation, one query for all gateways.
    for gateway in Gateway.objects.select_related("gateway_key").order_by("username"):
        try:
            key = gateway.gateway_key
        except GatewayKey.DoesNotExist:
            key = None
        active = key is not None and key.revoked_at is None
        accounts.append(GatewayAccount(gateway.username, key.prefix if active else None))
    return accounts


class Command(BaseCommand):
    help = (
        "Make the broker (MQTT_ADMIN_URL) match the MES: gateways with their current key "
        "enabled and bound to their own client id, every other gateway client disabled, and "
        "the consumer of MQTT_URL set up; only what is out of step is changed."
    )

    def handle(self, *args, **options):
        if not broker_sync_enabled():
            raise CommandError("MQTT_ADMIN_URL is not set: the MES does not manage a broker.")
        consumer_url = getattr(settings, "MQTT_URL", "") or os.environ.get("MQTT_URL", "")
        consumer = urlsplit(consumer_url)
        consumer_name = unquote(consumer.username or "")
        admin_name = unquote(urlsplit(settings.MQTT_ADMIN_URL).username or "")
        lines = []
        try:
            with BrokerAdmin() as admin:
                # The consumers' own account: the credentials they connect with.
                if consumer_name and consumer.password:
                    changes = admin.set_consumer(
                        consumer_name,
                        unquote(consumer.password),
                        os.environ.get("MQTT_SHARE_GROUP", "").strip() or "mes-ingest",
                    )
                    if changes:
                        lines.append(f"Consumer {consumer_name}: {', '.join(changes)}.")
                lines += sync_gateway_clients(admin, gateway_accounts())
                notes = unbound_clients(admin, {consumer_name, admin_name})
        except BrokerAccountError as error:
            raise CommandError(str(error)) from error
        for line in lines + notes:
            self.stdout.write(line)
        self.stdout.write(
            f"The broker is in step with the MES ({len(lines)} change(s) or notes)."
            if lines
            else "The broker was in step with the MES: nothing changed."
        )
