"""Allow a gateway to track units in and out (or, with --withdraw, no longer)."""

from django.core.management.base import BaseCommand, CommandError

from integration.gateways.tracking_permission import allow_tracking, withdraw_tracking
from integration.models import Gateway


class Command(BaseCommand):
    help = (
        "Give a gateway execution.track_units: its REST station calls, or its machines' "
        "IPC-CFX WorkStarted/WorkCompleted (the CFX gateway, docs/cfx.md), track units."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The gateway's name, e.g. gw-cfx")
        parser.add_argument(
            "--withdraw", action="store_true", help="Take the permission away instead"
        )

    def handle(self, *args, name, withdraw, **options):
        gateway = Gateway.objects.filter(username=name).first()
        if gateway is None:
            raise CommandError(f"There is no gateway named {name!r}.")
        if withdraw:
            changed = withdraw_tracking(gateway)
            done = "may no longer track units" if changed else "had no permission to track"
        else:
            changed = allow_tracking(gateway)
            done = "may track units in and out" if changed else "may already track units"
        self.stdout.write(f"{gateway.username} {done} (running consumers see it within 30 s).")
