"""Revoke a gateway's API key, in the MES and at the MQTT broker."""

from django.core.management.base import BaseCommand, CommandError

from integration.gateways.broker_accounts import broker_warning, update_broker_after_revoke
from integration.gateways.keys import revoke_gateway_key
from integration.models import Gateway


class Command(BaseCommand):
    help = (
        "Revoke a gateway's key: REST answers 401 within a second (GATEWAY_KEY_CACHE_MS) "
        "and the broker refuses it at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The gateway's name")

    def handle(self, *args, name, **options):
        gateway = Gateway.objects.filter(username=name).first()
        if gateway is None:
            raise CommandError(f"There is no gateway named {name!r}.")
        if revoke_gateway_key(gateway):
            self.stdout.write(f"The key of {gateway.username} is revoked.")
        else:
            self.stdout.write(f"{gateway.username} had no active key.")
        # Disabled at the broker even when the MES had no active key: it may have missed one.
        broker = update_broker_after_revoke(gateway.username)
        if broker.done:
            self.stdout.write("Its MQTT account at the broker is disabled.")
        elif broker.failed:
            raise CommandError(broker_warning(broker, after="revoke"))
