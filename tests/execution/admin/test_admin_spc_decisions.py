"""SPC decisions in the back office (docs/quality.md): the overview's "needs attention"
fed by real ingestion, acknowledging a signal (kept in its history), rules chosen per
spec, limits frozen to a baseline and unfrozen, values left out and counted again."""

import itertools

import pytest
from django.urls import reverse

from execution.models import DataValue, SpcExclusion, SpcSettings, SpcSignalAcknowledgement
from integration.ingestion.service import receive_device_event
from tests.conftest import make_event

pytestmark = pytest.mark.django_db

OVERVIEW = "admin:execution_dataspec_spc"
# In control around 245 with a little noise (moving ranges of 0.2-0.6).
STEADY = [245.0, 245.4, 244.8, 245.2, 244.9, 245.3, 245.1, 244.7, 245.0, 245.5]


def send(gateway, numbers, start=0):
    """Each number as a Conveyor Speed reading of its own event, a minute apart; the
    values, oldest first."""
    values = []
    for index, number in enumerate(numbers, start=start):
        event = make_event(
            eventId=f"evt-spc-{index}",
            eventTime=f"2026-01-24T{10 + index // 60:02d}:{index % 60:02d}:00Z",
            data=[{"specName": "Conveyor Speed", "valueNumber": number}],
        )
        receive_device_event(event, sent_by=gateway)
        values.append(DataValue.objects.get(source_ref__endswith=f"evt-spc-{index}"))
    return values


def steady(count):
    """`count` steady readings around 80 (inside the spec 70-90)."""
    return [80 + (number - 245) for number in itertools.islice(itertools.cycle(STEADY), count)]


def overview(client):
    response = client.get(reverse(OVERVIEW))
    assert response.status_code == 200
    return response


@pytest.fixture
def conveyor(line):
    return line.conveyor


def test_a_value_beyond_3_sigma_needs_attention_on_the_next_page_load(quality, line, gateway):
    send(gateway, steady(30))
    assert overview(quality).context["signals"] == []

    [outlier] = send(gateway, [88.0], start=30)

    signals = overview(quality).context["signals"]
    assert [(signal.value.pk, signal.rule.value) for signal, _url in signals] == [(outlier.pk, 1)]
    assert "Conveyor Speed" in overview(quality).content.decode()


def test_acknowledging_a_signal_takes_it_off_and_keeps_who_when_and_why(quality, line, gateway):
    send(gateway, steady(30))
    [outlier] = send(gateway, [88.0], start=30)

    response = quality.post(
        reverse("admin:execution_dataspec_spc_acknowledge"),
        {"value": outlier.pk, "rule": 1, "note": "Probe knocked, re-measured"},
    )

    assert response.status_code == 302
    assert overview(quality).context["signals"] == []
    acknowledgement = SpcSignalAcknowledgement.objects.get()
    assert acknowledgement.acknowledged_by.username == "quality-staff"
    [record] = acknowledgement.history.all()
    assert record.history_user.username == "quality-staff"
    assert record.note == "Probe knocked, re-measured"
    history = quality.get(
        reverse("admin:execution_spcsignalacknowledgement_history", args=[acknowledgement.pk])
    )
    assert history.status_code == 200 and "quality-staff" in history.content.decode()


def test_an_acknowledgement_without_a_note_is_refused(quality, line, gateway):
    send(gateway, steady(30))
    [outlier] = send(gateway, [88.0], start=30)

    quality.post(
        reverse("admin:execution_dataspec_spc_acknowledge"),
        {"value": outlier.pk, "rule": 1, "note": "  "},
    )

    assert not SpcSignalAcknowledgement.objects.exists()
    assert len(overview(quality).context["signals"]) == 1


def test_a_rule_the_spec_does_not_test_raises_nothing(quality, line, gateway, conveyor):
    send(gateway, steady(30))
    send(gateway, [88.0], start=30)

    decided = quality.post(
        reverse("admin:execution_dataspec_spc_decisions", args=[conveyor.pk]),
        {"decision": "rules", "rules": ["2", "3"]},
    )

    assert decided.status_code == 302
    assert SpcSettings.objects.get(spec=conveyor).rules == [2, 3]
    assert overview(quality).context["signals"] == []


def test_frozen_limits_judge_later_values_against_the_baseline(quality, line, gateway, conveyor):
    send(gateway, steady(30))
    url = reverse("admin:execution_dataspec_spc_decisions", args=[conveyor.pk])
    quality.post(url, {"decision": "freeze", "size": "50", "note": "Release baseline"})
    settings = SpcSettings.objects.get(spec=conveyor)
    assert settings.is_frozen and settings.frozen_count == 30
    assert settings.frozen_by.username == "quality-staff"

    # A slow drift whose own window would widen its trial limits: against the frozen
    # ones, its newest values are beyond 3 sigma.
    send(gateway, [81.5 + 0.1 * index for index in range(40)], start=30)

    rules = {signal.rule.value for signal, _url in overview(quality).context["signals"]}
    assert 1 in rules
    page = quality.get(url).content.decode()
    assert "Frozen to a baseline of 30 values" in page


def test_a_baseline_that_is_not_in_control_is_refused(quality, line, gateway, conveyor):
    send(gateway, steady(30) + [88.0])
    url = reverse("admin:execution_dataspec_spc_decisions", args=[conveyor.pk])

    response = quality.post(url, {"decision": "freeze", "size": "50"}, follow=True)

    assert "not in control" in response.content.decode()
    assert not SpcSettings.objects.filter(spec=conveyor, frozen_mean__isnull=False).exists()


def test_a_value_left_out_no_longer_signals_and_can_count_again(quality, line, gateway, conveyor):
    send(gateway, steady(30))
    [outlier] = send(gateway, [88.0], start=30)
    url = reverse("admin:execution_dataspec_spc_decisions", args=[conveyor.pk])

    quality.post(url, {"decision": "exclude", "value": outlier.pk, "reason": "Test board"})

    assert overview(quality).context["signals"] == []
    exclusion = SpcExclusion.objects.get(value=outlier)
    assert exclusion.excluded_by.username == "quality-staff"
    quality.post(url, {"decision": "include", "value": outlier.pk})
    assert not SpcExclusion.objects.exists()
    assert [record.history_type for record in SpcExclusion.history.order_by("history_date")] == [
        "+",
        "-",
    ]
    assert len(overview(quality).context["signals"]) == 1


def test_integration_admins_see_the_overview_but_decide_nothing(integration, line, gateway):
    send(gateway, steady(30))
    [outlier] = send(gateway, [88.0], start=30)

    page = overview(integration)
    acknowledged = integration.post(
        reverse("admin:execution_dataspec_spc_acknowledge"),
        {"value": outlier.pk, "rule": 1, "note": "mine"},
    )

    assert page.context["may_acknowledge"] is False
    assert acknowledged.status_code == 403
    assert not SpcSignalAcknowledgement.objects.exists()


def test_a_specs_row_names_each_rule_firing_once(quality, line, gateway):
    send(gateway, steady(30))
    send(gateway, [88.0, 88.5], start=30)

    rows = overview(quality).context["rows"]

    [conveyor_row] = [row for row, _chart, _decisions in rows if row.spec.name == "Conveyor Speed"]
    assert len(conveyor_row.open_signals) >= 2
    assert conveyor_row.rules_firing == sorted(set(conveyor_row.rules_firing))
