"""IPC-CFX ingestion (docs/cfx.md): SMT machines' own CFX messages, taken from RabbitMQ over
AMQP 1.0 by `manage.py consume_cfx`, written through the ingestion service (and, at
stations tracked by their machine, the tracking service) and settled only after what
they carry is written or refused and kept."""
