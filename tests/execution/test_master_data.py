"""The master-data service's rules (docs/master-data.md): upserts by business key that
are idempotent and all or nothing, a route version in use that cannot change, serials
that cannot move once tracked, and refusals that name the item and field."""

import pytest

from execution.master_data import (
    MasterDataRefused,
    import_bundle,
    preview_bundle,
    summary,
    upsert_operation,
    upsert_route_version,
    upsert_run,
    upsert_station,
)
from execution.models import DataSpec, Operation, RouteStep, RouteVersion, Run, Station, Unit
from tests.factories import DataValueFactory, TrackFactory
from tests.master_data_bundle import example_bundle, section

pytestmark = pytest.mark.django_db


@pytest.fixture
def example_line():
    """The example bundle imported: its stations, operations, route and run."""
    return import_bundle(example_bundle())


def _route(**overrides) -> dict:
    route = section("routes")[0]
    route.update(overrides)
    return route


def _run(**overrides) -> dict:
    run = section("runs")[0]
    run.update(overrides)
    return run


def _refusal(call, *args, **kwargs) -> MasterDataRefused:
    with pytest.raises(MasterDataRefused) as caught:
        call(*args, **kwargs)
    return caught.value


def test_the_example_bundle_creates_the_whole_line():
    counts = summary(import_bundle(example_bundle()))

    assert counts["STATION"]["created"] == 5
    assert counts["OPERATION"]["created"] == 5
    assert counts["RUN"]["unitsCreated"] == 200
    assert DataSpec.objects.count() == 12
    version = RouteVersion.objects.get(code="ROUTE-SMT-EX", version_no=1)
    assert version.steps.count() == 5
    reflow = version.steps.get(step_no=40)
    assert sorted(reflow.data_specs.values_list("name", flat=True)) == [
        "Conveyor Speed",
        "Peak Temperature",
    ]
    assert list(reflow.allowed_stations.values_list("code", flat=True)) == ["EX-REFLOW-01"]
    run = Run.objects.get(run_no="RUN-EX-001")
    assert (run.status, run.wo_no, run.line_code) == ("AUTHORIZED", "WO-EX-1", "SMT-EX")
    assert run.units.filter(status=Unit.Status.QUEUED).count() == 200


def test_the_same_bundle_twice_changes_nothing(example_line):
    outcomes = import_bundle(example_bundle())

    assert outcomes, "the bundle has items"
    assert {outcome.action for outcome in outcomes} == {"unchanged"}
    assert summary(outcomes)["RUN"]["unitsUnchanged"] == 200
    assert Unit.objects.count() == 200
    assert RouteStep.objects.count() == 5


def test_a_changed_station_is_updated_in_place(example_line):
    station = section("stations")[0] | {"name": "Printer, new frame", "trackedByMachine": True}

    outcome = upsert_station(station)

    assert outcome.action == "updated"
    saved = Station.objects.get(code=station["code"])
    assert (saved.name, saved.tracked_by_machine) == ("Printer, new frame", True)
    assert Station.objects.count() == 5


def test_an_operation_adds_and_changes_specs_by_name_and_keeps_the_others(example_line):
    operation = section("operations")[0]
    operation["specs"] = [
        {"name": "Print Speed", "dataType": "NUMBER", "spec": {"min": 25, "max": 75}},
        {"name": "Stencil Age", "dataType": "NUMBER", "spec": {"max": 8, "unit": "h"}},
    ]

    assert upsert_operation(operation).action == "updated"

    specs = {spec.name: spec for spec in DataSpec.objects.filter(operation__code="EX-OP-PRINT")}
    assert sorted(specs) == ["Print Speed", "Squeegee Pressure", "Stencil Age"]
    assert specs["Print Speed"].spec == {"min": 25, "max": 75}


def test_limits_the_admin_would_refuse_are_refused_naming_the_spec_and_field():
    operation = {
        "code": "OP-NEW",
        "name": "New",
        "specs": [
            {"name": "Fine", "dataType": "NUMBER", "spec": {"min": 1}},
            {"name": "Typo", "dataType": "NUMBER", "spec": {"Max": 3}},
        ],
    }

    refusal = _refusal(upsert_operation, operation)

    assert refusal.code == "VALIDATION_ERROR"
    assert refusal.field == "specs[1].spec"
    assert "'Max'" in refusal.message
    assert not Operation.objects.filter(code="OP-NEW").exists()


def test_a_route_version_no_run_uses_is_replaced_by_new_steps(example_line):
    Unit.objects.all().delete()
    Run.objects.all().delete()
    route = _route(steps=_route()["steps"][:3])

    assert upsert_route_version(route).action == "updated"

    assert RouteStep.objects.filter(route_version__code="ROUTE-SMT-EX").count() == 3


def test_a_route_version_in_use_refuses_a_change_and_keeps_its_steps(example_line):
    route = _route(steps=_route()["steps"][:3])

    refusal = _refusal(upsert_route_version, route)

    assert refusal.code == "ROUTE_VERSION_IN_USE"
    assert RouteStep.objects.filter(route_version__code="ROUTE-SMT-EX").count() == 5


def test_a_route_version_in_use_takes_its_own_content_again_as_a_no_op(example_line):
    route = _route()
    route["steps"].reverse()  # another order, the same steps

    assert upsert_route_version(route).action == "unchanged"


def test_the_change_goes_in_as_a_new_version(example_line):
    route = _route(version=2, steps=_route()["steps"][:3])

    assert upsert_route_version(route).action == "created"
    assert RouteVersion.objects.filter(code="ROUTE-SMT-EX").count() == 2


def test_a_step_naming_an_unknown_operation_is_refused_by_step_and_field(example_line):
    route = _route(version=2)
    route["steps"][2]["operationCode"] = "OP-NOWHERE"

    refusal = _refusal(upsert_route_version, route)

    assert (refusal.code, refusal.field) == ("OPERATION_NOT_FOUND", "steps[2].operationCode")
    assert not RouteVersion.objects.filter(version_no=2).exists()


def test_a_step_binding_another_operations_spec_is_refused(example_line):
    route = _route(version=2)
    route["steps"][0]["specs"] = ["Peak Temperature"]

    refusal = _refusal(upsert_route_version, route)

    assert (refusal.code, refusal.field) == ("SPEC_NOT_FOUND", "steps[0].specs")


def test_the_same_run_again_is_a_no_op(example_line):
    outcome = upsert_run(_run())

    assert outcome.action == "unchanged"
    assert outcome.counts == {
        "unitsCreated": 0,
        "unitsAdded": 0,
        "unitsMoved": 0,
        "unitsUnchanged": 200,
    }


def test_new_serials_are_added_to_a_run(example_line):
    run = _run()
    run["serials"] += ["SN-EX-0201", "SN-EX-0202"]

    outcome = upsert_run(run)

    assert (outcome.action, outcome.counts["unitsCreated"]) == ("updated", 2)
    assert Unit.objects.filter(run__run_no="RUN-EX-001").count() == 202


def test_a_serial_with_tracks_cannot_move_to_another_run(example_line):
    tracked = Unit.objects.get(sn="SN-EX-0007")
    TrackFactory(unit=tracked)

    refusal = _refusal(upsert_run, _run(runNo="RUN-EX-002", serials=["SN-NEW-1", "SN-EX-0007"]))

    assert (refusal.code, refusal.field) == ("UNIT_HAS_TRACKS", "serials[1]")
    assert not Run.objects.filter(run_no="RUN-EX-002").exists()
    assert not Unit.objects.filter(sn="SN-NEW-1").exists()
    tracked.refresh_from_db()
    assert tracked.run.run_no == "RUN-EX-001"


def test_a_serial_without_tracks_moves_to_the_run_that_names_it(example_line):
    outcome = upsert_run(_run(runNo="RUN-EX-002", serials=["SN-EX-0008"]))

    assert (outcome.counts["unitsAdded"], outcome.counts["unitsMoved"]) == (1, 1)
    assert Unit.objects.get(sn="SN-EX-0008").run.run_no == "RUN-EX-002"


def test_a_run_status_other_than_prep_or_authorized_is_refused():
    refusal = _refusal(upsert_run, _run(status="COMPLETED"))

    assert (refusal.code, refusal.field) == ("VALIDATION_ERROR", "status")


def test_a_started_run_keeps_its_status_and_refuses_another_route(example_line):
    Run.objects.filter(run_no="RUN-EX-001").update(status=Run.Status.IN_PROGRESS)
    upsert_route_version(_route(version=2))

    assert upsert_run(_run(status="PREP")).action == "unchanged"
    refusal = _refusal(upsert_run, _run(routeVersion=2))

    assert refusal.code == "RUN_STARTED"
    assert Run.objects.get(run_no="RUN-EX-001").status == Run.Status.IN_PROGRESS


def test_a_bundle_with_one_bad_item_writes_nothing_and_names_it():
    bundle = example_bundle()
    bundle["runs"][0]["serials"][150] = bundle["runs"][0]["serials"][3]

    refusal = _refusal(import_bundle, bundle)

    assert (refusal.item, refusal.field) == ("runs[0]", "serials[150]")
    assert refusal.message.startswith("runs[0].serials[150]:")
    for model in (Station, Operation, DataSpec, RouteVersion, Run, Unit):
        assert not model.objects.exists(), model.__name__


def test_a_preview_counts_and_writes_nothing():
    counts = summary(preview_bundle(example_bundle()))

    assert counts["RUN"]["unitsCreated"] == 200
    assert not Station.objects.exists()
    assert not Unit.objects.exists()


def test_a_spec_with_values_keeps_its_data_type(example_line):
    spec = DataSpec.objects.get(name="Print Speed")
    DataValueFactory(spec=spec)
    operation = section("operations")[0]
    operation["specs"][1]["dataType"] = "TEXT"
    operation["specs"][1].pop("spec")

    refusal = _refusal(upsert_operation, operation)

    assert (refusal.code, refusal.field) == ("SPEC_HAS_VALUES", "specs[1].dataType")
    spec.refresh_from_db()
    assert spec.data_type == "NUMBER"


def test_a_spec_without_values_may_change_its_data_type(example_line):
    operation = section("operations")[0]
    operation["specs"][1] = {"name": "Print Speed", "dataType": "TEXT"}

    assert upsert_operation(operation).action == "updated"
    assert DataSpec.objects.get(name="Print Speed").data_type == "TEXT"
