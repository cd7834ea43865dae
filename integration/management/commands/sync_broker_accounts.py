"""Bring the MQTT broker's gateway accounts in step with the MES (after the broker was down)."""

import os
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integration.gateways.broker_accounts import (
    BrokerAccountError,
    BrokerAdmin,
    GatewayAccount,
    broker_sync_enabled,
    sync_gateway_clients,
)
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
        "enabled, every other gateway client disabled, and the consumer of MQTT_URL set up."
    )

    def handle(self, *args, **options):
        if not broker_sync_enabled():
            raise CommandError("MQTT_ADMIN_URL is not set: the MES does not manage a broker.")
        try:
            with BrokerAdmin() as admin:
                # The consumer's own account: the credentials it connects with.
                consumer_url = getattr(settings, "MQTT_URL", "") or os.environ.get("MQTT_URL", "")
                consumer = urlsplit(consumer_url)
                if consumer.username and consumer.password:
                    admin.set_consumer(
                        unquote(consumer.username),
                        unquote(consumer.password),
                        os.environ.get("MQTT_SHARE_GROUP", "").strip() or "mes-ingest",
                    )
                    self.stdout.write(f"Consumer {unquote(consumer.username)}: set.")
                lines = sync_gateway_clients(admin, gateway_accounts())
        except BrokerAccountError as error:
            raise CommandError(str(error)) from error
        for line in lines:
            self.stdout.write(line)
        self.stdout.write(f"The broker is in step with the MES ({len(lines)} change(s) or notes).")
