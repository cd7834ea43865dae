"""Finding each event's track (docs/ingestion.md, rules 3–4): by its id, by run, unit,
station and step, or, without a step, the unit's pass at the station; for a batch at
once, in a few queries, and a `ResolutionError` that says what did not match.
"""

from typing import NamedTuple

from execution.models import Run, Station, Unit
from execution.resolution import ResolutionError, ResolvedTrack, TrackLookup
from mes.db import fetch_all, one_of


class _TrackRow(NamedTuple):
    track_id: int
    step_no: int
    unit_sn: str
    run_no: str | None
    route_version_id: int | None
    station_code: str | None
    station_id: int | None
    run_id: int | None
    unit_id: int
    unit_status: str


class _CarrierTrackRow(NamedTuple):
    carrier_track_id: int
    step_no: int
    station_code: str | None
    station_id: int | None


# A track with what stands for the event: its unit, the unit's run (and route), its station.
TRACK_SELECT = """
    SELECT t.id, t.step_no, u.sn, r.run_no, r.route_version_id, s.code, t.station_id, u.run_id,
           t.unit_id, u.status
    FROM execution_track t
    JOIN execution_unit u ON u.id = t.unit_id
    LEFT JOIN execution_run r ON r.id = u.run_id
    LEFT JOIN execution_station s ON s.id = t.station_id
"""


def resolve_tracks(lookups: list[TrackLookup]) -> list[ResolvedTrack | ResolutionError]:
    """Find the Track (or CarrierTrack) of each event.

    By `track_id`, whose unit, run, station and step then stand for the event
    (codes also sent must match them); by `carrier_track_id`; by run, unit,
    station and step, taking the unit's latest pass (by `in_at`) there; or,
    without a step number, by unit and station (`resolve_tracks_at_stations`).
    """
    track_ids = list({lookup.track_id for lookup in lookups if lookup.track_id is not None})
    carrier_ids = list({lookup.carrier_track_id for lookup in lookups if lookup.carrier_track_id})
    by_codes = [
        lookup
        for lookup in lookups
        if not (lookup.track_id or lookup.carrier_track_id) and lookup.step_no is not None
    ]
    at_stations = [
        lookup
        for lookup in lookups
        if not (lookup.track_id or lookup.carrier_track_id) and lookup.step_no is None
    ]
    found_at_stations = dict(zip(at_stations, resolve_tracks_at_stations(at_stations), strict=True))

    tracks_by_id = {}
    if track_ids:
        condition, params = one_of("t.id", track_ids, "bigint")
        rows = fetch_all(f"{TRACK_SELECT} WHERE {condition}", params)
        tracks_by_id = {row[0]: _TrackRow(*row) for row in rows}
    carrier_tracks_by_id = {}
    if carrier_ids:
        condition, params = one_of("c.id", carrier_ids, "bigint")
        rows = fetch_all(
            "SELECT c.id, c.step_no, s.code, c.station_id FROM execution_carriertrack c "
            f"LEFT JOIN execution_station s ON s.id = c.station_id WHERE {condition}",
            params,
        )
        carrier_tracks_by_id = {row[0]: _CarrierTrackRow(*row) for row in rows}
    latest_by_codes = {}
    if by_codes:
        conditions, params = [], []
        for column, values, sql_type in (
            ("u.sn", {lookup.unit_sn for lookup in by_codes}, "text"),
            ("s.code", {lookup.station_code for lookup in by_codes}, "text"),
            ("t.step_no", {lookup.step_no for lookup in by_codes}, "integer"),
            ("r.run_no", {lookup.run_no for lookup in by_codes}, "text"),
        ):
            condition, values = one_of(column, values, sql_type)
            conditions.append(condition)
            params += values
        rows = fetch_all(
            f"{TRACK_SELECT} WHERE {' AND '.join(conditions)} ORDER BY t.in_at DESC, t.id DESC",
            params,
        )
        for row in map(_TrackRow._make, rows):
            key = (row.run_no, row.unit_sn, row.station_code, row.step_no)
            latest_by_codes.setdefault(key, row)
    misses = [lookup for lookup in by_codes if lookup.codes not in latest_by_codes]
    diagnose = _missing_track_diagnosis(misses)

    results = []
    for lookup in lookups:
        if lookup.track_id is not None:
            results.append(_by_track_id(lookup, tracks_by_id.get(lookup.track_id)))
        elif lookup.carrier_track_id is not None:
            results.append(
                _by_carrier_track_id(lookup, carrier_tracks_by_id.get(lookup.carrier_track_id))
            )
        elif lookup.step_no is None:
            results.append(found_at_stations[lookup])
        elif lookup.codes in latest_by_codes:
            row = latest_by_codes[lookup.codes]
            results.append(_resolved(row, lookup, lookup.run_no, lookup.step_no))
        else:
            results.append(diagnose(lookup))
    return results


def resolve_tracks_at_stations(lookups: list[TrackLookup]) -> list[ResolvedTrack | ResolutionError]:
    """The Track of each event that names a unit and a station but no step (a machine
    that knows the board it handled, not the route, such as an IPC-CFX sender).

    The unit's open pass at that station (no `out_at`; the latest open one if there
    are several), else its latest pass there, whose step then stands for the event.
    A run named too must be the unit's. No pass at all is `UNIT_NOT_AT_STATION`:
    kept as a FAILED message, replayable once the unit is tracked there.
    """
    if not lookups:
        return []
    units, unit_params = one_of("u.sn", {lookup.unit_sn for lookup in lookups}, "text")
    stations, station_params = one_of("s.code", {lookup.station_code for lookup in lookups}, "text")
    rows = fetch_all(
        f"{TRACK_SELECT} WHERE {units} AND {stations} "
        "ORDER BY CASE WHEN t.out_at IS NULL THEN 0 ELSE 1 END, t.in_at DESC, t.id DESC",
        [*unit_params, *station_params],
    )
    passes = {}
    for row in map(_TrackRow._make, rows):
        passes.setdefault((row.unit_sn, row.station_code), row)
    misses = [
        lookup
        for lookup in lookups
        if (lookup.unit_sn, lookup.station_code) not in passes
        or (
            lookup.run_no is not None
            and passes[lookup.unit_sn, lookup.station_code].run_no != lookup.run_no
        )
    ]
    diagnose = _missing_track_diagnosis(misses, at_station=True)
    results = []
    for lookup in lookups:
        row = passes.get((lookup.unit_sn, lookup.station_code))
        if row is None or (lookup.run_no is not None and row.run_no != lookup.run_no):
            results.append(diagnose(lookup))
            continue
        results.append(_resolved(row, lookup, row.run_no or "", row.step_no))
    return results


def _resolved(row: _TrackRow, lookup: TrackLookup, run_no: str, step_no: int) -> ResolvedTrack:
    """A track found by codes: the codes stand for the event, with the run and step given."""
    return ResolvedTrack(
        track_id=row.track_id,
        route_version_id=row.route_version_id,
        run_no=run_no,
        unit_sn=lookup.unit_sn,
        station_code=lookup.station_code,
        step_no=step_no,
        station_id=row.station_id,
        run_id=row.run_id,
        unit_id=row.unit_id,
        unit_status=row.unit_status,
    )


def _mismatch(name: str, given, actual) -> ResolutionError:
    return ResolutionError(
        "TRACK_MISMATCH", f"{name} {given!r} does not match the track's {name} {actual!r}"
    )


def _by_track_id(lookup: TrackLookup, track: _TrackRow | None) -> ResolvedTrack | ResolutionError:
    if track is None:
        return ResolutionError("TRACK_NOT_FOUND", f"Track not found: {lookup.track_id}")
    actual = {
        "runNo": track.run_no or "",
        "unitSn": track.unit_sn,
        "stationCode": track.station_code or "",
        "stepNo": track.step_no,
    }
    for name, given in zip(("runNo", "unitSn", "stationCode", "stepNo"), lookup.codes, strict=True):
        if given is not None and given != actual[name]:
            return _mismatch(name, given, actual[name])
    return ResolvedTrack(
        track_id=track.track_id,
        route_version_id=track.route_version_id,
        run_no=actual["runNo"],
        unit_sn=actual["unitSn"],
        station_code=actual["stationCode"],
        step_no=track.step_no,
        station_id=track.station_id,
        run_id=track.run_id,
        unit_id=track.unit_id,
        unit_status=track.unit_status,
    )


def _by_carrier_track_id(
    lookup: TrackLookup, carrier_track: _CarrierTrackRow | None
) -> ResolvedTrack | ResolutionError:
    if carrier_track is None:
        return ResolutionError(
            "CARRIER_TRACK_NOT_FOUND", f"Carrier track not found: {lookup.carrier_track_id}"
        )
    actual_station = carrier_track.station_code or ""
    if lookup.station_code is not None and lookup.station_code != actual_station:
        return _mismatch("stationCode", lookup.station_code, actual_station)
    if lookup.step_no is not None and lookup.step_no != carrier_track.step_no:
        return _mismatch("stepNo", lookup.step_no, carrier_track.step_no)
    # A carrier belongs to no run or unit: codes sent with it are recorded as given.
    return ResolvedTrack(
        carrier_track_id=carrier_track.carrier_track_id,
        run_no=lookup.run_no or "",
        unit_sn=lookup.unit_sn or "",
        station_code=actual_station,
        step_no=carrier_track.step_no,
        station_id=carrier_track.station_id,
    )


def _missing_track_diagnosis(misses: list[TrackLookup], *, at_station: bool = False):
    """Tell each miss by codes its own error code, with three queries for all of them.
    With `at_station` (no step number) the run is optional and the last code is
    UNIT_NOT_AT_STATION."""
    if not misses:
        return None
    run_nos = {m.run_no for m in misses if m.run_no is not None}
    run_ids = dict(Run.objects.filter(run_no__in=run_nos).values_list("run_no", "pk"))
    stations = set(
        Station.objects.filter(code__in={m.station_code for m in misses}).values_list(
            "code", flat=True
        )
    )
    unit_runs = dict(
        Unit.objects.filter(sn__in={m.unit_sn for m in misses}).values_list("sn", "run_id")
    )

    def diagnose(lookup: TrackLookup) -> ResolutionError:
        run_named = lookup.run_no is not None or not at_station
        if run_named and lookup.run_no not in run_ids:
            return ResolutionError("RUN_NOT_FOUND", f"Run not found: {lookup.run_no}")
        if lookup.station_code not in stations:
            return ResolutionError("STATION_NOT_FOUND", f"Station not found: {lookup.station_code}")
        if lookup.unit_sn not in unit_runs:
            return ResolutionError("UNIT_NOT_FOUND", f"Unit not found: {lookup.unit_sn}")
        if run_named and unit_runs[lookup.unit_sn] != run_ids[lookup.run_no]:
            return ResolutionError(
                "UNIT_NOT_IN_RUN", f"Unit {lookup.unit_sn} does not belong to run {lookup.run_no}"
            )
        if at_station:
            return ResolutionError(
                "UNIT_NOT_AT_STATION",
                f"Unit {lookup.unit_sn} has no pass at station {lookup.station_code}: "
                "replay this event once the unit is tracked there",
            )
        return ResolutionError(
            "TRACK_NOT_FOUND",
            f"Track not found: unit {lookup.unit_sn} has no pass at station "
            f"{lookup.station_code}, step {lookup.step_no}",
        )

    return diagnose
