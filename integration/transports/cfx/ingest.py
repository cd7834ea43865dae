"""One group of AMQP deliveries of CFX messages through the ingestion service (and, for
a station tracked by its machine, its WorkStarted and WorkCompleted through the tracking
service: track_calls.py).

The deliveries that arrived together are decoded (integration/transports/cfx/envelope.py),
translated into device events (integration/transports/cfx/mapping.py) and written in ONE call
of `receive_device_events`, as the MQTT consumer does, so unit results are written
at batch speed and each is still judged, written or refused on its own. A unit's
readings are collected by the specs of its step, found as the ingestion finds
them (`spec_names_at_steps`), so a machine's reading named like a spec of another
operation is left out rather than failing the unit's event. When the
database could not take the group, `DatabaseUnavailable` is raised and nothing is
to be settled: the broker delivers the messages again, and exact-once turns the
re-delivery into duplicates.
"""

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from django.db import DatabaseError, InterfaceError
from rest_framework.exceptions import ValidationError

from execution.models import DataSpec, Station
from execution.resolution import ResolutionError, TrackLookup, resolve_operations
from execution.track_resolution import resolve_tracks_at_stations
from integration.ingestion.attempt import Result
from integration.ingestion.service import receive_device_events
from integration.models import CfxReadingName
from integration.transports.broker import (
    GATEWAY_UNKNOWN,
    active_gateways,
    database_unavailable,
    raise_if_unavailable,
)
from integration.transports.cfx.envelope import MalformedCfx, envelopes_of
from integration.transports.cfx.mapping import UNKNOWN_SOURCE, Plant, UnitEvent, collect, translate
from integration.transports.cfx.track_calls import write_work

logger = logging.getLogger("integration.cfx")


class GatewayRefused(Exception):
    """The account CFX events are sent by is missing, disabled or revoked."""


@dataclass
class Delivery:
    """One AMQP message received, waiting to be written and settled."""

    body: object
    content_encoding: str | None = None
    handle: object = None  # the consumer's delivery (consumer.py)
    generation: int = 0  # the connection it arrived on (consumer.py)
    received_at: float = field(default_factory=time.monotonic)


@dataclass
class Outcome:
    """What became of one delivery: counted by the consumer, never answered."""

    malformed: str | None = None
    # Envelopes by what they were: message names written, or why skipped.
    envelopes: Counter = field(default_factory=Counter)
    # Unit results by ingestion result (CREATED, DUPLICATE, CONFLICT, FAILED).
    events: Counter = field(default_factory=Counter)
    # Track-ins and track-outs by what became of them (track_calls.py).
    tracking: Counter = field(default_factory=Counter)
    units_without_readings: int = 0


def load_plant(handles: set[str]) -> Plant:
    """The stations of these CFX handles, their reading names, and which of them are
    tracked by their machine."""
    stations, tracked = {}, set()
    for handle, code, by_machine in Station.objects.filter(cfx_handle__in=handles).values_list(
        "cfx_handle", "code", "tracked_by_machine"
    ):
        stations[handle] = code
        if by_machine:
            tracked.add(code)
    codes = set(stations.values())
    reading_names = {
        (station_code, reading): spec
        for station_code, reading, spec in CfxReadingName.objects.filter(
            station__code__in=codes
        ).values_list("station__code", "reading_name", "spec_name")
    }
    reading_names.update(
        {
            (None, reading): spec
            for reading, spec in CfxReadingName.objects.filter(station__isnull=True).values_list(
                "reading_name", "spec_name"
            )
        }
    )
    return Plant(stations, reading_names, frozenset(tracked))


def spec_names_at_steps(units: list[UnitEvent]) -> list[set[str]]:
    """For each unit event, the names its readings may be collected as, resolved as REST
    resolves `specName`: the unit's pass at the station (open, else latest) gives the
    route step; the active specs the step binds, or every active spec of the step's
    operation where it binds none. A unit with no pass there (or a run without a route)
    cannot be placed yet: every active spec's name, so the ingestion refuses the event
    with its own reason (UNIT_NOT_AT_STATION, …) and keeps it FAILED with its readings."""
    tracks = resolve_tracks_at_stations(
        [TrackLookup(unit_sn=unit.unit_sn, station_code=unit.station_code) for unit in units]
    )
    placed = [track for track in tracks if not isinstance(track, ResolutionError)]
    steps = iter(resolve_operations(placed, [None] * len(placed)))
    operations = [None if isinstance(track, ResolutionError) else next(steps) for track in tracks]
    operation_ids = {step.operation.pk for step in operations if step and step.operation}
    by_operation: dict[int, dict[int, str]] = {}
    for pk, name, operation_id in DataSpec.objects.filter(
        is_active=True, operation_id__in=operation_ids
    ).values_list("pk", "name", "operation_id"):
        by_operation.setdefault(operation_id, {})[pk] = name
    every_spec = None
    names = []
    for step in operations:
        if step is None or step.operation is None:
            if every_spec is None:
                every_spec = set(
                    DataSpec.objects.filter(is_active=True).values_list("name", flat=True)
                )
            names.append(every_spec)
            continue
        specs = by_operation.get(step.operation.pk, {})
        if step.bound_spec_ids:
            specs = {pk: name for pk, name in specs.items() if pk in step.bound_spec_ids}
        names.append(set(specs.values()))
    return names


def cfx_sender(username: str):
    """The gateway account CFX events are sent by (docs/DECISIONS.md). Raises
    GatewayRefused when it is unknown, disabled or revoked."""
    user = active_gateways({username}).get(username)
    if user is None:
        what = (
            f"there is none ({GATEWAY_UNKNOWN}): create it with `manage.py create_gateway "
            f"{username}`, or set CFX_GATEWAY to the gateway CFX events are sent by"
        )
    elif not user.refusal_code:
        return user
    elif not user.is_active:
        what = f"its user account is inactive ({user.refusal_code}): make it active again"
    else:
        # Re-keying is what makes a revoked gateway active again; the consumer uses no key.
        what = (
            f"its key is revoked ({user.refusal_code}): `manage.py rekey_gateway {username}` "
            "makes it active again (the consumer does not use the key it prints)"
        )
    raise GatewayRefused(f"CFX_GATEWAY {username!r} is not an active gateway of this MES: {what}")


def write_group(deliveries: list[Delivery], gateway: str) -> list[Outcome]:
    """Write the unit results of `deliveries` in one call of the ingestion service and
    return each delivery's outcome, in order. A WorkStarted or WorkCompleted of a station
    tracked by its machine is written where it stands: the unit results before it first,
    so a unit's readings land on the pass its WorkStarted opened and before its
    WorkCompleted closes it. Raises DatabaseUnavailable when the database could not take
    them (nothing is to be settled), GatewayRefused when the CFX gateway account may not
    send."""
    outcomes = [Outcome() for _ in deliveries]
    decoded = []
    for delivery, outcome in zip(deliveries, outcomes, strict=True):
        try:
            envelopes = envelopes_of(delivery.body, delivery.content_encoding)
        except MalformedCfx as problem:
            outcome.malformed = str(problem)
            logger.warning("Malformed CFX message, settled and not written: %s", problem)
            envelopes = []
        decoded.append(envelopes)
    handles = {e.source for envelopes in decoded for e in envelopes if not isinstance(e, Exception)}
    try:
        sender = cfx_sender(gateway)
        plant = load_plant(handles)
    except (DatabaseError, InterfaceError) as error:
        raise database_unavailable(error) from error

    units, owners = [], []
    for index, (envelopes, outcome) in enumerate(zip(decoded, outcomes, strict=True)):
        for envelope in envelopes:
            if isinstance(envelope, MalformedCfx):
                outcome.envelopes["malformed"] += 1
                logger.warning("Malformed CFX envelope, not written: %s", envelope)
                continue
            try:
                translation = translate(envelope, plant)
            except Exception:
                # A bug for this envelope: settled with the rest, or it would come back on
                # every restart and stop each consumer in turn (docs/cfx.md).
                outcome.envelopes["failed"] += 1
                logger.exception(
                    "CFX %s %s from %r could not be read; settled and not written",
                    envelope.message_name,
                    envelope.unique_id,
                    envelope.source,
                )
                continue
            if translation.skipped:
                outcome.envelopes[translation.skipped] += 1
                log = logger.warning if translation.skipped == UNKNOWN_SOURCE else logger.debug
                log(
                    "CFX %s from %r: %s",
                    envelope.message_name,
                    envelope.source,
                    translation.skipped,
                )
                continue
            outcome.envelopes[envelope.message_name] += 1
            if translation.work is not None:
                _write_unit_results(units, owners, outcomes, sender)
                units, owners = [], []
                write_work(translation.work, sender, outcome.tracking)
                continue
            units += translation.units
            owners += [index] * len(translation.units)
    _write_unit_results(units, owners, outcomes, sender)
    return outcomes


def _write_unit_results(units: list[UnitEvent], owners: list[int], outcomes, sender) -> None:
    """The unit events collected so far, in one call of the ingestion service; each
    counted on the outcome of the delivery it came from (`owners`)."""
    if not units:
        return
    try:
        spec_names = spec_names_at_steps(units)
    except (DatabaseError, InterfaceError) as error:
        raise database_unavailable(error) from error
    payloads, event_owners = [], []
    for unit, names, owner in zip(units, spec_names, owners, strict=True):
        event = collect(unit, names)
        if event is None:
            outcomes[owner].units_without_readings += 1
        else:
            payloads.append(event)
            event_owners.append(owner)

    try:
        attempts = receive_device_events(payloads, sent_by=sender) if payloads else []
    except InterfaceError as error:  # the connection is unusable: an outage
        raise database_unavailable(error) from error
    raise_if_unavailable(attempts)
    for attempt, owner in zip(attempts, event_owners, strict=True):
        outcomes[owner].events[attempt.status] += 1
        if attempt.status in (Result.FAILED, Result.CONFLICT):
            error = attempt.error
            # A refusal by the rules is kept (a FAILED message); a malformed event is not.
            log = logger.warning if isinstance(error, ValidationError) else logger.info
            log(
                "CFX unit result %s %s: %s %s",
                attempt.event_id,
                "refused" if attempt.status == Result.FAILED else "conflicts",
                getattr(error, "code", "VALIDATION_ERROR"),
                getattr(error, "message", error),
            )
