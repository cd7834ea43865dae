"""A bundle of master data (stations, operations, routes, runs, each a list in the API's
shapes) written all or nothing: the command's files, and later the admin's import, call
`import_bundle` (docs/master-data.md)."""

from collections import Counter

from django.db import transaction

from execution.master_data.catalog import upsert_operation, upsert_station
from execution.master_data.errors import MasterDataRefused, Outcome
from execution.master_data.routes import upsert_route_version
from execution.master_data.runs import upsert_run

# In the order they depend on each other.
SECTIONS = {
    "stations": upsert_station,
    "operations": upsert_operation,
    "routes": upsert_route_version,
    "runs": upsert_run,
}


def import_bundle(bundle) -> list[Outcome]:
    """Upsert every item of `bundle`, in one transaction: the first refused item (named
    `routes[2]`, with its field) rolls everything back. `dry_run=True` writes nothing
    either way, as a preview."""
    return _import(bundle, dry_run=False)


def preview_bundle(bundle) -> list[Outcome]:
    """What `import_bundle` would do, written and then rolled back."""
    return _import(bundle, dry_run=True)


class _DryRun(Exception):
    pass


def _import(bundle, *, dry_run: bool) -> list[Outcome]:
    if not isinstance(bundle, dict):
        raise MasterDataRefused("VALIDATION_ERROR", "a bundle must be a JSON object.")
    unknown = sorted(set(bundle) - set(SECTIONS))
    if unknown:
        raise MasterDataRefused(
            "VALIDATION_ERROR",
            f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}.",
        )
    outcomes = []
    try:
        with transaction.atomic():
            for section, upsert in SECTIONS.items():
                items = bundle.get(section) or []
                if not isinstance(items, list):
                    raise MasterDataRefused("VALIDATION_ERROR", f"{section} must be a list.")
                for index, data in enumerate(items):
                    outcomes.append(upsert(data, item=f"{section}[{index}]"))
            if dry_run:
                raise _DryRun()
    except _DryRun:
        pass
    return outcomes


def summary(outcomes: list[Outcome]) -> dict:
    """{entity: {"created": n, "updated": n, "unchanged": n}} and the run's unit counts."""
    counts = {}
    for outcome in outcomes:
        entity = counts.setdefault(outcome.entity, Counter(created=0, updated=0, unchanged=0))
        entity[outcome.action] += 1
        entity.update(outcome.counts)
    return {entity: dict(counter) for entity, counter in counts.items()}
