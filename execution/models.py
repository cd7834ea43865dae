"""Production execution and data collection: where a unit is and what was measured on it.

Names are the contract of docs/ingestion.md (what is stored): the API, the admin and
outside tests use them. One module past 500 lines on purpose: the app's models are one
schema (master data, passes, values, holds), each class short, and Django's migrations
and admin name them from here; most of the length is the indexes' comments on why.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from execution.judging import validate_limits


class Source(models.TextChoices):
    """Who or what produced a pass or a value."""

    MANUAL = "MANUAL", "Manual"
    AUTO = "AUTO", "Automatic"
    BATCH = "BATCH", "Batch"
    TEST = "TEST", "Test"


class PassResult(models.TextChoices):
    PASS = "PASS", "Pass"
    FAIL = "FAIL", "Fail"


class Station(models.Model):
    class StationType(models.TextChoices):
        MANUAL = "MANUAL", "Manual"
        AUTO = "AUTO", "Automatic"
        BATCH = "BATCH", "Batch"
        TEST = "TEST", "Test"

    code = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    station_type = models.CharField(max_length=10, choices=StationType.choices)
    line_code = models.CharField(max_length=100, blank=True, db_index=True)
    # The IPC-CFX handle of the machine at this station (its envelopes' Source),
    # e.g. "SMTPlus.Model_21232.SN23123" (docs/cfx.md); null when it sends no CFX.
    cfx_handle = models.CharField(
        "CFX handle",
        max_length=255,
        null=True,
        blank=True,
        unique=True,
        help_text="The Source of this station's IPC-CFX messages (docs/cfx.md); "
        "empty if its machine sends none.",
    )
    # Off: people (or a gateway) track units in and out over REST, and CFX WorkStarted and
    # WorkCompleted are ignored. On: the machine's own messages track them (docs/execution.md).
    tracked_by_machine = models.BooleanField(
        "tracked by its machine",
        default=False,
        db_default=False,
        help_text="Its IPC-CFX WorkStarted and WorkCompleted track units in and out "
        "(docs/execution.md).",
    )

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return self.code

    def save(self, *args, **kwargs):
        self.clean()
        super().save(*args, **kwargs)

    def clean(self):
        # No handle is null, not "": the unique constraint holds between set handles only.
        self.cfx_handle = (self.cfx_handle or "").strip() or None


class Operation(models.Model):
    code = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} — {self.name}"


class DataSpec(models.Model):
    """A data-collection specification: what may be measured at an operation, and its limits."""

    class ItemType(models.TextChoices):
        KEY = "KEY", "Key characteristic"
        OBSERVATION = "OBSERVATION", "Observation"

    class DataType(models.TextChoices):
        NUMBER = "NUMBER", "Number"
        TEXT = "TEXT", "Text"
        BOOLEAN = "BOOLEAN", "Boolean"
        JSON = "JSON", "JSON"

    class Method(models.TextChoices):
        AUTO = "AUTO", "Automatic"
        MANUAL = "MANUAL", "Manual"

    class TriggerType(models.TextChoices):
        EVENT = "EVENT", "Event"
        TIME = "TIME", "Time"
        EACH_UNIT = "EACH_UNIT", "Each unit"
        EACH_CARRIER = "EACH_CARRIER", "Each carrier"

    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="data_specs")
    name = models.CharField(max_length=200)
    item_type = models.CharField(
        max_length=12, choices=ItemType.choices, default=ItemType.OBSERVATION
    )
    data_type = models.CharField(max_length=8, choices=DataType.choices)
    method = models.CharField(max_length=6, choices=Method.choices, default=Method.AUTO)
    trigger_type = models.CharField(
        max_length=12, choices=TriggerType.choices, default=TriggerType.EACH_UNIT
    )
    trigger_rule = models.JSONField(null=True, blank=True)
    spec = models.JSONField(null=True, blank=True, help_text="Limits, see docs/ingestion.md.")
    alarm = models.JSONField(null=True, blank=True, help_text="Alarm limits and action.")
    is_required = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "data-collection spec"
        ordering = ["operation__code", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "name"], name="dataspec_unique_name_per_operation"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.operation.code})"

    def save(self, *args, **kwargs):
        # Limits are checked on every save, not only through forms, so a typo
        # such as "Max" can never be judged NA silently (docs/ingestion.md: limits and judging).
        validate_limits(self.data_type, self.spec, self.alarm)
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        validate_limits(self.data_type, self.spec, self.alarm)

    @property
    def limits(self) -> dict:
        """The limits as stored with each judged value."""
        return {"spec": self.spec, "alarm": self.alarm}


class RouteVersion(models.Model):
    code = models.CharField(max_length=100)
    version_no = models.PositiveIntegerField()

    class Meta:
        ordering = ["code", "version_no"]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "version_no"], name="routeversion_unique_code_version"
            )
        ]

    def __str__(self):
        return f"{self.code} v{self.version_no}"


class RouteStep(models.Model):
    route_version = models.ForeignKey(RouteVersion, on_delete=models.CASCADE, related_name="steps")
    step_no = models.PositiveIntegerField()
    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="route_steps")
    data_specs = models.ManyToManyField(DataSpec, blank=True, related_name="route_steps")
    # Where a unit may be tracked in for this step (docs/execution.md): a station of this
    # type (blank: any type), and one of these stations when any are named.
    station_type = models.CharField(
        max_length=10,
        choices=Station.StationType.choices,
        blank=True,
        default="",
        db_default="",
        help_text="Blank: a station of any type.",
    )
    allowed_stations = models.ManyToManyField(
        Station,
        blank=True,
        related_name="route_steps",
        help_text="Empty: any station of the type.",
    )

    class Meta:
        ordering = ["route_version", "step_no"]
        constraints = [
            models.UniqueConstraint(
                fields=["route_version", "step_no"], name="routestep_unique_step_per_route"
            )
        ]

    def __str__(self):
        return f"{self.route_version} step {self.step_no}"

    def clean(self):
        super().clean()
        if self.step_no is not None and self.step_no < 1:
            raise ValidationError({"step_no": "Step numbers start at 1."})


class Run(models.Model):
    class Status(models.TextChoices):
        PREP = "PREP", "Preparation"
        AUTHORIZED = "AUTHORIZED", "Authorized"
        IN_PROGRESS = "IN_PROGRESS", "In progress"
        ON_HOLD = "ON_HOLD", "On hold"
        COMPLETED = "COMPLETED", "Completed"
        CLOSED_REWORK = "CLOSED_REWORK", "Closed for rework"
        SCRAPPED = "SCRAPPED", "Scrapped"

    run_no = models.CharField(max_length=100, unique=True)
    route_version = models.ForeignKey(
        RouteVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    status = models.CharField(max_length=13, choices=Status.choices, default=Status.PREP)
    wo_no = models.CharField(
        "work order number", max_length=100, blank=True, default="", db_default=""
    )
    line_code = models.CharField(
        max_length=100,
        blank=True,
        default="",
        db_default="",
        help_text="Blank: its units may be tracked in on any line.",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("authorize_run", "Can authorize a run (PREP to AUTHORIZED)")]

    def __str__(self):
        return self.run_no


class Unit(models.Model):
    class Status(models.TextChoices):
        QUEUED = "QUEUED", "Queued"
        IN_STATION = "IN_STATION", "In station"
        OUT_FAILED = "OUT_FAILED", "Out, failed"
        DONE = "DONE", "Done"
        ON_HOLD = "ON_HOLD", "On hold"
        REWORK = "REWORK", "In rework"
        SCRAPPED = "SCRAPPED", "Scrapped"

    sn = models.CharField("serial number", max_length=100, unique=True)
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.PROTECT, related_name="units"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # The route step it is at or waits for; null until its first track-in. An IntegerField:
    # a PositiveIntegerField's CHECK would be verified against every unit under the
    # table's lock when the column is added (docs/operations.md: migrations).
    current_step_no = models.IntegerField(null=True, blank=True, validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["sn"]
        indexes = [
            # The dashboard's failed units waiting for a disposition: few, so the index
            # holds only them.
            models.Index(fields=["id"], condition=Q(status="OUT_FAILED"), name="unit_out_failed"),
            # Whether a run has units left, at each unit's last track-out under the run's
            # lock (run_completion.py): the unfinished units only, so a run of 20,000 units
            # is asked in 0.03 ms instead of 2-4 ms that grew with the run.
            models.Index(
                fields=["run"],
                condition=~Q(status__in=["DONE", "SCRAPPED"]),
                name="unit_unfinished_by_run",
            ),
        ]

    def __str__(self):
        return self.sn


class Track(models.Model):
    """One pass of a unit through a route step at a station."""

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="tracks")
    step_no = models.PositiveIntegerField()
    station = models.ForeignKey(
        Station, null=True, blank=True, on_delete=models.PROTECT, related_name="tracks"
    )
    source = models.CharField(max_length=6, choices=Source.choices, default=Source.AUTO)
    in_at = models.DateTimeField()
    out_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=4, choices=PassResult.choices, null=True, blank=True)
    operator_id = models.CharField(max_length=100, blank=True)
    # Said by a track-out with FAIL (docs/execution.md).
    defect_code = models.CharField(max_length=100, blank=True, default="", db_default="")
    defect_location = models.CharField(max_length=200, blank=True, default="", db_default="")
    # A PASS turned into FAIL by a KEY value already judged FAIL on the pass.
    inspection_override = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["-in_at"]
        permissions = [("track_units", "Can track units in and out at stations")]
        constraints = [
            # At most one open pass per unit: two stations tracking one unit in at once
            # give one track (docs/execution.md).
            models.UniqueConstraint(
                fields=["unit"], condition=Q(out_at__isnull=True), name="track_one_open_per_unit"
            )
        ]
        indexes = [
            # resolve_track: the unit's latest pass at a station and step.
            models.Index(
                fields=["unit", "station", "step_no", "-in_at"], name="track_unit_station_step"
            ),
            # A station's queue: the units in station there.
            models.Index(
                fields=["station", "in_at"],
                condition=Q(out_at__isnull=True),
                name="track_open_at_station",
            ),
        ]

    def __str__(self):
        return f"{self.unit.sn} step {self.step_no} @ {self.station or '—'}"


class ReasonCode(models.Model):
    """Why a hold was closed or a failed unit disposed of, from a list the plant keeps
    (docs/holds.md "Reason codes"): once the list has an active code, each disposition
    names one. A code in use is retired (`is_active`), never deleted."""

    code = models.CharField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} — {self.name}"


class FailureDisposition(models.Model):
    """What a person decided for a unit that failed a step (OUT_FAILED): rework at a
    chosen step of its route, or scrap; kept with who, when and why, like a hold's
    disposition (docs/execution.md)."""

    class Disposition(models.TextChoices):
        REWORK = "REWORK", "Rework"
        SCRAP = "SCRAP", "Scrap"

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="failure_dispositions")
    # The failed pass it answers.
    track = models.ForeignKey(Track, on_delete=models.PROTECT, related_name="dispositions")
    disposition = models.CharField(max_length=6, choices=Disposition.choices)
    rework_step_no = models.PositiveIntegerField(null=True, blank=True)
    note = models.TextField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="failure_dispositions",
    )
    decided_at = models.DateTimeField()
    reason = models.ForeignKey(
        ReasonCode, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who changed what, when (docs/holds.md "History"): django-simple-history.
    history = HistoricalRecords()

    class Meta:
        ordering = ["-decided_at", "-id"]
        permissions = [("dispose_failed_unit", "Can rework or scrap a failed unit")]
        constraints = [
            models.UniqueConstraint(fields=["track"], name="failuredisposition_one_per_track"),
            models.CheckConstraint(
                condition=(Q(disposition="REWORK") & Q(rework_step_no__isnull=False))
                | (Q(disposition="SCRAP") & Q(rework_step_no__isnull=True)),
                name="failuredisposition_rework_names_step",
            ),
        ]

    def __str__(self):
        return f"{self.get_disposition_display()} of {self.unit}"


class Carrier(models.Model):
    carrier_no = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["carrier_no"]

    def __str__(self):
        return self.carrier_no


class CarrierTrack(models.Model):
    """One pass of a carrier (panel, tray, boat) through a step at a station."""

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="tracks")
    step_no = models.PositiveIntegerField()
    station = models.ForeignKey(
        Station, null=True, blank=True, on_delete=models.PROTECT, related_name="carrier_tracks"
    )
    source = models.CharField(max_length=6, choices=Source.choices, default=Source.AUTO)
    in_at = models.DateTimeField()
    out_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=4, choices=PassResult.choices, null=True, blank=True)

    class Meta:
        ordering = ["-in_at"]

    def __str__(self):
        return f"{self.carrier.carrier_no} step {self.step_no} @ {self.station or '—'}"


def stored_place(model) -> models.ForeignKey:
    """A value's copy of where it was measured. No database constraint: adding one to the
    values table would check every row under a lock; the pass's own foreign key holds it,
    and PROTECT still guards the station's or run's deletion."""
    return models.ForeignKey(
        model,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="data_values",
        db_index=False,
        db_constraint=False,
    )


class DataValue(models.Model):
    """One collected value, judged against its spec's limits as they were at that moment."""

    class Judge(models.TextChoices):
        PASS = "PASS", "Pass"
        FAIL = "FAIL", "Fail"
        NA = "NA", "Not judged"

    # Indexed by datavalue_spec (spec first); a value's own index would repeat it.
    spec = models.ForeignKey(
        DataSpec, on_delete=models.PROTECT, related_name="values", db_index=False
    )
    track = models.ForeignKey(
        Track, null=True, blank=True, on_delete=models.PROTECT, related_name="data_values"
    )
    # Most values have none: a partial index (datavalue_carrier_track) skips the NULLs.
    carrier_track = models.ForeignKey(
        CarrierTrack,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="data_values",
        db_index=False,
    )
    # Where it was measured, as its track or carrier track says, stored with the value so
    # the values of a station or a run are read from an index (docs/growth.md). None for
    # a carrier's run.
    station = stored_place(Station)
    run = stored_place(Run)
    collected_at = models.DateTimeField()
    value_number = models.FloatField(null=True, blank=True)
    value_text = models.TextField(null=True, blank=True)
    value_boolean = models.BooleanField(null=True, blank=True)
    value_json = models.JSONField(null=True, blank=True)
    limits = models.JSONField(default=dict, blank=True)
    # The sender's own limits of the reading ({"min", "max", "expected", "unit"}, as an
    # IPC-CFX NumericValue carries them): shown beside ours, never judged by.
    sender_limits = models.JSONField(null=True, blank=True)
    judge = models.CharField(max_length=4, choices=Judge.choices)
    alarmed = models.BooleanField(default=False)
    source = models.CharField(max_length=6, choices=Source.choices)
    # Matched exactly (datavalue_source_ref), never by pattern: no `_like` twin.
    source_ref = models.CharField(max_length=255)
    meta = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-collected_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(track__isnull=False) & Q(carrier_track__isnull=True))
                | (Q(track__isnull=True) & Q(carrier_track__isnull=False)),
                name="datavalue_exactly_one_track",
            )
        ]
        # Each list, filter and chart of the back office reads one of these; FAIL, NA and
        # alarmed values are few, so their indexes hold only them. Ascending: values
        # arrive in time order, so each index grows at its right edge and its pages stay
        # full (a descending index splits its left page in half on every insert);
        # newest-first lists read them backwards (docs/growth.md).
        indexes = [
            models.Index(fields=["collected_at", "id"], name="datavalue_collected"),
            models.Index(fields=["spec", "collected_at"], name="datavalue_spec"),
            models.Index(fields=["station", "collected_at"], name="datavalue_station"),
            models.Index(fields=["run", "collected_at"], name="datavalue_run"),
            models.Index(
                fields=["judge", "collected_at", "id"],
                condition=~Q(judge="PASS"),
                name="datavalue_not_passed",
            ),
            models.Index(
                fields=["collected_at", "id"],
                condition=Q(alarmed=True),
                name="datavalue_alarmed",
            ),
            models.Index(
                fields=["collected_at", "id"],
                condition=~Q(source="AUTO"),
                name="datavalue_not_automatic",
            ),
            # The dashboard's FAIL and alarmed values by receipt time (docs/back-office.md).
            models.Index(
                fields=["created_at"],
                condition=Q(judge="FAIL"),
                name="datavalue_failed_received",
            ),
            models.Index(
                fields=["created_at"],
                condition=Q(alarmed=True),
                name="datavalue_alarmed_received",
            ),
            models.Index(fields=["source_ref"], name="datavalue_source_ref"),
            models.Index(
                fields=["carrier_track"],
                condition=Q(carrier_track__isnull=False),
                name="datavalue_carrier_track",
            ),
        ]

    def __str__(self):
        return f"{self.spec.name} = {self.value}"

    @property
    def value(self):
        """The value in the column of its spec's data type."""
        for column in ("value_number", "value_text", "value_boolean", "value_json"):
            current = getattr(self, column)
            if current is not None:
                return current
        return None


class Hold(models.Model):
    """A unit held because a value judged against a spec with the HOLD alarm action was
    alarmed (docs/holds.md). Opened by ingestion in the transaction that writes
    the value; later alarmed values of the unit add to the open hold; closed by a person
    with a disposition."""

    class Disposition(models.TextChoices):
        RELEASE = "RELEASE", "Release"
        REWORK = "REWORK", "Rework"
        SCRAP = "SCRAP", "Scrap"

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="holds")
    # What opened it: the first alarmed value, its spec, the limits it was judged against
    # and its event.
    spec = models.ForeignKey(DataSpec, on_delete=models.PROTECT, related_name="holds")
    first_value = models.ForeignKey(
        DataValue, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    limits = models.JSONField(default=dict, blank=True)
    event_id = models.CharField(max_length=255)
    opened_at = models.DateTimeField()
    # Restored by a release (docs/holds.md).
    unit_status_before = models.CharField(max_length=10, choices=Unit.Status.choices)
    values = models.ManyToManyField(DataValue, through="HoldValue", related_name="holds")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="closed_holds",
    )
    disposition = models.CharField(max_length=7, choices=Disposition.choices, blank=True)
    note = models.TextField(blank=True)
    reason = models.ForeignKey(
        ReasonCode, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who changed what, when (docs/holds.md "History"): django-simple-history. The values
    # behind a hold are evidence of their own and not copied.
    history = HistoricalRecords(excluded_fields=["limits"])

    class Meta:
        ordering = ["-opened_at", "-id"]
        permissions = [("release_hold", "Can close a hold with a disposition")]
        constraints = [
            models.UniqueConstraint(
                fields=["unit"], condition=Q(closed_at__isnull=True), name="hold_one_open_per_unit"
            ),
            models.CheckConstraint(
                condition=(Q(closed_at__isnull=True) & Q(disposition=""))
                | (Q(closed_at__isnull=False) & ~Q(disposition="")),
                name="hold_closed_with_disposition",
            ),
        ]
        indexes = [
            models.Index(fields=["opened_at", "id"], name="hold_opened"),
            models.Index(
                fields=["opened_at", "id"], condition=Q(closed_at__isnull=True), name="hold_open"
            ),
            models.Index(fields=["spec", "opened_at"], name="hold_spec"),
        ]

    def __str__(self):
        return f"Hold {self.pk} of {self.unit}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class HoldValue(models.Model):
    """One alarmed value behind a hold, and the event that carried it."""

    hold = models.ForeignKey(Hold, on_delete=models.CASCADE, related_name="hold_values")
    # No database constraint: creating one locks the values table against every insert
    # while the migration runs (docs/operations.md); PROTECT still guards deletion.
    value = models.ForeignKey(
        DataValue, on_delete=models.PROTECT, related_name="hold_values", db_constraint=False
    )
    event_id = models.CharField(max_length=255)
    added_at = models.DateTimeField()

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["hold", "value"], name="holdvalue_unique_value")
        ]

    def __str__(self):
        return f"{self.hold} ← value {self.value_id}"


# SPC decisions on a spec (docs/quality.md): models of their own module, registered here.
from execution.spc_records import (  # noqa: E402, F401
    SpcExclusion,
    SpcSettings,
    SpcSignalAcknowledgement,
)
