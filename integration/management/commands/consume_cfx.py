"""Consume SMT machines' IPC-CFX messages from RabbitMQ over AMQP 1.0 (docs/cfx.md)."""

from django.core.management.base import BaseCommand, CommandError

from integration.transports.cfx.config import CfxConfig, CfxConfigError
from integration.transports.cfx.consumer import (
    EXIT_CONFIGURATION_REFUSED,
    CfxConsumer,
    ConsumerStopped,
)


class Command(BaseCommand):
    help = (
        "Write the unit results of IPC-CFX messages (UnitsProcessed, UnitsInspected, "
        "ReadingsRecorded) read from CFX_AMQP_URL / CFX_AMQP_ADDRESS; SIGTERM stops it "
        "cleanly, SIGUSR1 logs its counts. Exits 78 when its configuration is refused "
        "(the gateway account, the broker's protocol), 1 on any other failure."
    )

    def handle(self, *args, **options):
        try:
            config = CfxConfig.from_environment()
        except CfxConfigError as error:
            raise CommandError(str(error), returncode=EXIT_CONFIGURATION_REFUSED) from None
        try:
            CfxConsumer(config).run()
        except ConsumerStopped as error:
            raise CommandError(str(error), returncode=error.exit_status) from None
