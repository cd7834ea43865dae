"""MQTT ingestion (docs/mqtt.md): gateways publish events, `manage.py consume_mqtt` writes
them through the ingestion service and acknowledges only what it has written or kept."""
