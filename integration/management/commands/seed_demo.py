"""Seed the demo SMT line, demo users, a demo gateway, a demo operator and an acknowledged
conflict; safe to run again."""

from contextlib import suppress

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from execution.demo import DEMO_RUN_NO, DEMO_START, seed_demo_line
from execution.demo_line import DEMO_LINE_RUN_NO, DEMO_LINE_WO_NO, line_unit_sn
from integration.acknowledgements import acknowledge_messages
from integration.demo_history import seed_demo_history
from integration.demo_traffic import DEMO_TRAFFIC_UNIT, send_demo_traffic
from integration.gateways.keys import GATEWAYS_GROUP, issue_gateway_key
from integration.ingestion.errors import EventIdConflict
from integration.ingestion.service import receive_device_event
from integration.models import DeviceDataRecord, IntegrationMessage, business_key_for

DEMO_GATEWAY = "gw-demo"
# A station operator: tracks units in and out over the stations API with a key
# (docs/execution.md), or signs in at the station page with a password; not staff, so
# the admin's sign-in refuses it.
DEMO_OPERATOR = "operator"
DEMO_OPERATOR_PASSWORD = "operator-demo-1"
OPERATORS_GROUP = "Operators"
DEMO_CONFLICT_EVENT_ID = "demo-conflict-1"
DEMO_CONFLICT_NOTE = (
    "The oven's gateway re-used eventIds after a restart; the first reading is the right "
    "one. Gateway fixed in its 2.4.1 update."
)
# (username, password, is_superuser, group)
DEMO_USERS = [
    ("admin", "admin-demo-1", True, None),
    ("quality", "quality-demo-1", False, "Quality staff"),
    ("integration", "integration-demo-1", False, "Integration admins"),
]


def ensure_user(username, password=None, *, is_superuser=False, is_staff=False, group=None):
    user, _ = get_user_model().objects.get_or_create(username=username)
    changed = user.is_superuser != is_superuser or user.is_staff != is_staff
    user.is_superuser, user.is_staff = is_superuser, is_staff
    if password is None:
        changed = changed or user.has_usable_password()
        user.set_unusable_password()
    elif not user.check_password(password):
        user.set_password(password)
        changed = True
    if changed:
        user.save()
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


DEMO_HELD_UNIT = "SN-DEMO-0012"


def seed_held_unit(gateway) -> None:
    """A reflow peak above the alarm limit on the demo's last unit: through the ingestion
    service, as a gateway sends it, so the unit is on hold (docs/holds.md). Sent once:
    seeding again sends nothing."""
    if DeviceDataRecord.objects.filter(event_id="demo-hold-1").exists():
        return
    receive_device_event(
        {
            "eventId": "demo-hold-1",
            "eventTime": (DEMO_START.replace(hour=9)).isoformat(),
            "source": "AUTO",
            "runNo": DEMO_RUN_NO,
            "unitSn": DEMO_HELD_UNIT,
            "stationCode": "REFLOW-01",
            "stepNo": 40,
            "equipmentId": "OVEN-7",
            "data": [{"specName": "Peak Temperature", "valueNumber": 258.4}],
        },
        sent_by=gateway,
    )


class Command(BaseCommand):
    help = "Create the demo line, run RUN-DEMO-001, demo users and the demo gateway (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Used in the printed example."
        )

    @transaction.atomic
    def handle(self, *args, base_url, **options):
        line = seed_demo_line()
        for username, password, is_superuser, group in DEMO_USERS:
            ensure_user(username, password, is_superuser=is_superuser, is_staff=True, group=group)
        gateway = ensure_user(DEMO_GATEWAY, group=GATEWAYS_GROUP)
        key = issue_gateway_key(gateway)  # re-keyed in place: the new key is printed below
        operator = ensure_user(DEMO_OPERATOR, DEMO_OPERATOR_PASSWORD, group=OPERATORS_GROUP)
        operator_key = issue_gateway_key(operator)  # re-keyed like the gateway's
        seed_demo_history(gateway)
        send_demo_traffic(gateway)
        seed_held_unit(gateway)

        unit_sn = line["run"].units.order_by("sn").first().sn
        seed_acknowledged_conflict(
            unit_sn, gateway, get_user_model().objects.get(username="quality")
        )
        self.stdout.write(self.style.SUCCESS(f"Demo line ready: run {DEMO_RUN_NO}."))
        self.stdout.write(f"Back office: {base_url}/admin/")
        for username, password, _, group in DEMO_USERS:
            self.stdout.write(f"  {group or 'Superuser':<20} {username} / {password}")
        self.stdout.write(
            f"Station page: {base_url}/station/  {DEMO_OPERATOR} / {DEMO_OPERATOR_PASSWORD}"
        )
        self.stdout.write(
            f"A unit's page: {base_url}/admin/execution/unit/by-sn/{DEMO_TRAFFIC_UNIT}/"
        )
        self.stdout.write(f"API docs:    {base_url}/api/docs/")
        self.stdout.write(
            "SPC chart of the reflow history: Peak Temperature under Data-collection specs"
        )
        self.stdout.write(f"Demo gateway {DEMO_GATEWAY}, key (shown on every seed, re-keyed):")
        self.stdout.write(f"  {key}")
        self.stdout.write("Example request:")
        self.stdout.write(
            f"  curl -s -X POST {base_url}/api/integration/device-data \\\n"
            f"    -H 'Authorization: Token {key}' -H 'Content-Type: application/json' \\\n"
            f'    -d \'{{"eventId": "demo-evt-1", "eventTime": "2026-01-24T10:00:00Z", '
            f'"source": "AUTO", "runNo": "{DEMO_RUN_NO}", "unitSn": "{unit_sn}", '
            f'"stationCode": "REFLOW-01", "stepNo": 40, '
            f'"data": [{{"specName": "Peak Temperature", "valueNumber": 245}}]}}\''
        )
        self.stdout.write(
            "Simulated gateway traffic:\n"
            f"  .venv/bin/python manage.py simulate_gateway --url {base_url} --key {key}"
        )
        self.stdout.write(
            f"Demo operator {DEMO_OPERATOR} ({OPERATORS_GROUP}: tracks units in and out), "
            "key (shown on every seed, re-keyed):"
        )
        self.stdout.write(f"  {operator_key}")
        self.stdout.write(
            f"Track units through run {DEMO_LINE_RUN_NO} (work order {DEMO_LINE_WO_NO}), "
            f"e.g. {line_unit_sn(1)} in at its first station:\n"
            f"  curl -s -X POST {base_url}/api/stations/PRINTER-01/track-in \\\n"
            f"    -H 'Authorization: Token {operator_key}' "
            "-H 'Content-Type: application/json' \\\n"
            f'    -d \'{{"sn": "{line_unit_sn(1)}", "runNo": "{DEMO_LINE_RUN_NO}", '
            '"operatorId": "op-7"}\''
        )
        self.stdout.write('  (the whole walk to DONE: README.md, "Track a unit through the line")')
        self.stdout.write(
            "A simulated line (track in, device data, track out, unit after unit):\n"
            f"  .venv/bin/python manage.py simulate_line --url {base_url} --units 5"
        )
        if not settings.DEBUG:
            self.stdout.write("(DEBUG is off: static files need collectstatic or whitenoise.)")


def seed_acknowledged_conflict(unit_sn, gateway, quality_engineer):
    """An event sent twice with different readings (a CONFLICT), acknowledged by quality.

    Through the ingestion and acknowledgement services, as a gateway and a person would;
    nothing is sent again once the conflict exists.
    """
    business_key = business_key_for(DEMO_CONFLICT_EVENT_ID)
    conflicts = IntegrationMessage.objects.filter(
        business_key=business_key, status=IntegrationMessage.Status.CONFLICT
    )
    if not conflicts.exists():
        event = {
            "eventId": DEMO_CONFLICT_EVENT_ID,
            "eventTime": "2026-01-24T08:30:00Z",
            "source": "AUTO",
            "runNo": DEMO_RUN_NO,
            "unitSn": unit_sn,
            "stationCode": "REFLOW-01",
            "stepNo": 40,
            "data": [{"specName": "Peak Temperature", "valueNumber": 245}],
        }
        receive_device_event(event, sent_by=gateway)  # or a duplicate: it was written before
        # The refusal is what the demo needs: the conflict is kept as a message.
        with suppress(EventIdConflict):
            receive_device_event(
                {**event, "data": [{"specName": "Peak Temperature", "valueNumber": 251}]},
                sent_by=gateway,
            )
    acknowledge_messages(
        conflicts.filter(acknowledged_at__isnull=True), by=quality_engineer, note=DEMO_CONFLICT_NOTE
    )
