"""A benchmark's sections cannot take each other down (bench/sections.py): a section that
raises is reported failed and the next still runs, one whose broker is missing or
misconfigured is skipped with the reason, the results so far are on disk after each
section, and the exit code says whether one failed.

The failures are real: functions that raise, a check of an AMQP 1.0 broker on a port
where nothing listens, and a RabbitMQ node of its own without the AMQP 1.0 plugin.
"""

import json

import pytest

from bench import cfx as bench_cfx
from bench import mqtt as bench_mqtt
from bench.sections import DONE, FAILED, SKIPPED, Sections, Skipped
from tests.cfx_broker import rabbitmq_without_amqp_1_0
from tests.mqtt_broker import free_port


def divide_by_zero():
    return 1 / 0


def test_a_failing_section_is_reported_and_the_sections_after_it_still_run(tmp_path, capsys):
    results = {}
    sections = Sections(results, tmp_path / "results.json")

    sections.run("first", lambda: results.__setitem__("first", {"events_per_second": 10}))
    sections.run("broken", divide_by_zero)
    after = sections.run("after", lambda: "measured")

    assert [outcome.state for outcome in sections.outcomes.values()] == [DONE, FAILED, DONE]
    assert str(sections.outcomes["broken"]) == "failed: ZeroDivisionError: division by zero"
    assert after == "measured"
    assert sections.exit_code() == 1
    printed = capsys.readouterr()
    assert "== broken: failed: ZeroDivisionError: division by zero" in printed.out
    assert "Traceback" in printed.err and "divide_by_zero" in printed.err
    summary = sections.summary()
    assert "first   done" in summary
    assert "broken  failed: ZeroDivisionError" in summary
    assert "after   done" in summary


def test_the_figures_of_earlier_sections_are_on_disk_before_a_later_one_fails(tmp_path):
    output = tmp_path / "results.json"
    results = {}
    sections = Sections(results, output)
    seen = []

    def fails_after_reading_the_file():
        seen.append(json.loads(output.read_text()))
        raise RuntimeError("the broker went away")

    sections.run("measured", lambda: results.__setitem__("single", [{"events": 5}]))
    sections.run("breaks", fails_after_reading_the_file)

    assert seen[0]["single"] == [{"events": 5}]
    assert seen[0]["sections"]["measured"]["state"] == DONE
    written = json.loads(output.read_text())
    assert written["single"] == [{"events": 5}]
    assert written["sections"]["breaks"] == {
        "state": FAILED, "reason": "RuntimeError: the broker went away",
        "seconds": written["sections"]["breaks"]["seconds"],
    }  # fmt: skip


def test_a_check_that_gives_a_reason_skips_the_section_without_running_it_and_is_no_failure():
    sections = Sections({})
    ran = []

    sections.run("MQTT", lambda: ran.append(True), check=lambda: "Mosquitto is not installed")

    assert ran == []
    assert str(sections.outcomes["MQTT"]) == "skipped: Mosquitto is not installed"
    assert sections.exit_code() == 0


def test_a_section_that_finds_its_broker_unusable_once_started_is_skipped():
    sections = Sections({})

    def broker_does_not_start():
        raise Skipped("Mosquitto did not start: address in use")

    sections.run("MQTT", broker_does_not_start)

    assert str(sections.outcomes["MQTT"]) == "skipped: Mosquitto did not start: address in use"
    assert sections.exit_code() == 0


def test_a_helper_exiting_with_its_reason_fails_the_section_not_the_run():
    sections = Sections({})

    def gunicorn_not_ready():
        raise SystemExit("gunicorn did not become ready within 30 s")

    sections.run("REST single", gunicorn_not_ready)
    sections.run("observability", lambda: None)

    assert str(sections.outcomes["REST single"]) == (
        "failed: SystemExit: gunicorn did not become ready within 30 s"
    )
    assert sections.outcomes["observability"].state == DONE
    assert sections.exit_code() == 1


def test_a_section_needing_one_that_failed_is_skipped_saying_which():
    sections = Sections({})
    ran = []

    sections.run("setup", divide_by_zero)
    sections.run("REST batch", lambda: ran.append(True), needs=("setup",))

    assert ran == []
    assert str(sections.outcomes["REST batch"]) == "skipped: needs setup, which failed"
    assert sections.exit_code() == 1  # for the setup's failure


def test_a_check_that_raises_fails_its_section():
    sections = Sections({})

    sections.run("CFX", lambda: None, check=divide_by_zero)

    assert sections.outcomes["CFX"].state == FAILED


def test_the_cfx_section_is_skipped_where_nothing_listens_for_amqp():
    port = free_port()
    sections = Sections({})
    ran = []

    sections.run(
        "CFX",
        lambda: ran.append(True),
        check=lambda: bench_cfx.unavailable(f"amqp://guest:guest@127.0.0.1:{port}", timeout=2),
    )

    outcome = sections.outcomes["CFX"]
    assert ran == []
    assert outcome.state == SKIPPED
    assert outcome.reason.startswith(f"nothing listens for AMQP on 127.0.0.1:{port}")


@pytest.mark.slow
def test_the_cfx_section_is_skipped_where_rabbitmq_lacks_its_amqp_1_0_plugin(tmp_path):
    # The failure of issue 27: RabbitMQ on the port, speaking AMQP 0-9-1 only.
    (tmp_path / "rabbitmq").mkdir()
    with rabbitmq_without_amqp_1_0(tmp_path / "rabbitmq") as port:
        reason = bench_cfx.unavailable(f"amqp://guest:guest@127.0.0.1:{port}", timeout=5)

    assert reason is not None
    assert reason.startswith(f"no AMQP 1.0 connection to 127.0.0.1:{port}")
    assert "rabbitmq_amqp1_0" in reason


def test_the_mqtt_section_is_skipped_where_mosquitto_is_not_installed(tmp_path):
    missing = tmp_path / "mosquitto"

    reason = bench_mqtt.unavailable(str(missing))

    assert reason == f"Mosquitto is not installed ({missing} missing; apt-get install mosquitto)"
