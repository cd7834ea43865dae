"""Filling in the station and run of values written before values had them (migration
execution.0003).

In batches of BATCH rows by id, each its own short transaction, so writers wait for at most
one batch's row locks; values that already have a station are left alone, so it can be
run again at any time (`manage.py fill_value_stations`).
"""

from django.db import transaction

BATCH = 10_000


# (what is filled, from where, joined how): one update per value.
FILLS = [
    (
        "station_id = t.station_id, run_id = u.run_id",
        "execution_track t JOIN execution_unit u ON u.id = t.unit_id",
        "execution_datavalue.track_id = t.id"
        " AND (execution_datavalue.station_id IS NULL OR execution_datavalue.run_id IS NULL)"
        " AND (t.station_id IS NOT NULL OR u.run_id IS NOT NULL)",
    ),
    (
        "station_id = c.station_id",
        "execution_carriertrack c",
        "execution_datavalue.carrier_track_id = c.id"
        " AND execution_datavalue.station_id IS NULL AND c.station_id IS NOT NULL",
    ),
]


def fill_value_stations(connection, batch: int = BATCH) -> int:
    """Give every value without a station (or run) its track's or carrier track's; returns
    how many values were filled in."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(id), max(id) FROM execution_datavalue "
            "WHERE station_id IS NULL OR (run_id IS NULL AND track_id IS NOT NULL)"
        )
        low, high = cursor.fetchone()
    if low is None:
        return 0
    filled = set()
    for start in range(low, high + 1, batch):
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for assignment, source, condition in FILLS:
                # PostgreSQL and SQLite (3.33+) both take UPDATE … FROM.
                # No alias for the table: SQLite does not take one in RETURNING.
                cursor.execute(
                    f"UPDATE execution_datavalue SET {assignment} FROM {source} "
                    f"WHERE {condition} AND execution_datavalue.id BETWEEN %s AND %s "
                    "RETURNING execution_datavalue.id",
                    [start, start + batch - 1],
                )
                filled.update(row[0] for row in cursor.fetchall())
    return len(filled)
