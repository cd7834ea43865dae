"""The rows a track-in or a track-out reads and writes, in a few statements written out as
SQL: execution/tracking.py calls these, nothing else does.

The cost they save: building and compiling the ORM's queries cost more than running
them. With the ORM, a track-in took 16 statements and a track-out 22, and a pair cost
the gunicorn workers about 22 ms of CPU (bench/tracking.py, bench/README.md
"Tracking"); the statements here read what several ORM queries read, at a fraction of
the cost. What they must keep doing is guarded by tests:

- the unit's row is locked (FOR NO KEY UPDATE, as holds lock it) before its pass, values
  and hold are read, and those are read by a statement of their own after the lock, so
  they are what the call ahead of it left (READ COMMITTED: a statement sees what committed
  before it began): tests/integration/api/test_stations_concurrency.py;
- a lock wait ends at the lock timeout, a statement at the statement timeout, a lost
  connection is taken again, each with nothing written:
  tests/integration/tracking/test_tracking_failures.py;
- every rule answers as before: tests/execution/test_tracking_route.py and the stations
  API's tests.

Portable SQL (PostgreSQL and SQLite), through Django's cursor (mes/db.py says why).
"""

from dataclasses import dataclass

from django.db import connection

from execution.models import Hold, Operation, Run, Station, Track, Unit
from execution.resolution import ResolvedOperation
from mes.db import execute, fetch_all, load_model, model_width, select_list

# The open hold's fields a track-out reads: a hold's later columns (its reason, execution
# 0014) are left out, so track-out keeps working while such a migration is undone under
# this code (tests/deploy/test_tracking_across_migrations.py).
HOLD_FIELDS = ("id", "unit", "opened_at")
UNIT, STATION, RUN, TRACK = (model_width(model) for model in (Unit, Station, Run, Track))
HOLD = model_width(Hold, HOLD_FIELDS)


@dataclass
class CallRows:
    """What a call names, as found: its unit (locked; None if unknown), station, run."""

    unit: Unit | None
    station: Station | None
    run: Run | None
    # The unit has an open pass (read with the lock's statement: a pass opened while it
    # waited leaves the unit IN_STATION, which the re-read locked row shows).
    has_open_pass: bool = False


@dataclass
class StepRows:
    """A route step, with what the rules need of it."""

    step_no: int
    station_type: str
    operation: tuple[int, str, str]  # id, code, name
    next_step_no: int | None
    allowed_station_ids: frozenset
    bound_spec_ids: frozenset
    required_spec_ids: frozenset

    def operation_resolved(self) -> ResolvedOperation:
        """The step's operation and bound specs, as resolve_operations gives them."""
        operation_id, code, name = self.operation
        return ResolvedOperation(
            operation=Operation(pk=operation_id, code=code, name=name),
            step_no=self.step_no,
            bound_spec_ids=self.bound_spec_ids,
        )


@dataclass
class OpenPass:
    """A unit's open pass, read after its unit was locked."""

    track: Track
    step: StepRows | None  # its route step (None if the step left the route)
    station_code: str | None
    spec_ids_with_values: frozenset  # specs with a value on the pass already
    key_value_failed: bool  # a KEY spec's value on it was judged FAIL
    open_hold: Hold | None  # the unit's open hold (HOLD_FIELDS only)


def _ids(subquery: str) -> str:
    """The ids a subquery selects (as `x`) in one column: an array on PostgreSQL, a comma
    list on SQLite."""
    if connection.vendor == "postgresql":
        return f"ARRAY({subquery})"
    return f"(SELECT group_concat(x) FROM ({subquery}))"


def _id_set(value) -> frozenset:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(int(part) for part in value.split(",") if part)
    return frozenset(value)


def _lock(alias: str) -> str:
    return f" FOR NO KEY UPDATE OF {alias}" if connection.vendor == "postgresql" else ""


def _load(model, row, start: int, fields: tuple[str, ...] | None = None):
    """The model at row[start:], or None where an outer join found nothing (no id)."""
    return None if row[start] is None else load_model(model, row, start, fields)


def lock_unit(sn: str, station_code: str, run_no: str) -> CallRows:
    """Lock the unit `sn` and read the station and run a call names with it, in one
    statement; the station and run alone when the unit is unknown."""
    rows = fetch_all(
        f"SELECT {select_list(Unit, 'u')}, {select_list(Station, 's')}, {select_list(Run, 'r')}, "
        "EXISTS (SELECT 1 FROM execution_track t WHERE t.unit_id = u.id AND t.out_at IS NULL) "
        "FROM execution_unit u "
        "LEFT JOIN execution_station s ON s.code = %s "
        "LEFT JOIN execution_run r ON r.run_no = %s "
        f"WHERE u.sn = %s{_lock('u')}",
        [station_code, run_no, sn],
    )
    if rows:
        row = rows[0]
        return CallRows(
            load_model(Unit, row),
            _load(Station, row, UNIT),
            _load(Run, row, UNIT + STATION),
            bool(row[UNIT + STATION + RUN]),
        )
    (row,) = fetch_all(
        f"SELECT {select_list(Station, 's')}, {select_list(Run, 'r')} "
        "FROM (SELECT 1 AS one) AS named "
        "LEFT JOIN execution_station s ON s.code = %s "
        "LEFT JOIN execution_run r ON r.run_no = %s",
        [station_code, run_no],
    )
    return CallRows(None, _load(Station, row, 0), _load(Run, row, STATION))


def _step_columns() -> str:
    """A route step `rs` (with its operation `o`): what StepRows holds, in its order."""
    return (
        "rs.step_no, rs.station_type, o.id, o.code, o.name, "
        "(SELECT min(n.step_no) FROM execution_routestep n "
        " WHERE n.route_version_id = rs.route_version_id AND n.step_no > rs.step_no), "
        + _ids(
            "SELECT a.station_id AS x FROM execution_routestep_allowed_stations a "
            "WHERE a.routestep_id = rs.id"
        )
        + ", "
        + _ids(
            "SELECT b.dataspec_id AS x FROM execution_routestep_data_specs b "
            "WHERE b.routestep_id = rs.id"
        )
        + ", "
        + _ids(
            "SELECT b.dataspec_id AS x FROM execution_routestep_data_specs b "
            "JOIN execution_dataspec sp ON sp.id = b.dataspec_id "
            "WHERE b.routestep_id = rs.id AND sp.is_required AND sp.is_active"
        )
    )


def _step(columns) -> StepRows | None:
    step, station_type, op_id, op_code, op_name, next_step, allowed, bound, required = columns
    if step is None:  # an outer join found no step
        return None
    return StepRows(
        step,
        station_type,
        (op_id, op_code, op_name),
        next_step,
        _id_set(allowed),
        _id_set(bound),
        _id_set(required),
    )


STEP = 9  # columns of _step_columns


def route_step(route_version_id: int, step_no: int | None) -> StepRows | None:
    """The route's step `step_no` (its first step when None), or None."""
    rows = fetch_all(
        f"SELECT {_step_columns()} "
        "FROM execution_routestep rs JOIN execution_operation o ON o.id = rs.operation_id "
        "WHERE rs.route_version_id = %s AND rs.step_no = COALESCE(%s, "
        " (SELECT min(f.step_no) FROM execution_routestep f WHERE f.route_version_id = %s))",
        [route_version_id, step_no, route_version_id],
    )
    return _step(rows[0]) if rows else None


def open_pass(unit_id: int, route_version_id: int) -> OpenPass | None:
    """The unit's open pass (the latest, should there be several), its step in the route
    (None if the step left it), the specs with values on it, whether a KEY value on it
    failed, and the unit's open hold. Call it after the unit is locked: a statement of its
    own, it sees what committed before it began."""
    rows = fetch_all(
        f"SELECT {select_list(Track, 't')}, s.code, "
        + _ids("SELECT DISTINCT v.spec_id AS x FROM execution_datavalue v WHERE v.track_id = t.id")
        + ", EXISTS (SELECT 1 FROM execution_datavalue v "
        "  JOIN execution_dataspec sp ON sp.id = v.spec_id "
        "  WHERE v.track_id = t.id AND v.judge = 'FAIL' AND sp.item_type = 'KEY'), "
        f"{select_list(Hold, 'h', HOLD_FIELDS)}, {_step_columns()} "
        "FROM execution_track t LEFT JOIN execution_station s ON s.id = t.station_id "
        "LEFT JOIN execution_hold h ON h.unit_id = t.unit_id AND h.closed_at IS NULL "
        "LEFT JOIN execution_routestep rs "
        " ON rs.route_version_id = %s AND rs.step_no = t.step_no "
        "LEFT JOIN execution_operation o ON o.id = rs.operation_id "
        "WHERE t.unit_id = %s AND t.out_at IS NULL ORDER BY t.in_at DESC, t.id DESC LIMIT 1",
        [route_version_id, unit_id],
    )
    if not rows:
        return None
    row = rows[0]
    station_code, with_values, key_failed = row[TRACK : TRACK + 3]
    hold_at = TRACK + 3
    return OpenPass(
        load_model(Track, row),
        _step(row[hold_at + HOLD : hold_at + HOLD + STEP]),
        station_code,
        _id_set(with_values),
        bool(key_failed),
        _load(Hold, row, hold_at, HOLD_FIELDS),
    )


def hold_run(run_id: int) -> str:
    """The run's status, its row held (FOR KEY SHARE, PostgreSQL) until the call ends: a
    run completing at the same moment (it locks the row FOR UPDATE) waits for this unit,
    or this call sees it COMPLETED, never a unit tracked into a completed run."""
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    ((status,),) = fetch_all(f"SELECT status FROM execution_run WHERE id = %s{lock}", [run_id])
    return status


def create_unit(sn: str, run_id: int, step_no: int) -> int:
    """Insert the unit `sn`, queued at `step_no` of its run; its id. The unique serial
    number is the arbiter when two calls create it at once (IntegrityError)."""
    (row,) = fetch_all(
        "INSERT INTO execution_unit (sn, run_id, status, current_step_no) "
        "VALUES (%s, %s, %s, %s) RETURNING id",
        [sn, run_id, Unit.Status.QUEUED, step_no],
    )
    return row[0]


def _together(first: tuple[str, list], second: tuple[str, list]) -> list[tuple]:
    """Two statements in one round trip on PostgreSQL (the first as a data-modifying WITH,
    run whatever the second reads); one after the other elsewhere. The second's rows."""
    if connection.vendor == "postgresql":
        return fetch_all(f"WITH moved AS ({first[0]}) {second[0]}", [*first[1], *second[1]])
    execute(*first)
    return fetch_all(*second)


def _moved(unit: Unit) -> tuple[str, list]:
    return (
        "UPDATE execution_unit SET status = %s, current_step_no = %s WHERE id = %s",
        [unit.status, unit.current_step_no, unit.pk],
    )


def open_track(track: Track, unit: Unit) -> None:
    """Insert a new pass (its id set on `track`) and write `unit`'s status and step."""
    ((track.pk,),) = _together(
        _moved(unit),
        (
            "INSERT INTO execution_track (unit_id, step_no, station_id, source, in_at, "
            "operator_id, defect_code, defect_location, inspection_override) "
            "VALUES (%s, %s, %s, %s, %s, %s, '', '', %s) RETURNING id",
            [
                track.unit_id,
                track.step_no,
                track.station_id,
                track.source,
                connection.ops.adapt_datetimefield_value(track.in_at),
                track.operator_id,
                False,
            ],
        ),
    )


def close_track(track: Track, unit: Unit) -> None:
    """Write a pass's out time, result, defect and override, and `unit`'s status and step."""
    _together(
        _moved(unit),
        (
            "UPDATE execution_track SET out_at = %s, result = %s, defect_code = %s, "
            "defect_location = %s, inspection_override = %s WHERE id = %s RETURNING id",
            [
                connection.ops.adapt_datetimefield_value(track.out_at),
                track.result,
                track.defect_code,
                track.defect_location,
                track.inspection_override,
                track.pk,
            ],
        ),
    )
