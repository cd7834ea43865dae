"""Give values written without a station their track's (mes/value_stations.py)."""

from django.core.management.base import BaseCommand
from django.db import connection

from execution.value_stations import fill_value_stations


class Command(BaseCommand):
    help = (
        "Fill in the station of values that have none, from their track or carrier track, "
        "in small batches (safe while traffic flows)."
    )

    def handle(self, *args, **options):
        filled = fill_value_stations(connection)
        self.stdout.write(f"Filled in the station of {filled} value(s).")
