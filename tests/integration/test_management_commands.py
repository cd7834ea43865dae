"""The commands people run: the gateway and line simulators against a live server."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from execution.demo import seed_demo_line
from execution.models import Unit
from integration.models import DeviceDataRecord, IntegrationMessage, TrackingRecord
from tests.factories import gateway_with_key


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simulator_posts_new_events_duplicates_a_conflict_and_a_failure_over_http(live_server):
    seed_demo_line()
    out = StringIO()

    call_command("simulate_gateway", url=live_server.url, count=12, rate=0, seed=7, stdout=out)

    summary = out.getvalue()
    assert "created (200)                12" in summary
    assert "duplicate (200)              1" in summary
    assert "EVENT_ID_CONFLICT (409)      1" in summary
    assert "UNIT_NOT_FOUND (422)         1" in summary
    assert DeviceDataRecord.objects.count() == 12
    statuses = list(IntegrationMessage.objects.values_list("status", flat=True))
    assert sorted(set(statuses)) == ["CONFLICT", "DUPLICATE", "FAILED", "SUCCESS"]
    assert statuses.count("SUCCESS") == 12
    # Every record was sent by the simulator's own gateway account.
    assert set(DeviceDataRecord.objects.values_list("sent_by__username", flat=True)) == {
        "gw-simulator"
    }


# --- simulate_line: units through a run over HTTP ---------------------------------------------


def simulate_line(live_server, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(
        "simulate_line", url=live_server.url, rate=0, seed=5, stdout=out, stderr=err, **options
    )
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_line_simulator_takes_each_unit_through_every_step_over_http(live_server):
    seed_demo_line()

    summary, errors = simulate_line(live_server, units=3, sn_prefix="SN-SIMT-")

    assert errors == ""
    assert "units: DONE 3" in summary
    for kind in ("track-in", "data-specs", "device-data", "track-out"):
        assert f"{kind} 200" in summary
    units = Unit.objects.filter(sn__startswith="SN-SIMT-")
    assert sorted(units.values_list("sn", "status")) == [
        (f"SN-SIMT-00{n}", "DONE") for n in (1, 2, 3)
    ]
    for unit in units:
        passes = list(unit.tracks.order_by("in_at").values_list("step_no", "result"))
        assert passes == [(10, "PASS"), (20, "PASS"), (30, "PASS"), (40, "PASS"), (50, "PASS")]
        # Each required value came in with its pass: from the machine or the operator.
        assert unit.tracks.get(step_no=40).data_values.filter(spec__name="Peak Temperature")
    # Sent by the simulator's account, which both ingests and tracks.
    assert set(DeviceDataRecord.objects.values_list("sent_by__username", flat=True)) == {
        "gw-line-simulator"
    }
    assert TrackingRecord.objects.filter(sent_by__username="gw-line-simulator").count() == 30


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_units_chosen_to_fail_stop_out_failed_with_the_simulated_defect(live_server):
    seed_demo_line()

    summary, _ = simulate_line(live_server, units=2, fail_rate=1.0, sn_prefix="SN-SIMF-")

    assert "units: OUT_FAILED 2" in summary
    failed = Unit.objects.filter(sn__startswith="SN-SIMF-")
    assert set(failed.values_list("status", flat=True)) == {Unit.Status.OUT_FAILED}
    for unit in failed:
        last = unit.tracks.order_by("-in_at").first()
        assert (last.result, last.defect_code) == ("FAIL", "SIM_DEFECT")
        assert f"{unit.sn}: OUT_FAILED at step {last.step_no}" in summary


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_key_that_may_not_track_units_is_refused_at_the_first_step(live_server):
    seed_demo_line()
    _user, key = gateway_with_key("gw-ingest-only")

    summary, errors = simulate_line(live_server, units=1, key=key, sn_prefix="SN-SIMK-")

    assert "SN-SIMK-001: REFUSED at step 10" in summary
    assert "track-in PERMISSION_DENIED (403)" in summary
    assert "HTTP 403" in errors
    assert not Unit.objects.filter(sn="SN-SIMK-001").exists()


def test_the_line_simulator_refuses_a_run_that_is_not_there(db):
    with pytest.raises(CommandError, match="RUN-NOPE is not there"):
        call_command("simulate_line", run="RUN-NOPE", url="http://127.0.0.1:9")


def test_the_line_simulator_says_when_the_server_cannot_be_reached(db):
    seed_demo_line()

    with pytest.raises(CommandError, match="Cannot reach http://127.0.0.1:9"):
        call_command("simulate_line", url="http://127.0.0.1:9", units=1, rate=0)
