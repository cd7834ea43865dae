"""Filling in the station and run of values written before values had them (migration
execution.0003).

In batches of BATCH rows by id, each its own short transaction, so writers wait for at most
one batch's row locks; values that already have a station are left alone, so it can be
run again at any time (`manage.py fill_value_stations`).
"""

from django.db import transaction

BATCH = 10_000


# (what is filled, from where, joined how)
FILLS = [
    (
        "station_id = t.station_id",
        "execution_track t",
        "v.track_id = t.id AND v.station_id IS NULL AND t.station_id IS NOT NULL",
    ),
    (
        "station_id = c.station_id",
        "execution_carriertrack c",
        "v.carrier_track_id = c.id AND v.station_id IS NULL AND c.station_id IS NOT NULL",
    ),
    (
        "run_id = u.run_id",
        "execution_track t JOIN execution_unit u ON u.id = t.unit_id",
        "v.track_id = t.id AND v.run_id IS NULL AND u.run_id IS NOT NULL",
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
                cursor.execute(
                    f"UPDATE execution_datavalue AS v SET {assignment} FROM {source} "
                    f"WHERE {condition} AND v.id BETWEEN %s AND %s RETURNING v.id",
                    [start, start + batch - 1],
                )
                filled.update(row[0] for row in cursor.fetchall())
    return len(filled)
