"""`manage.py import_master_data FILE`: a bundle of master data (a JSON file or a folder of
CSV files, docs/master-data.md) written all or nothing; the same file twice changes
nothing, and the counts say so."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from execution.master_data import MasterDataRefused, import_bundle, preview_bundle, summary
from execution.master_data.tables import TableRefused
from integration.master_data_files import read_bundle

UNIT_COUNTS = ("unitsCreated", "unitsAdded", "unitsMoved", "unitsUnchanged")


class Command(BaseCommand):
    help = "Import stations, operations and specs, routes and runs from a JSON file or CSV folder."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A JSON bundle, or a folder of CSV files.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and count, then write nothing."
        )

    def handle(self, *args, file, dry_run, **options):
        path = Path(file)
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder.")
        try:
            read = read_bundle(path)
        except TableRefused as refusal:
            raise CommandError(f"{refusal} Nothing was written.") from None
        try:
            outcomes = (preview_bundle if dry_run else import_bundle)(read.bundle)
        except MasterDataRefused as refusal:
            raise CommandError(
                f"{read.where(refusal)} ({refusal.code}). Nothing was written."
            ) from None
        counts = summary(outcomes)
        for entity, count in counts.items():
            line = f"{entity}: {count['created']} created, {count['updated']} updated, "
            line += f"{count['unchanged']} unchanged"
            if "unitsCreated" in count:
                created, added, moved, unchanged = (count[name] for name in UNIT_COUNTS)
                line += (
                    f"; units: {created} created, {added} added from other runs or none "
                    f"({moved} moved), {unchanged} unchanged"
                )
            self.stdout.write(line)
        changed = any(count["created"] or count["updated"] for count in counts.values())
        verdict = "Dry run: nothing written." if dry_run else "Imported."
        if not dry_run and not changed:
            verdict = "Nothing changed: everything was already as the file says."
        self.stdout.write(verdict)
