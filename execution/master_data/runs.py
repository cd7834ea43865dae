"""A run and its planned serial numbers, upserted by run number (docs/master-data.md).
The same run again is a no-op; new serials are added; a serial planned in another run
moves here only while it has no tracks (UNIT_HAS_TRACKS otherwise). Units are written
with bulk_create: a run of 1,000 serials is a handful of statements."""

from django.db import transaction

from execution.master_data.errors import (
    CREATED,
    UNCHANGED,
    UPDATED,
    MasterDataRefused,
    Outcome,
    Reader,
)
from execution.models import RouteVersion, Run, Track, Unit

RUN = "RUN"
# The statuses a master-data call may set; the MES moves a run on from there.
PLANNED = (Run.Status.PREP, Run.Status.AUTHORIZED)
# Fields a call may leave out: kept as the run has them (a new run: blank, PREP; its
# route is needed).
OPTIONAL = ("woNo", "routeCode", "routeVersion", "lineCode", "status")
# Serials looked up per query: far under every database's limit of parameters.
CHUNK = 900


def read_run(data, run_no: str | None = None, item: str = "") -> dict:
    """The run's fields; a field left out is None: kept as the run has it, or its
    default for a new run (docs/master-data.md "Run")."""
    reader = Reader(data, item)
    if run_no is not None:
        reader.url_key("runNo", run_no)
    serials = reader.texts("serials", max_length=100)
    seen = {}
    for index, sn in enumerate(serials):
        if sn in seen:
            raise reader.refused(f"serials[{index}]", f"{sn!r} is also serials[{seen[sn]}].")
        seen[sn] = index
    given = {name: data.get(name) not in (None, "") for name in OPTIONAL}
    route_given = given["routeCode"] or given["routeVersion"]
    return {
        "run_no": run_no if run_no is not None else reader.text("runNo", max_length=100),
        "wo_no": reader.text("woNo", max_length=100, required=False) if given["woNo"] else None,
        "route_code": reader.text("routeCode", max_length=100) if route_given else None,
        "route_version": reader.integer("routeVersion") if route_given else None,
        "line_code": (
            reader.text("lineCode", max_length=100, required=False) if given["lineCode"] else None
        ),
        "status": reader.choice("status", PLANNED) if given["status"] else None,
        "serials": serials,
        "item": item,
    }


def upsert_run(data, *, run_no: str | None = None, item: str = "") -> Outcome:
    """Create or update one run and plan its serials, in one transaction. Raises
    MasterDataRefused: ROUTE_VERSION_NOT_FOUND, RUN_STARTED (a started run's route
    cannot change), UNIT_HAS_TRACKS (a serial tracked in another run)."""
    fields = read_run(data, run_no, item)
    with transaction.atomic():
        return _save_run(fields)


def _save_run(fields: dict) -> Outcome:
    item = fields["item"]
    run = Run.objects.select_for_update().filter(run_no=fields["run_no"]).first()
    version = _route_version(fields, item, needed=run is None)
    wanted = {
        "wo_no": fields["wo_no"],
        "route_version_id": version.pk if version is not None else None,
        "line_code": fields["line_code"],
        "status": fields["status"],
    }
    if run is None:
        defaults = {"wo_no": "", "line_code": "", "status": Run.Status.PREP}
        wanted = {
            name: defaults.get(name) if value is None else value for name, value in wanted.items()
        }
        _check_ready(wanted["status"], version, item)
        run = Run.objects.create(run_no=fields["run_no"], **wanted)
        action = CREATED
    else:
        wanted = {name: value for name, value in wanted.items() if value is not None}
        if run.status not in PLANNED:
            # Started: the MES owns its status from here.
            wanted.pop("status", None)
            if wanted.get("route_version_id", run.route_version_id) != run.route_version_id:
                raise MasterDataRefused(
                    "RUN_STARTED",
                    f"run {run.run_no} is {run.status}: its route cannot change.",
                    item=item,
                    field_name="routeVersion",
                )
        changed = [name for name, value in wanted.items() if getattr(run, name) != value]
        if "status" in changed or "route_version_id" in changed:
            _check_ready(
                wanted.get("status", run.status),
                version if version is not None else run.route_version,
                item,
            )
        for name in changed:
            setattr(run, name, wanted[name])
        if changed:
            run.save(update_fields=changed)
        action = UPDATED if changed else UNCHANGED
    counts = _plan_units(run, fields["serials"], item)
    if action == UNCHANGED and (counts["unitsCreated"] or counts["unitsAdded"]):
        action = UPDATED
    return Outcome(RUN, run.run_no, action, counts)


def _route_version(fields: dict, item: str, *, needed: bool) -> RouteVersion | None:
    if fields["route_code"] is None:
        if needed:
            raise MasterDataRefused(
                "VALIDATION_ERROR",
                f"no run {fields['run_no']} yet: a new run needs its routeCode and routeVersion.",
                item=item,
                field_name="routeCode",
            )
        return None
    version = RouteVersion.objects.filter(
        code=fields["route_code"], version_no=fields["route_version"]
    ).first()
    if version is None:
        raise MasterDataRefused(
            "ROUTE_VERSION_NOT_FOUND",
            f"no route {fields['route_code']} v{fields['route_version']}.",
            item=item,
            field_name="routeVersion",
        )
    return version


def _check_ready(status: str, version: RouteVersion | None, item: str) -> None:
    """An AUTHORIZED run can be tracked in: its route version has steps, as the back
    office's Authorize checks (execution/run_authorization.py)."""
    if status == Run.Status.AUTHORIZED and (version is None or not version.steps.exists()):
        raise MasterDataRefused(
            "ROUTE_VERSION_NOT_READY",
            "an authorized run needs a route version with steps.",
            item=item,
            field_name="status",
        )


def _plan_units(run: Run, serials: list[str], item: str) -> dict:
    existing = {}
    for start in range(0, len(serials), CHUNK):
        chunk = serials[start : start + CHUNK]
        for unit in Unit.objects.filter(sn__in=chunk).only("pk", "sn", "run_id"):
            existing[unit.sn] = unit
    elsewhere = [unit for unit in existing.values() if unit.run_id != run.pk]
    if elsewhere:
        # Locked, then checked: a track-in at this moment waits, or comes first and refuses.
        ids = [unit.pk for unit in elsewhere]
        list(Unit.objects.select_for_update().filter(pk__in=ids).values_list("pk"))
        tracked = set(
            Track.objects.filter(unit_id__in=ids).values_list("unit__sn", flat=True).distinct()
        )
        if tracked:
            index = next(i for i, sn in enumerate(serials) if sn in tracked)
            raise MasterDataRefused(
                "UNIT_HAS_TRACKS",
                f"unit {serials[index]} has tracks in another run and cannot move to {run.run_no}.",
                item=item,
                field_name=f"serials[{index}]",
            )
        moved = [unit.pk for unit in elsewhere if unit.run_id is not None]
        Unit.objects.filter(pk__in=ids).update(run=run)
    else:
        moved = []
    new = [Unit(sn=sn, run=run) for sn in serials if sn not in existing]
    Unit.objects.bulk_create(new, batch_size=CHUNK)
    return {
        "unitsCreated": len(new),
        "unitsAdded": len(elsewhere),
        "unitsMoved": len(moved),
        "unitsUnchanged": len(existing) - len(elsewhere),
    }
