"""Quality staff's decisions on a spec's SPC (docs/quality.md "Decisions on a chart"):
choose its rules, freeze its limits to a baseline or let them float again, leave a value
out of the figures (or take it back), and acknowledge a rule signal. The back office
calls these; each keeps who and when (and its history, execution/spc_records.py)."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from execution.models import (
    DataSpec,
    DataValue,
    SpcExclusion,
    SpcSettings,
    SpcSignalAcknowledgement,
)
from execution.spc import ALL_RULES, CAPABILITY_MINIMUM, NelsonRule
from execution.spc_window import Window, analyse_window

NOTE_MAX_LENGTH = 2000


class SpcDecisionRefused(ValueError):
    """A decision the rules refuse, said for the person deciding."""


def _settings(spec: DataSpec) -> SpcSettings:
    settings, _created = SpcSettings.objects.select_for_update().get_or_create(spec=spec)
    return settings


def _note(note: str, *, required: bool) -> str:
    note = (note or "").strip()
    if required and not note:
        raise SpcDecisionRefused("Say why in the note.")
    if len(note) > NOTE_MAX_LENGTH:
        raise SpcDecisionRefused(f"A note has at most {NOTE_MAX_LENGTH} characters.")
    return note


def choose_rules(spec: DataSpec, rules, *, by) -> SpcSettings:
    """Test `rules` (Nelson's numbers, 1-8, at least one) on the spec's charts."""
    chosen = sorted({int(rule) for rule in rules})
    if not chosen or not set(chosen) <= set(ALL_RULES):
        raise SpcDecisionRefused("Choose one or more of Nelson's rules 1-8.")
    with transaction.atomic():
        settings = _settings(spec)
        settings.rules = chosen
        settings._history_user = by
        settings.save()
    return settings


def freeze_limits(spec: DataSpec, window: Window, *, by, note: str = "") -> SpcSettings:
    """Freeze the spec's limits to the centre and mean moving range of `window`'s values
    (values left out stay out): later windows are judged against them until unfrozen.
    A baseline needs CAPABILITY_MINIMUM values, and limits that are not themselves
    signalling a rule (an out-of-control baseline is refused)."""
    result = analyse_window(spec, window)
    limits, count = result.analysis.limits, len(result.values)
    if limits is None or count < CAPABILITY_MINIMUM:
        raise SpcDecisionRefused(
            f"A baseline needs at least {CAPABILITY_MINIMUM} values; this window has {count}."
        )
    if result.settings is not None and result.settings.is_frozen:
        raise SpcDecisionRefused("The limits are frozen already: unfreeze them first.")
    if result.analysis.violations:
        rules = sorted({violation.rule.value for violation in result.analysis.violations})
        raise SpcDecisionRefused(
            "This window is not in control (rules "
            f"{', '.join(map(str, rules))} fire): leave the special causes out first, or "
            "choose another window."
        )
    first, last = result.values[0].collected_at, result.values[-1].collected_at
    with transaction.atomic():
        settings = _settings(spec)
        settings.frozen_mean, settings.frozen_mr_mean = limits.mean, limits.mr_mean
        settings.frozen_count = count
        settings.baseline = f"{count} values, {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
        settings.frozen_at, settings.frozen_by = timezone.now(), by
        settings.note = _note(note, required=False)
        settings._history_user = by
        settings.save()
    return settings


def unfreeze_limits(spec: DataSpec, *, by, note: str) -> SpcSettings:
    """Let the limits be computed from each window again (trial limits); why is kept."""
    note = _note(note, required=True)
    with transaction.atomic():
        settings = _settings(spec)
        if not settings.is_frozen:
            raise SpcDecisionRefused("The limits are not frozen.")
        settings.frozen_mean = settings.frozen_mr_mean = settings.frozen_count = None
        settings.baseline, settings.frozen_at, settings.frozen_by = "", None, None
        settings.note = note
        settings._history_user = by
        settings.save()
    return settings


def exclude_value(value: DataValue, *, reason: str, by) -> SpcExclusion:
    """Leave `value` out of its spec's SPC figures (it stays on the chart, hollow)."""
    reason = _note(reason, required=True)
    exclusion = SpcExclusion(
        value=value,
        spec_id=value.spec_id,
        reason=reason,
        excluded_by=by,
        excluded_at=timezone.now(),
    )
    exclusion._history_user = by
    try:
        with transaction.atomic():
            exclusion.save()
    except IntegrityError:
        raise SpcDecisionRefused(f"Value {value.pk} is left out already.") from None
    return exclusion


def include_value(value: DataValue, *, by) -> None:
    """Take a left-out value back into the figures (its exclusion stays in the history)."""
    exclusion = SpcExclusion.objects.filter(value=value).first()
    if exclusion is None:
        raise SpcDecisionRefused(f"Value {value.pk} is not left out.")
    exclusion._history_user = by
    exclusion.delete()


def acknowledge_signal(spec: DataSpec, value: DataValue, rule: int, *, by, note: str):
    """Acknowledge that the value completing `rule`'s pattern has been looked at: the
    signal leaves "needs attention"; who, when and why are kept."""
    note = _note(note, required=True)
    if rule not in ALL_RULES or value.spec_id != spec.pk:
        raise SpcDecisionRefused("No such signal on this spec.")
    acknowledgement = SpcSignalAcknowledgement(
        spec=spec,
        value=value,
        rule=rule,
        note=note,
        acknowledged_by=by,
        acknowledged_at=timezone.now(),
    )
    acknowledgement._history_user = by
    try:
        with transaction.atomic():
            acknowledgement.save()
    except IntegrityError:
        raise SpcDecisionRefused(
            f"Rule {rule} ({NelsonRule(rule).description}) at this value is acknowledged already."
        ) from None
    return acknowledgement
