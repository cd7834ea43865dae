"""Consume SMT machines' IPC-CFX messages from RabbitMQ over AMQP 1.0 (docs/cfx.md)."""

from django.core.management.base import BaseCommand, CommandError

from integration.transports.cfx.config import CfxConfig, CfxConfigError
from integration.transports.cfx.consumer import CfxConsumer


class Command(BaseCommand):
    help = (
        "Write the unit results of IPC-CFX messages (UnitsProcessed, UnitsInspected, "
        "ReadingsRecorded) read from CFX_AMQP_URL / CFX_AMQP_ADDRESS; SIGTERM stops it "
        "cleanly, SIGUSR1 logs its counts."
    )

    def handle(self, *args, **options):
        try:
            config = CfxConfig.from_environment()
        except CfxConfigError as error:
            raise CommandError(str(error)) from None
        try:
            CfxConsumer(config).run()
        except RuntimeError as error:
            raise CommandError(str(error)) from None
