"""A route step binds only data-collection specs of its own operation (and, in its
forms, names only allowed stations of its own station type).

A spec of another operation, bound to a step, was saved without complaint and
then refused every event naming it (422 SPEC_OPERATION_MISMATCH). The rule is
held in three places, one function each: the admin's route step forms (before
anything is saved), an `m2m_changed` receiver for every other code path (the
many-to-many rows are written after the step, so `RouteStep.clean` cannot see
them), and a system check, `execution.W001`, that lists bindings saved before
the rule existed (docs/back-office.md).
"""

from django.core import checks
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections
from django.db.models import F
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from execution.models import DataSpec, RouteStep

# The system check names this many bad bindings, then says how many more there are.
BINDINGS_LISTED = 20


def foreign_specs_message(specs, operation) -> str:
    """What is wrong with binding `specs` (of other operations) to a step of `operation`."""
    names = ", ".join(str(spec) for spec in specs)
    return (
        f"A step of operation {operation.code} can bind only that operation's specs; "
        f"{names} belong to another operation."
    )


def specs_of_other_operations(operation, specs) -> list[DataSpec]:
    """The specs among `specs` that are not `operation`'s."""
    return [spec for spec in specs if spec.operation_id != operation.pk]


def stations_of_other_type(station_type: str, stations) -> list:
    """The stations among `stations` whose type is not `station_type`: a step of that
    type refuses them at track-in (STATION_MISMATCH), so naming them allows nothing."""
    return [station for station in stations if station.station_type != station_type]


def stations_of_other_type_message(stations, station_type: str) -> str:
    """What is wrong with allowing `stations` (of other types) at a step of `station_type`."""
    names = ", ".join(f"{station.code} ({station.station_type})" for station in stations)
    return (
        f"A step of station type {station_type} is done only at stations of that type; "
        f"{names} would never fit it. Leave the station type blank or choose other stations."
    )


@receiver(m2m_changed, sender=RouteStep.data_specs.through)
def refuse_foreign_specs(sender, instance, action, reverse, pk_set, **kwargs):
    """Refuse, before the rows are written, a binding of a spec to a step of another
    operation, from either side (`step.data_specs.add(spec)`, `spec.route_steps.add(step)`)."""
    if action != "pre_add" or not pk_set:
        return
    if reverse:  # instance is a spec, pk_set its new steps
        steps = RouteStep.objects.filter(pk__in=pk_set).exclude(operation_id=instance.operation_id)
        for step in steps.select_related("operation"):
            raise ValidationError(foreign_specs_message([instance], step.operation))
        return
    foreign = DataSpec.objects.filter(pk__in=pk_set).exclude(operation_id=instance.operation_id)
    foreign = list(foreign.select_related("operation"))
    if foreign:
        raise ValidationError(foreign_specs_message(foreign, instance.operation))


def bad_bindings(using: str = "default"):
    """The step-to-spec rows whose spec belongs to another operation than the step's."""
    through = RouteStep.data_specs.through
    return (
        through.objects.using(using)
        .exclude(routestep__operation_id=F("dataspec__operation_id"))
        .select_related("routestep__route_version", "routestep__operation", "dataspec__operation")
        .order_by("routestep_id", "dataspec_id")
    )


@checks.register(checks.Tags.database)
def check_route_step_bindings(app_configs=None, databases=None, **kwargs):
    """execution.W001 for each bound spec of another operation than its step's.

    A database check: it runs when asked (`manage.py check --database default`) and
    before `migrate`, never at `runserver` or import. A database that is not reachable
    or not yet migrated has no bindings to report.
    """
    warnings = []
    for alias in databases or []:
        through_table = RouteStep.data_specs.through._meta.db_table
        try:
            if through_table not in connections[alias].introspection.table_names():
                continue
            rows = list(bad_bindings(alias)[: BINDINGS_LISTED + 1])
            total = len(rows) if len(rows) <= BINDINGS_LISTED else bad_bindings(alias).count()
        except DatabaseError:
            continue
        for row in rows[:BINDINGS_LISTED]:
            step, spec = row.routestep, row.dataspec
            warnings.append(
                checks.Warning(
                    f"{step} binds {spec}, a spec of another operation than the step's "
                    f"({step.operation.code}): every event naming it is refused "
                    "(SPEC_OPERATION_MISMATCH).",
                    hint="Remove the spec from the step in the admin (route versions), or "
                    "bind the spec of the same name in the step's operation.",
                    obj=step,
                    id="execution.W001",
                )
            )
        if total > BINDINGS_LISTED:
            warnings.append(
                checks.Warning(
                    f"{total - BINDINGS_LISTED} more bindings of specs of another operation.",
                    id="execution.W001",
                )
            )
    return warnings
