"""A route step binds only specs of its own operation (issue 14: route step binding).

Refused in the admin's step page and route version inline, by the ORM from either
side of the many-to-many, and bindings saved before the rule are listed by the
`execution.W001` system check.
"""

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from execution.models import RouteStep, Run
from execution.route_binding import check_route_step_bindings
from tests.factories import DataSpecFactory, OperationFactory, RouteStepFactory


@pytest.fixture
def foreign_spec(db):
    return DataSpecFactory(operation=OperationFactory(code="OP-AOI"), name="Solder Bridges")


@pytest.fixture
def editable(line):
    """The line's route named by no run: a version in use is fixed in the admin."""
    Run.objects.filter(pk=line.run.pk).update(route_version=None)
    return line


def bind_without_rule(step, spec):
    """A binding as older code saved it: the through row, without signals."""
    RouteStep.data_specs.through.objects.bulk_create(
        [RouteStep.data_specs.through(routestep=step, dataspec=spec)]
    )


def step_form(step, spec_ids) -> dict:
    return {
        "route_version": step.route_version_id,
        "step_no": step.step_no,
        "operation": step.operation_id,
        "data_specs": spec_ids,
    }


def test_the_step_page_refuses_a_spec_of_another_operation(
    integration, line, editable, foreign_spec
):
    url = reverse("admin:execution_routestep_change", args=[line.step.pk])

    response = integration.post(url, step_form(line.step, [line.peak.pk, foreign_spec.pk]))

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["data_specs"]
    assert "Solder Bridges (OP-AOI)" in error and "OP-REFLOW" in error
    assert set(line.step.data_specs.all()) == {line.peak, line.conveyor, line.visual}


def test_the_step_page_saves_specs_of_its_own_operation(integration, line, editable):
    url = reverse("admin:execution_routestep_change", args=[line.step.pk])

    response = integration.post(url, step_form(line.step, [line.peak.pk, line.unbound.pk]))

    assert response.status_code == 302
    assert set(line.step.data_specs.all()) == {line.peak, line.unbound}


def test_the_route_version_inline_refuses_a_spec_of_another_operation(
    integration, line, editable, foreign_spec
):
    version = line.step.route_version
    url = reverse("admin:execution_routeversion_change", args=[version.pk])
    prefix = "steps"
    data = {
        "code": version.code,
        "version_no": version.version_no,
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "1",
        f"{prefix}-0-id": line.step.pk,
        f"{prefix}-0-route_version": version.pk,
        f"{prefix}-0-step_no": line.step.step_no,
        f"{prefix}-0-operation": line.operation.pk,
        f"{prefix}-0-data_specs": [line.peak.pk, foreign_spec.pk],
    }

    response = integration.post(url, data)

    assert response.status_code == 200
    [formset] = response.context["inline_admin_formsets"]
    assert "Solder Bridges (OP-AOI)" in formset.formset.forms[0].errors["data_specs"][0]
    assert foreign_spec not in line.step.data_specs.all()


def test_binding_a_spec_of_another_operation_through_the_orm_is_refused(line, foreign_spec):
    with pytest.raises(ValidationError, match="OP-AOI"), transaction.atomic():
        line.step.data_specs.add(foreign_spec)

    assert foreign_spec not in line.step.data_specs.all()


def test_binding_from_the_specs_side_is_refused_too(line, foreign_spec):
    with pytest.raises(ValidationError, match="OP-REFLOW"), transaction.atomic():
        foreign_spec.route_steps.add(line.step)

    assert not foreign_spec.route_steps.exists()


def test_setting_a_steps_specs_to_its_own_operations_is_allowed(line):
    line.step.data_specs.set([line.unbound])

    assert list(line.step.data_specs.all()) == [line.unbound]


def test_the_system_check_lists_a_binding_saved_before_the_rule(line, foreign_spec):
    bind_without_rule(line.step, foreign_spec)

    [warning] = check_route_step_bindings(databases=["default"])

    assert warning.id == "execution.W001"
    assert warning.obj == line.step
    assert "Solder Bridges (OP-AOI)" in warning.msg


def test_the_system_check_is_quiet_about_good_bindings(line):
    assert check_route_step_bindings(databases=["default"]) == []


def test_the_system_check_reads_no_database_unless_asked(line, foreign_spec):
    bind_without_rule(line.step, foreign_spec)

    assert check_route_step_bindings(databases=None) == []


def test_manage_check_with_the_database_reports_the_bad_binding(line, foreign_spec):
    bind_without_rule(line.step, foreign_spec)
    output = StringIO()

    call_command("check", "--database", "default", stdout=output, stderr=output)

    assert "execution.W001" in output.getvalue()


def test_the_system_check_names_the_first_bindings_and_counts_the_rest(db, foreign_spec):
    steps = [RouteStepFactory(step_no=n) for n in range(1, 23)]
    for step in steps:
        bind_without_rule(step, foreign_spec)

    warnings = check_route_step_bindings(databases=["default"])

    assert len(warnings) == 21
    assert warnings[-1].msg.startswith("2 more bindings")
