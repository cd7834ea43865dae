"""Delete old DUPLICATE and resolved FAILED messages in small batches (integration/retention.py)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from integration.retention import prunable_messages, prune_messages


class Command(BaseCommand):
    help = (
        "Delete DUPLICATE messages and resolved FAILED messages older than --older-than-days "
        "(default MESSAGE_RETENTION_DAYS), in batches; records, values and every other "
        "message stay. Run it daily (docs/growth.md: retention)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=int, default=settings.MESSAGE_RETENTION_DAYS)
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument(
            "--max-seconds", type=float, default=None, help="stop after this long; run again"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would go, delete nothing"
        )

    def handle(self, *args, older_than_days, batch_size, max_seconds, dry_run, **options):
        if older_than_days < 1:
            raise CommandError("--older-than-days must be at least 1.")
        if not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size must be 1–10000.")
        cutoff = timezone.now() - timedelta(days=older_than_days)
        if dry_run:
            count = prunable_messages(cutoff).count()
            self.stdout.write(f"{count} message(s) older than {cutoff:%Y-%m-%d %H:%M} would go.")
            return
        pruned = prune_messages(cutoff, batch_size=batch_size, max_seconds=max_seconds)
        self.stdout.write(
            f"Deleted {pruned.duplicates} DUPLICATE and {pruned.resolved_failures} resolved "
            f"FAILED message(s) older than {cutoff:%Y-%m-%d %H:%M} in {pruned.batches} batch(es)"
            + ("." if pruned.finished else "; stopped at --max-seconds, run again to go on.")
        )
