"""The demo's tracked line (execution/demo_line.py) and its operator: run RUN-DEMO-LINE
waits AUTHORIZED on route v2, whose steps name their stations; `seed_demo` prints the
operator's key and a track-in that works; the README's walk-through, run as written,
takes a unit to DONE."""

import json
import re
import shlex
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from execution.demo_line import DEMO_LINE_RUN_NO, DEMO_LINE_UNITS
from execution.models import DataSpec, Run, Station, Track, Unit
from integration.models import GatewayKey, TrackingRecord

pytestmark = pytest.mark.django_db

README = Path(settings.BASE_DIR) / "README.md"


def seed_demo() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def operator_key(output: str) -> str:
    match = re.search(r"Demo operator operator .*\n\s+(\S+)\n", output)
    assert match, output
    return match.group(1)


def keyed_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def seeded():
    return seed_demo()


def test_the_line_run_is_authorized_on_a_route_whose_steps_name_their_stations(seeded):
    run = Run.objects.get(run_no=DEMO_LINE_RUN_NO)

    assert (run.status, run.wo_no, run.line_code) == ("AUTHORIZED", "WO-DEMO-1", "SMT-LINE-1")
    assert run.route_version.version_no == 2
    steps = [
        (step.step_no, step.station_type, [s.code for s in step.allowed_stations.all()])
        for step in run.route_version.steps.order_by("step_no")
    ]
    assert steps == [
        (10, "AUTO", ["PRINTER-01"]),
        (20, "AUTO", ["SPI-01"]),
        (30, "AUTO", ["MOUNTER-01"]),
        (40, "AUTO", ["REFLOW-01"]),
        (50, "AUTO", ["AOI-01"]),
    ]
    for station in Station.objects.filter(route_steps__route_version=run.route_version):
        assert station.line_code == run.line_code


def test_the_line_run_has_its_units_queued_and_not_yet_started(seeded):
    units = Unit.objects.filter(run__run_no=DEMO_LINE_RUN_NO)

    assert units.count() == DEMO_LINE_UNITS
    assert set(units.values_list("status", "current_step_no")) == {("QUEUED", None)}
    assert not Track.objects.filter(unit__in=units).exists()


def test_a_pass_needs_the_required_specs_and_the_aoi_verdict_is_a_key_characteristic(seeded):
    required = set(DataSpec.objects.filter(is_required=True).values_list("name", flat=True))

    assert required == {"Paste Height", "Peak Temperature", "AOI Result"}
    assert DataSpec.objects.get(name="AOI Result").item_type == DataSpec.ItemType.KEY


def test_the_demo_operator_tracks_units_and_nothing_else(seeded):
    operator = get_user_model().objects.get(username="operator")

    assert list(operator.groups.values_list("name", flat=True)) == ["Operators"]
    assert not (operator.is_staff or operator.is_superuser)
    assert GatewayKey.objects.filter(user=operator, revoked_at=None).count() == 1
    client = keyed_client(operator_key(seeded))
    refused = client.post("/api/integration/device-data", {"eventId": "x"}, format="json")
    assert refused.status_code == 403


def test_the_printed_track_in_works_with_the_printed_operator_key(seeded):
    match = re.search(r"/api/stations/(\S+)/track-in .*?-d '(\{.*?\})'", seeded, re.DOTALL)
    assert match, seeded

    response = keyed_client(operator_key(seeded)).post(
        f"/api/stations/{match.group(1)}/track-in", json.loads(match.group(2)), format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["data"]["status"] == "IN_STATION"
    assert Run.objects.get(run_no=DEMO_LINE_RUN_NO).status == Run.Status.IN_PROGRESS


def test_seeding_again_gives_the_operator_a_new_key_and_keeps_the_line_as_it_is(seeded):
    client = keyed_client(operator_key(seeded))
    body = {"sn": "SN-LINE-0003", "runNo": DEMO_LINE_RUN_NO}
    assert client.post("/api/stations/PRINTER-01/track-in", body, format="json").status_code == 200

    again = seed_demo()

    assert client.get("/api/stations/SPI-01/queue").status_code == 401  # the old key
    assert operator_key(again) != operator_key(seeded)
    unit = Unit.objects.get(sn="SN-LINE-0003")
    assert (unit.status, unit.current_step_no) == ("IN_STATION", 10)
    assert Run.objects.get(run_no=DEMO_LINE_RUN_NO).status == Run.Status.IN_PROGRESS


# --- the README's walk-through, as written ----------------------------------------------------


def readme_walk_through() -> tuple[str, str, list[tuple[str, str, str]]]:
    """The README's `track` calls: (serial number, body template, [(station, in/out,
    extra JSON)])."""
    text = README.read_text()
    block = text[text.index("## Track a unit through the line") :]
    block = block[block.index("```sh") : block.index("```", block.index("```sh") + 5)]
    sn = re.search(r"\bSN=(\S+)", block).group(1)
    template = re.search(r"-d \"(\{.*\})\"", block).group(1)
    calls = []
    for line in block.splitlines():
        if line.startswith("track "):
            words = shlex.split(line, comments=True)
            calls.append((words[1], words[2], words[3] if len(words) > 3 else ""))
    return sn, template, calls


def body_of(template: str, sn: str, extra: str) -> dict:
    text = template.replace('\\"', '"').replace("$SN", sn).replace("$3", extra)
    return json.loads(text)


def test_the_readme_walk_through_takes_a_demo_unit_to_done(seeded):
    sn, template, calls = readme_walk_through()
    client = keyed_client(operator_key(seeded))
    assert len(calls) == 10  # in and out at each of the five stations

    answers = []
    for station, direction, extra in calls:
        response = client.post(
            f"/api/stations/{station}/track-{direction}",
            body_of(template, sn, extra),
            format="json",
        )
        assert response.status_code == 200, (station, direction, response.content)
        answers.append(response.json()["data"]["status"])

    assert answers == ["IN_STATION", "QUEUED"] * 4 + ["IN_STATION", "DONE"]
    unit = Unit.objects.get(sn=sn)
    assert unit.status == Unit.Status.DONE
    assert unit.tracks.filter(result="PASS").count() == 5
    assert TrackingRecord.objects.filter(unit_sn=sn).count() == 0  # sent without eventIds
    assert set(unit.tracks.values_list("operator_id", flat=True)) == {"op-7"}


def test_the_demo_operator_signs_in_at_the_station_page_with_the_printed_password_not_the_admin(
    seeded, client
):
    match = re.search(r"Station page: (\S+) +operator / (\S+)", seeded)
    assert match, seeded
    path, password = match.group(1).removeprefix("http://127.0.0.1:8000"), match.group(2)
    assert path == "/station/"

    admin = client.post("/admin/login/", {"username": "operator", "password": password})
    assert admin.status_code == 200  # the form again: not staff
    assert "_auth_user_id" not in client.session

    response = client.post(
        "/station/login/", {"username": "operator", "password": password, "next": path}
    )
    assert response.status_code == 302 and response["Location"] == path
    assert b"PRINTER-01" in client.get(path).content
