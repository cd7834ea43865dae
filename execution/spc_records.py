"""What quality staff decide about a spec's SPC (docs/quality.md "Decisions on a chart"):
the rules it tests, its limits frozen to a baseline, values left out of the figures with
a reason, and the rule signals they have looked at. Each keeps who and when, and its
history (django-simple-history). Imported by execution/models.py, so they are models of
`execution`; the rules that write them are in execution/spc_control.py."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class SpcSettings(models.Model):
    """One spec's SPC choices: the Nelson rules it tests, and its frozen limits when
    they are frozen (else limits are computed from each window, as trial limits)."""

    spec = models.OneToOneField(
        "execution.DataSpec", on_delete=models.CASCADE, related_name="spc_settings"
    )
    # Nelson's rule numbers, 1-8.
    rules = models.JSONField(default=list)
    # The baseline: individuals centre and mean moving range, from the values of a
    # window chosen when freezing (described in `baseline`), or none.
    frozen_mean = models.FloatField(null=True, blank=True)
    frozen_mr_mean = models.FloatField(null=True, blank=True)
    frozen_count = models.PositiveIntegerField(null=True, blank=True)
    baseline = models.CharField(max_length=200, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "SPC settings"
        verbose_name_plural = "SPC settings"

    def __str__(self):
        return f"SPC settings of {self.spec}"

    @property
    def is_frozen(self) -> bool:
        return self.frozen_mean is not None and self.frozen_mr_mean is not None


class SpcExclusion(models.Model):
    """A value left out of its spec's SPC figures, with the reason; kept and shown."""

    value = models.OneToOneField(
        "execution.DataValue", on_delete=models.PROTECT, related_name="spc_exclusion"
    )
    spec = models.ForeignKey("execution.DataSpec", on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    excluded_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        indexes = [models.Index(fields=["spec"], name="spcexclusion_spec")]

    def __str__(self):
        return f"Value {self.value_id} left out of SPC"


class SpcSignalAcknowledgement(models.Model):
    """A rule signal (the value completing a rule's pattern) that someone has looked at:
    it leaves "needs attention", and who, when and why are kept."""

    spec = models.ForeignKey("execution.DataSpec", on_delete=models.PROTECT, related_name="+")
    value = models.ForeignKey("execution.DataValue", on_delete=models.PROTECT, related_name="+")
    rule = models.PositiveSmallIntegerField()
    note = models.TextField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["value", "rule"], name="spcsignal_one_per_rule")
        ]
        indexes = [models.Index(fields=["spec"], name="spcsignal_spec")]

    def __str__(self):
        return f"Rule {self.rule} at value {self.value_id}, acknowledged"
