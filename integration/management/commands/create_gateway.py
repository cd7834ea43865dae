"""Create a gateway service account and print its API key once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from integration.gateway_keys import create_gateway


class Command(BaseCommand):
    help = "Create a gateway (a user in the Gateways group); its key is printed once, last."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The gateway's name, e.g. gw-reflow-1")

    def handle(self, *args, name, **options):
        if get_user_model().objects.filter(username=name).exists():
            raise CommandError(f"A user named {name!r} already exists.")
        user, key = create_gateway(name)
        self.stdout.write(f"Created gateway {user.username}. Its key is shown only now:")
        self.stdout.write(key)
