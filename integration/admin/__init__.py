"""Back office for received data and gateways, one module per model (STYLE.md, PostHog).

Records, messages and values are read-only evidence; FAILED messages are
replayed through the ingestion service; gateways are managed through a proxy
of the user model that reaches nobody else.
"""

from integration.admin import (  # noqa: F401  (registers)
    cfx_admin,
    gateway_admin,
    message_admin,
    record_admin,
    tracking_record_admin,
    unit_page_admin,
)
