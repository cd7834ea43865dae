"""Consume gateways' events from the MQTT broker until stopped (docs/mqtt.md)."""

import logging

from django.core.management.base import BaseCommand, CommandError
from prometheus_client import start_http_server

from integration.gateways.keys import MES_CLIENT_ID_PREFIX
from integration.transports.mqtt.config import MqttConfig, MqttConfigError
from integration.transports.mqtt.consumer import Consumer

logger = logging.getLogger("integration.mqtt")


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
            f"beginning with {MES_CLIENT_ID_PREFIX!r}, e.g. mes-ingest-1",
        )

    def handle(self, *args, consumer_id, **options):
        if not consumer_id.startswith(MES_CLIENT_ID_PREFIX):
            # A gateway's client id is its name, and no gateway's name begins so: an id
            # outside this prefix could be a gateway's, which could take over the session.
            raise CommandError(
                f"--consumer-id {consumer_id!r} must begin with {MES_CLIENT_ID_PREFIX!r} "
                "(e.g. mes-ingest-1): those client ids are the MES's own and no gateway may "
                "use one (docs/mqtt-broker.md)."
            )
        try:
            config = MqttConfig.from_environment()
        except MqttConfigError as error:
            raise CommandError(str(error)) from None
        if config.metrics_address:
            host, port = config.metrics_address
            try:
                server, _thread = start_http_server(port, addr=host)
            except OSError as error:
                raise CommandError(
                    f"MQTT_METRICS_ADDRESS {host}:{port}: {error}. Give each consumer its own "
                    "port (docs/mqtt.md)."
                ) from None
            logger.info(
                "MQTT consumer %s serves its metrics on %s:%d",
                consumer_id,
                host,
                server.server_port,
            )
        Consumer(consumer_id, config).run()
