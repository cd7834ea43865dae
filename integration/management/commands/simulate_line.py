"""Drive units through a run over the HTTP API, unit after unit: track in, device data,
track out at each step of its route (integration/line_simulation.py), then summarise
where the units ended and how every call was answered."""

import random
import time
import uuid
from collections import Counter

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from execution.demo_line import DEMO_LINE_RUN_NO
from integration.gateways.keys import GATEWAYS_GROUP, create_gateway, issue_gateway_key
from integration.line_simulation import ApiClient, LineError, drive_unit, line_of, pacer

LINE_SIMULATOR = "gw-line-simulator"
# The key sends device data (Gateways) and tracks units in and out (Operators).
LINE_SIMULATOR_GROUPS = [GATEWAYS_GROUP, "Operators"]


class Command(BaseCommand):
    help = (
        "Track units through a run over the HTTP API, as a line's stations and machines "
        f"would: track in, device data, track out, step after step ({DEMO_LINE_RUN_NO} "
        "by default; seed_demo makes it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--key",
            help="A key with the track_units permission and device-data rights; default: "
            f"(re-)key the account {LINE_SIMULATOR}",
        )
        parser.add_argument("--run", default=DEMO_LINE_RUN_NO, help="The run to track units in")
        parser.add_argument("--units", type=int, default=5, help="New units to drive")
        parser.add_argument(
            "--sn-prefix",
            help="Serial numbers are this and 001, 002, …; default SN-SIM-<random>-",
        )
        parser.add_argument(
            "--fail-rate",
            type=float,
            default=0.0,
            help="Share of units that fail one step (FAIL with a defect): 0 to 1",
        )
        parser.add_argument(
            "--rate", type=float, default=20.0, help="Calls per second; 0: no pause"
        )
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, url, key, run, units, sn_prefix, fail_rate, rate, seed, **options):
        if units < 1:
            raise CommandError("--units must be at least 1.")
        if not 0 <= fail_rate <= 1:
            raise CommandError("--fail-rate is a share: from 0 to 1.")
        try:
            steps = line_of(run)
        except LineError as error:
            raise CommandError(str(error)) from None
        client = ApiClient(url, key or line_simulator_key())
        rng = random.Random(seed)
        batch = uuid.uuid4().hex[:6]
        prefix = sn_prefix or f"SN-SIM-{batch}-"
        pace = pacer(rate)

        ended, calls = Counter(), Counter()
        started = time.perf_counter()
        for number in range(1, units + 1):
            sn = f"{prefix}{number:03d}"
            fail_at = rng.choice(steps).step_no if rng.random() < fail_rate else None
            try:
                outcome = drive_unit(
                    client, run, sn, steps, rng, batch=batch, fail_at=fail_at, pace=pace
                )
            except OSError as error:
                raise CommandError(f"Cannot reach {client.base_url}: {error}") from None
            for line in outcome.errors:
                self.stderr.write(line)
            where = f" at step {outcome.stopped_at}" if outcome.stopped_at else ""
            self.stdout.write(f"{sn}: {outcome.status}{where}")
            ended[outcome.status] += 1
            calls.update(outcome.calls)
        elapsed = time.perf_counter() - started

        route = " → ".join(f"{step.station_code} ({step.step_no})" for step in steps)
        self.stdout.write(f"Drove {units} units through {run} in {elapsed:.1f} s: {route}")
        self.stdout.write("  units: " + ", ".join(f"{s} {n}" for s, n in sorted(ended.items())))
        for outcome_name, number in sorted(calls.items()):
            self.stdout.write(f"  {outcome_name:<32} {number}")


def line_simulator_key() -> str:
    """A new key for the account gw-line-simulator, made where missing, in the Gateways
    and Operators groups."""
    user = get_user_model().objects.filter(username=LINE_SIMULATOR).first()
    if user is None:
        user, key = create_gateway(LINE_SIMULATOR)
    elif user.is_staff or user.is_superuser or user.has_usable_password():
        raise CommandError(f"User {LINE_SIMULATOR} exists and is not a service account.")
    else:
        key = issue_gateway_key(user)
    user.groups.add(*Group.objects.filter(name__in=LINE_SIMULATOR_GROUPS))
    return key
