"""Consume gateways' events from the MQTT broker until stopped (docs/mqtt.md)."""

from django.core.management.base import BaseCommand, CommandError

from integration.transports.mqtt.config import MqttConfig, MqttConfigError
from integration.transports.mqtt.consumer import Consumer


class Command(BaseCommand):
    help = (
        "Write the events gateways publish over MQTT (MQTT_URL) and answer them; "
        "SIGTERM stops it cleanly, SIGUSR1 logs its counts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--consumer-id",
            required=True,
            help="Stable MQTT client id of this consumer (its session survives restarts), "
            "e.g. mes-ingest-1",
        )

    def handle(self, *args, consumer_id, **options):
        try:
            config = MqttConfig.from_environment()
        except MqttConfigError as error:
            raise CommandError(str(error)) from None
        Consumer(consumer_id, config).run()
