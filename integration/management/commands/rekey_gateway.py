"""Replace a gateway's API key (the old one stops working) and print the new one once."""

from django.core.management.base import BaseCommand, CommandError

from integration.gateways.broker_accounts import broker_warning, update_broker_after_issue
from integration.gateways.keys import issue_gateway_key
from integration.models import Gateway


class Command(BaseCommand):
    help = "Re-key a gateway: its previous key stops working; the new key is printed once, last."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The gateway's name")

    def handle(self, *args, name, **options):
        gateway = Gateway.objects.filter(username=name).first()
        if gateway is None:
            raise CommandError(f"There is no gateway named {name!r}.")
        key = issue_gateway_key(gateway)
        # The MES first, the broker after (docs/mqtt-broker.md says why).
        broker = update_broker_after_issue(gateway.username, key)
        if broker.done:
            self.stdout.write("Its MQTT account at the broker has the new key.")
        elif broker.failed:
            self.stderr.write(broker_warning(broker, after="re-key"))
        self.stdout.write(f"Re-keyed gateway {gateway.username}. Its key is shown only now:")
        self.stdout.write(key)
