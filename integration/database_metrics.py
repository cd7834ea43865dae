"""The database's figures for Prometheus (`/metrics/database`): what needs someone and
the open holds, counted when asked, from small partial indexes.

They are the same whichever app server counts them, so Prometheus reads them once,
through the load balancer (docs/operations.md, "Several app servers"); each server's own
figures are `/metrics` (mes/metrics.py), whose access rule this address shares. Here in
`integration`, not in `mes`, because it counts `execution`'s holds and `integration`'s
messages.
"""

from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseNotFound
from django.urls import path
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from execution.models import Hold
from integration.acknowledgements import conflicts_needing_attention, failures_needing_attention
from mes.counting import bounded_count
from mes.database_errors import bounded_transaction
from mes.metrics import may_scrape


class AttentionCollector:
    """What needs someone, counted when Prometheus asks, from small partial indexes: the
    database's figures, the same whichever server counts them (`/metrics/database`)."""

    def collect(self):
        try:
            # Briefly: with the database down or stuck, the other figures (errors, 503s)
            # are what Prometheus needs, and they must not wait for these.
            with bounded_transaction(lock_timeout_ms=500, statement_timeout_ms=2000):
                failed = bounded_count(failures_needing_attention())
                conflicts = bounded_count(conflicts_needing_attention())
                open_holds = Hold.objects.filter(closed_at=None)
                holds = bounded_count(open_holds)
                # The oldest first, from the partial index hold_open.
                oldest = open_holds.order_by("opened_at").values_list("opened_at", flat=True)[:1]
                oldest = list(oldest)
        except DatabaseError:
            return
        waited = (timezone.now() - oldest[0]).total_seconds() if oldest else 0
        hold_gauge = GaugeMetricFamily("mes_open_holds", "Units on hold awaiting a disposition.")
        hold_gauge.add_metric([], holds.value)
        yield hold_gauge
        age_gauge = GaugeMetricFamily(
            "mes_oldest_open_hold_seconds",
            "How long the unit held longest has waited for a disposition (0: none held).",
        )
        age_gauge.add_metric([], waited)
        yield age_gauge
        for name, helptext, count in (
            (
                "mes_messages_unresolved_failed",
                "FAILED messages not yet resolved nor acknowledged.",
                failed,
            ),
            ("mes_messages_conflicts", "CONFLICT messages not acknowledged.", conflicts),
        ):
            gauge = GaugeMetricFamily(name, helptext + " Estimated past 10,000.")
            gauge.add_metric([], count.value)
            yield gauge


def scrape_database() -> bytes:
    """The database's figures: what needs attention, open holds (`/metrics/database`)."""
    attention = CollectorRegistry()
    attention.register(AttentionCollector())
    return generate_latest(attention)


def database_metrics_view(request):
    """The database's metrics, for those allowed to scrape: read once, through the load
    balancer, whichever server answers."""
    if not may_scrape(request):
        return HttpResponseNotFound("Not found.", content_type="text/plain")
    return HttpResponse(scrape_database(), content_type=CONTENT_TYPE_LATEST)


# The root URLconf includes this module at metrics/database.
urlpatterns = [path("", database_metrics_view, name="metrics-database")]
