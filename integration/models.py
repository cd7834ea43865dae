"""The boundary to machines and other systems: accepted device events, the log of
every inbound attempt, and the keys gateways authenticate with."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import UserManager
from django.db import models

from execution.models import CarrierTrack, Operation, Station, Track
from integration.ingestion.event_hash import CURRENT_VERSION as CURRENT_HASH_VERSION
from integration.ingestion.stored_payload import payload_as_received


class DeviceDataRecord(models.Model):
    """One accepted device event, written exactly once per eventId."""

    class Source(models.TextChoices):
        AUTO = "AUTO", "Automatic"
        MANUAL = "MANUAL", "Manual"

    event_id = models.CharField(max_length=200, unique=True)
    event_time = models.DateTimeField()
    source = models.CharField(max_length=6, choices=Source.choices)
    run_no = models.CharField(max_length=100, blank=True)
    unit_sn = models.CharField("unit serial number", max_length=100, blank=True)
    station_code = models.CharField(max_length=100, blank=True)
    step_no = models.PositiveIntegerField(null=True, blank=True)
    track = models.ForeignKey(
        Track, null=True, blank=True, on_delete=models.PROTECT, related_name="device_data_records"
    )
    # Most records have none: a partial index (record_carrier_track) skips the NULLs.
    carrier_track = models.ForeignKey(
        CarrierTrack,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="device_data_records",
        db_index=False,
    )
    operation = models.ForeignKey(
        Operation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="device_data_records",
    )
    equipment_id = models.CharField(max_length=100, blank=True)
    operator_id = models.CharField(max_length=100, blank=True)
    data = models.JSONField()
    meta = models.JSONField(null=True, blank=True)
    payload_hash = models.CharField(max_length=64)
    # The rules the hash was made with (integration/ingestion/event_hash.py). The database's
    # default is 1: rows written by code from before the column are version 1.
    payload_hash_version = models.SmallIntegerField(default=CURRENT_HASH_VERSION, db_default=1)
    data_values_created = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    last_duplicate_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="device_data_records",
    )

    class Meta:
        verbose_name = "device-data record"
        ordering = ["-event_time", "-received_at"]
        # The unique event_id has no `_like` twin: eventIds are matched exactly (migration
        # 0006). Ascending, read backwards for newest first: events arrive in time order,
        # so the indexes grow at their right edge with full pages (see DataValue).
        indexes = [
            # The lists' order, with the primary key admin and API add for a stable order.
            models.Index(fields=["event_time", "received_at", "id"], name="record_event_order"),
            models.Index(fields=["run_no", "event_time"], name="record_run"),
            models.Index(fields=["unit_sn", "event_time"], name="record_unit"),
            models.Index(fields=["station_code", "event_time"], name="record_station"),
            models.Index(fields=["step_no", "event_time"], name="record_step"),
            models.Index(
                fields=["event_time", "received_at", "id"],
                condition=~models.Q(source="AUTO"),
                name="record_not_automatic",
            ),
            models.Index(
                fields=["event_time", "received_at", "id"],
                condition=models.Q(duplicate_count__gt=0),
                name="record_duplicated",
            ),
            models.Index(
                fields=["carrier_track"],
                condition=models.Q(carrier_track__isnull=False),
                name="record_carrier_track",
            ),
        ]

    def __str__(self):
        return self.event_id

    @property
    def business_key(self) -> str:
        return business_key_for(self.event_id)


def business_key_for(event_id: str) -> str:
    """The key that ties every attempt at one device event together."""
    return f"device-data:{event_id}"


class IntegrationMessage(models.Model):
    """The log of every well-formed inbound attempt, kept as evidence."""

    class Direction(models.TextChoices):
        IN = "IN", "Inbound"
        OUT = "OUT", "Outbound"

    class System(models.TextChoices):
        DEVICE = "DEVICE", "Device gateway"
        STATION = "STATION", "Station"
        # Master data (docs/master-data.md): engineering's routes and specs, the ERP's runs.
        PLM = "PLM", "PLM / engineering"
        ERP = "ERP", "ERP"

    class EntityType(models.TextChoices):
        DEVICE_DATA = "DEVICE_DATA", "Device data"
        TRACK_IN = "TRACK_IN", "Track in"
        TRACK_OUT = "TRACK_OUT", "Track out"
        STATION = "STATION", "Station"
        OPERATION = "OPERATION", "Operation and its specs"
        ROUTE = "ROUTE", "Route version"
        RUN = "RUN", "Run and its serials"

    class Status(models.TextChoices):
        SUCCESS = "SUCCESS", "Success"
        DUPLICATE = "DUPLICATE", "Duplicate"
        CONFLICT = "CONFLICT", "Conflict"
        FAILED = "FAILED", "Failed"

    direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.IN)
    system = models.CharField(max_length=20, choices=System.choices, default=System.DEVICE)
    entity_type = models.CharField(
        max_length=20, choices=EntityType.choices, default=EntityType.DEVICE_DATA
    )
    business_key = models.CharField(max_length=255)
    dedupe_key = models.CharField(max_length=255)
    status = models.CharField(max_length=9, choices=Status.choices)
    payload = models.JSONField()
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    record = models.ForeignKey(
        DeviceDataRecord,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        db_index=False,
    )
    # Few messages are replays: a partial index (message_replay_of) skips the NULLs.
    replay_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replays",
        db_index=False,
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="integration_messages",
    )
    # A CONFLICT, or a FAILED message that will not be replayed, taken off what needs
    # attention by a person, with why (integration/acknowledgements.py). Few messages are
    # acknowledged: a partial index (message_acknowledged_by) skips the NULLs.
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="acknowledged_messages",
        db_index=False,
    )
    # The database default serves code from before the column, during a rolling deploy.
    acknowledgement_note = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The payload's fields that are its record's, as bits (integration/ingestion/stored_payload.py):
    # stored once, on the record, and put back by `full_payload`. The database's
    # default 0 is right for rows written by code from before the column.
    record_fields = models.SmallIntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("replay_integrationmessage", "Can replay failed integration messages"),
            ("acknowledge_message", "Can acknowledge a conflict or failure"),
        ]
        # SUCCESS is nearly every message: the status and error indexes leave it out, and
        # the FAILED index holds only the attempts still waiting for their event. The
        # record's messages are found by business key: no index on `record` (records are
        # never deleted, so nothing checks it). Ascending, as DeviceDataRecord's.
        indexes = [
            models.Index(fields=["created_at", "id"], name="message_created"),
            models.Index(
                fields=["status", "created_at", "id"],
                condition=~models.Q(status="SUCCESS"),
                name="message_not_success",
            ),
            models.Index(
                fields=["dedupe_key"],
                condition=models.Q(status="FAILED", resolved_at__isnull=True),
                name="message_unresolved",
            ),
            models.Index(fields=["business_key"], name="message_business_key"),
            models.Index(
                fields=["error_code", "created_at"],
                condition=~models.Q(error_code=""),
                name="message_error",
            ),
            models.Index(
                fields=["replay_of"],
                condition=models.Q(replay_of__isnull=False),
                name="message_replay_of",
            ),
            # What needs attention, in the lists' order: small, so the dashboard's
            # figures and the lists behind them stay exact and quick at any size.
            models.Index(
                fields=["created_at", "id"],
                condition=models.Q(
                    status="FAILED", resolved_at__isnull=True, acknowledged_at__isnull=True
                ),
                name="message_failed_attention",
            ),
            models.Index(
                fields=["created_at", "id"],
                condition=models.Q(status="CONFLICT", acknowledged_at__isnull=True),
                name="message_conflict_attention",
            ),
            models.Index(
                fields=["created_at", "id"],
                condition=models.Q(acknowledged_at__isnull=False),
                name="message_acknowledged",
            ),
            models.Index(
                fields=["acknowledged_by"],
                condition=models.Q(acknowledged_by__isnull=False),
                name="message_acknowledged_by",
            ),
        ]

    def __str__(self):
        return f"{self.status} {self.business_key}"

    @property
    def full_payload(self):
        """The payload as received, with the fields stored only on the record put back."""
        if not self.record_fields:
            return self.payload
        return payload_as_received(self.payload, self.record_fields, self.record)


class TrackingRecord(models.Model):
    """One accepted track-in or track-out that carried an eventId (or Idempotency-Key),
    written once per kind and id, with its first answer: a re-send gets that answer
    again (docs/execution.md: exactly once)."""

    class Kind(models.TextChoices):
        TRACK_IN = "TRACK_IN", "Track in"
        TRACK_OUT = "TRACK_OUT", "Track out"

    kind = models.CharField(max_length=9, choices=Kind.choices)
    event_id = models.CharField(max_length=200)
    payload_hash = models.CharField(max_length=64)
    # The answer's `data` as it was first given (the API's camelCase).
    answer = models.JSONField()
    track = models.ForeignKey(
        Track, on_delete=models.PROTECT, related_name="tracking_records", db_index=False
    )
    unit_sn = models.CharField("unit serial number", max_length=100)
    station_code = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tracking_records",
        db_index=False,
    )
    duplicate_count = models.PositiveIntegerField(default=0)
    last_duplicate_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "track-in/out record"
        ordering = ["-received_at", "-id"]
        constraints = [
            # The arbiter of exactly once: a concurrent call with the same id loses here.
            models.UniqueConstraint(fields=["kind", "event_id"], name="trackingrecord_unique_id")
        ]
        indexes = [models.Index(fields=["track"], name="trackingrecord_track")]

    def __str__(self):
        return self.business_key

    @property
    def business_key(self) -> str:
        return tracking_key_for(self.kind, self.event_id)


def tracking_key_for(kind: str, event_id: str) -> str:
    """The key that ties every attempt at one track-in or track-out together."""
    prefix = "track-in" if kind == TrackingRecord.Kind.TRACK_IN else "track-out"
    return f"{prefix}:{event_id}"


class GatewayKey(models.Model):
    """A gateway's API key, stored as a SHA-256 digest behind a non-secret lookup prefix.

    Keys are long random secrets, so a fast digest protects them fully; a
    password hasher would cost a large fraction of a second on every request
    (docs/operations.md: permissions).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gateway_key"
    )
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "gateway key"

    def __str__(self):
        return f"{self.user.username} ({self.prefix}…)"


# The group of every gateway account (integration/gateways/keys.py puts them in it).
GATEWAYS_GROUP = "Gateways"


class GatewayManager(UserManager):
    """Only gateway service accounts: users in the `Gateways` group, never staff or superusers.

    A UserManager, as the user model's own checks expect (`normalize_email`).
    """

    use_in_migrations = False

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .filter(groups__name=GATEWAYS_GROUP, is_staff=False, is_superuser=False)
        )


class Gateway(get_user_model()):
    """A gateway service account, as integration admins manage it in the back office.

    A proxy of the user model whose manager sees only gateways, so the admin
    built on it cannot reach other users or staff/superuser flags (docs/operations.md: permissions).
    """

    objects = GatewayManager()

    class Meta:
        proxy = True
        verbose_name = "gateway"
        ordering = ["username"]


class CfxReadingName(models.Model):
    """An IPC-CFX reading name mapped to the spec name it is written as (docs/cfx.md).

    For one station (the machine's own names) or, with no station, for every station.
    A reading without a mapping is written under its own name.
    """

    station = models.ForeignKey(
        Station,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="cfx_reading_names",
        help_text="Empty: for every station without a mapping of its own for this name.",
    )
    reading_name = models.CharField(
        max_length=200, help_text="As the machine sends it, e.g. Zone3.Top.Temperature."
    )
    spec_name = models.CharField(
        max_length=200, help_text="The DataSpec name the reading is written as."
    )

    class Meta:
        verbose_name = "CFX reading name"
        ordering = ["station__code", "reading_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "reading_name"], name="cfx_reading_name_per_station"
            ),
            models.UniqueConstraint(
                fields=["reading_name"],
                condition=models.Q(station__isnull=True),
                name="cfx_reading_name_everywhere",
            ),
        ]

    def __str__(self):
        where = self.station.code if self.station_id else "every station"
        return f"{self.reading_name} → {self.spec_name} ({where})"
