"""Create a gateway service account and print its API key once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from integration.gateways.broker_accounts import broker_warning, update_broker_after_issue
from integration.gateways.keys import check_gateway_name, create_gateway
from integration.gateways.tracking_permission import allow_tracking


class Command(BaseCommand):
    help = "Create a gateway (a user in the Gateways group); its key is printed once, last."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The gateway's name, e.g. gw-reflow-1")
        parser.add_argument(
            "--track-units",
            action="store_true",
            help="Also allow it to track units in and out (execution.track_units): a "
            "station client, or the CFX gateway of machines that track units (docs/cfx.md)",
        )

    def handle(self, *args, name, track_units, **options):
        if get_user_model().objects.filter(username=name).exists():
            raise CommandError(f"A user named {name!r} already exists.")
        try:
            check_gateway_name(name)
        except ValueError as error:
            raise CommandError(str(error)) from error
        user, key = create_gateway(name)
        if track_units:
            allow_tracking(user)
            self.stdout.write(f"{user.username} may track units in and out.")
        # The MES first, the broker after: the gateway exists whatever the broker says.
        broker = update_broker_after_issue(user.username, key)
        if broker.done:
            self.stdout.write("Its MQTT account at the broker is set.")
        elif broker.failed:
            self.stderr.write(broker_warning(broker, after="creation"))
        self.stdout.write(f"Created gateway {user.username}. Its key is shown only now:")
        self.stdout.write(key)
