"""Post realistic device events for the demo run to a running server, over real HTTP
(or, with --mqtt, publish them to the MQTT broker of MQTT_URL: docs/mqtt.md; with --cfx,
publish a reflow oven's and an AOI's IPC-CFX messages to CFX_AMQP_URL: docs/cfx.md).

Among them, on purpose: duplicates (a gateway retrying), one conflict (an
eventId reused for another reading) and one failure (an unknown unit).
"""

import json
import random
import statistics
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime
from functools import partial

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from execution.demo import DEMO_RUN_NO
from execution.models import Unit
from integration.gateways.broker_accounts import broker_warning, update_broker_after_issue
from integration.gateways.keys import GATEWAYS_GROUP, create_gateway, issue_gateway_key
from integration.transports.mqtt.config import MqttConfig, MqttConfigError
from integration.transports.mqtt.gateway_client import GatewayConnection

SIMULATOR_GATEWAY = "gw-simulator"

# (station code, step no, [(spec name, value field, value maker)])
STATIONS = [
    (
        "SPI-01",
        20,
        [
            ("Paste Height", "valueNumber", lambda r: round(r.gauss(130, 14), 1)),
            ("Paste Volume", "valueNumber", lambda r: round(r.gauss(100, 12), 1)),
        ],
    ),
    (
        "REFLOW-01",
        40,
        [
            ("Peak Temperature", "valueNumber", lambda r: round(r.gauss(245, 3.5), 1)),
            ("Conveyor Speed", "valueNumber", lambda r: round(r.gauss(80, 4), 1)),
        ],
    ),
    (
        "AOI-01",
        50,
        [("AOI Result", "valueText", lambda r: "PASS" if r.random() < 0.95 else "NG")],
    ),
]


class Command(BaseCommand):
    help = "Send simulated gateway traffic for RUN-DEMO-001 to a running server and summarise."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--key", help="Gateway key; default: (re-)key gateway gw-simulator")
        parser.add_argument("--count", type=int, default=50, help="New events to send")
        parser.add_argument("--rate", type=float, default=10.0, help="Events per second")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--mqtt",
            action="store_true",
            help="Publish over MQTT to the broker of MQTT_URL (a consume_mqtt must run) "
            "and wait for each answer, instead of posting over HTTP",
        )
        parser.add_argument(
            "--cfx",
            action="store_true",
            help="Publish IPC-CFX messages over AMQP 1.0 to CFX_AMQP_URL / CFX_AMQP_ADDRESS "
            "(a consume_cfx must run): --count panels of --panel units, each a reflow "
            "oven's UnitsProcessed and an AOI's UnitsInspected",
        )
        parser.add_argument("--panel", type=int, default=4, help="Units per CFX panel")

    def handle(self, *args, url, key, count, rate, seed, mqtt, cfx, panel, **options):
        units = list(Unit.objects.filter(run__run_no=DEMO_RUN_NO).values_list("sn", flat=True))
        if not units:
            raise CommandError(f"No units in {DEMO_RUN_NO}: run `manage.py seed_demo` first.")
        if cfx:
            self._publish_cfx(units, count, rate, random.Random(seed), panel)
            return
        key = key or self._simulator_key()
        rng = random.Random(seed)
        endpoint = url.rstrip("/") + "/api/integration/device-data"
        send = partial(self._post, endpoint, key)
        if mqtt:
            send, endpoint = self._mqtt_sender(key)
        batch = uuid.uuid4().hex[:8]

        outcomes, latencies, sent = Counter(), [], []
        plan = self._plan(count, units, rng, batch)
        interval = 1.0 / rate if rate > 0 else 0.0
        started = time.perf_counter()
        for number, (kind, event) in enumerate(plan):
            target = started + number * interval
            time.sleep(max(0.0, target - time.perf_counter()))
            status, body, elapsed = send(event)
            latencies.append(elapsed)
            sent.append(event)
            outcomes[self._outcome(status, body)] += 1
            if status >= 500 or status in (401, 403):
                self.stderr.write(f"{kind} {event['eventId']}: HTTP {status} {body}")
        total = time.perf_counter() - started

        self.stdout.write(f"Sent {len(plan)} requests to {endpoint} in {total:.1f} s")
        for outcome, number in sorted(outcomes.items()):
            self.stdout.write(f"  {outcome:<28} {number}")
        if latencies:
            ordered = sorted(latencies)
            p95 = ordered[int(0.95 * (len(ordered) - 1))]
            self.stdout.write(
                f"  latency ms: median {statistics.median(ordered) * 1000:.1f}, "
                f"p95 {p95 * 1000:.1f}, max {ordered[-1] * 1000:.1f}"
            )

    def _mqtt_sender(self, key):
        """Publish each event as gateway gw-simulator and wait for its answer."""
        try:
            config = MqttConfig.from_environment()
        except MqttConfigError as error:
            raise CommandError(str(error)) from None
        broker = f"{config.host}:{config.port}"
        try:
            connection = GatewayConnection(config, SIMULATOR_GATEWAY, key)
        except OSError as error:
            raise CommandError(
                f"MQTT broker {broker}: {error}. Is it running, and does it know gateway "
                f"{SIMULATOR_GATEWAY} with this key (docs/mqtt-broker.md)?"
            ) from None
        return connection.request, f"{broker} as {SIMULATOR_GATEWAY}"

    def _publish_cfx(self, units, panels, rate, rng, panel_size):
        """Each panel: the oven's UnitsProcessed, then the AOI's UnitsInspected. The demo's
        oven and AOI are given CFX handles, readings their spec names, and the CFX gateway
        account is made, where missing (docs/cfx.md)."""
        from proton import ProtonException

        from integration.transports.cfx.config import CfxConfig, CfxConfigError
        from integration.transports.cfx.publisher import CfxPublisher, aoi_inspection, reflow_panel

        try:
            config = CfxConfig.from_environment()
            publisher = CfxPublisher(config)
        except (CfxConfigError, ProtonException, OSError) as error:
            raise CommandError(f"Cannot reach the CFX broker: {error}") from None
        oven, aoi = demo_cfx_stations(config.gateway)
        interval = 1.0 / rate if rate > 0 else 0.0
        started = time.perf_counter()
        for number in range(panels):
            time.sleep(max(0.0, started + number * interval - time.perf_counter()))
            first = (number * panel_size) % len(units)
            unit_sns = [units[(first + n) % len(units)] for n in range(panel_size)]
            publisher.publish(reflow_panel(oven, unit_sns, rng))
            publisher.publish(aoi_inspection(aoi, unit_sns, rng))
        publisher.close()
        self.stdout.write(
            f"Published {panels} panels of {panel_size} units (UnitsProcessed and "
            f"UnitsInspected) to {config.shown_url} in {time.perf_counter() - started:.1f} s"
        )

    def _simulator_key(self) -> str:
        key, broker = simulator_key()
        if broker.failed:
            self.stderr.write(broker_warning(broker, after="simulator's new key"))
        return key

    def _event(self, rng, unit_sn, batch, number) -> dict:
        station_code, step_no, specs = rng.choice(STATIONS)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return {
            "eventId": f"sim-{batch}-{number:05d}",
            "eventTime": now,
            "source": "AUTO",
            "runNo": DEMO_RUN_NO,
            "unitSn": unit_sn,
            "stationCode": station_code,
            "stepNo": step_no,
            "equipmentId": f"EQ-{station_code}",
            "data": [{"specName": name, field: make(rng)} for name, field, make in specs],
            "meta": {"simulator": True},
        }

    def _plan(self, count, units, rng, batch) -> list[tuple[str, dict]]:
        plan = [("new", self._event(rng, rng.choice(units), batch, n)) for n in range(count)]
        if count >= 3:
            # A gateway retrying after a timeout: the same event again.
            for position in range(5, count, 10):
                plan.insert(position + 1, ("duplicate", plan[position][1]))
            # The same eventId reused for another reading: a conflict.
            conflicting = json.loads(json.dumps(plan[1][1]))
            conflicting["equipmentId"] = "EQ-REPLACED"
            plan.append(("conflict", conflicting))
            # A unit the MES does not know yet: kept as a FAILED message.
            plan.append(("failure", self._event(rng, "SN-NOT-YET-KNOWN", batch, count + 1)))
        return plan

    @staticmethod
    def _post(endpoint, key, event):
        request = urllib.request.Request(
            endpoint,
            data=json.dumps(event).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Token {key}"},
            method="POST",
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except urllib.error.URLError as error:
            raise CommandError(f"Cannot reach {endpoint}: {error.reason}") from None
        elapsed = time.perf_counter() - started
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"raw": raw[:200].decode(errors="replace")}
        return status, body, elapsed

    @staticmethod
    def _outcome(status, body) -> str:
        if status == 200:
            return "duplicate (200)" if body["data"]["isDuplicate"] else "created (200)"
        code = body.get("error", {}).get("code", "?") if isinstance(body, dict) else "?"
        return f"{code} ({status})"


def simulator_key() -> tuple[str, object]:
    """A new key for gateway gw-simulator (made where missing), given to its MQTT account
    at the broker too, as `rekey_gateway` does (docs/mqtt-broker.md); returns the key and
    the broker's update."""
    user = get_user_model().objects.filter(username=SIMULATOR_GATEWAY).first()
    if user is None:
        _, key = create_gateway(SIMULATOR_GATEWAY)
    elif not user.groups.filter(name=GATEWAYS_GROUP).exists():
        raise CommandError(f"User {SIMULATOR_GATEWAY} exists but is not a gateway.")
    else:
        key = issue_gateway_key(user)
    return key, update_broker_after_issue(SIMULATOR_GATEWAY, key)


def demo_cfx_stations(gateway: str) -> tuple[str, str]:
    """The CFX handles of the demo's oven and AOI (set where missing), with their readings
    mapped to the demo's spec names and the CFX gateway account made."""
    from execution.models import Station
    from integration.models import CfxReadingName

    handles = []
    for code, handle in (("REFLOW-01", "Demo.Reflow.REFLOW-01"), ("AOI-01", "Demo.AOI.AOI-01")):
        station = Station.objects.get(code=code)
        if not station.cfx_handle:
            station.cfx_handle = handle
            station.save(update_fields=["cfx_handle"])
        handles.append(station.cfx_handle)
    for reading, spec in (
        ("PeakTemperature", "Peak Temperature"),
        ("ConveyorSpeed", "Conveyor Speed"),
        ("OverallResult", "AOI Result"),
    ):
        CfxReadingName.objects.get_or_create(
            station=None, reading_name=reading, defaults={"spec_name": spec}
        )
    if not get_user_model().objects.filter(username=gateway).exists():
        create_gateway(gateway)
    return handles[0], handles[1]
