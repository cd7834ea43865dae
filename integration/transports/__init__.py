"""Transports other than REST: `mqtt/` and `cfx/`, and `broker.py`, what the two share
(broker URL, TLS files, grouping). Each translates messages into calls of the
ingestion service and answers; none imports `integration.api` or another transport.
"""
