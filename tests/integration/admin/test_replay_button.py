"""The Replay button on a FAILED message's page (issue 14): the list action's service, one
message at a time, POST only, then the new attempt's page."""

from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags

from integration.models import DeviceDataRecord, IntegrationMessage
from tests.factories import TrackFactory, UnitFactory, person_in_role


def change_url(message):
    return reverse("admin:integration_integrationmessage_change", args=[message.pk])


def replay_url(message):
    return reverse("admin:integration_integrationmessage_replay", args=[message.pk])


def reported(response) -> list[tuple[str, str]]:
    return [(m.level_tag, strip_tags(str(m))) for m in get_messages(response.wsgi_request)]


def create_late_unit(line):
    unit = UnitFactory(sn="SN-LATE", run=line.run)
    return TrackFactory(unit=unit, step_no=40, station=line.station)


def test_a_failed_message_page_offers_replay_to_integration_admins_only(traffic, integration):
    assert 'id="message-replay"' in integration.get(change_url(traffic.failed)).content.decode()
    for message in (traffic.conflict, traffic.success):
        assert 'id="message-replay"' not in integration.get(change_url(message)).content.decode()


def test_quality_staff_see_no_replay_button_and_are_refused(traffic, quality, line):
    assert 'id="message-replay"' not in quality.get(change_url(traffic.failed)).content.decode()
    create_late_unit(line)

    response = quality.post(replay_url(traffic.failed))

    assert response.status_code == 403
    assert not IntegrationMessage.objects.filter(replay_of=traffic.failed).exists()
    assert not DeviceDataRecord.objects.filter(event_id="evt-late-unit").exists()


def test_replay_writes_the_event_and_opens_the_new_attempts_page(traffic, integration, line):
    create_late_unit(line)

    response = integration.post(replay_url(traffic.failed))

    attempt = IntegrationMessage.objects.get(replay_of=traffic.failed)
    assert attempt.status == "SUCCESS"
    assert response.status_code == 302 and response["Location"] == change_url(attempt)
    [(level, text)] = reported(integration.get(response["Location"]))
    assert level == "success" and "written with 1 value(s)" in text
    traffic.failed.refresh_from_db()
    assert traffic.failed.resolved_at is not None


def test_a_replay_refused_again_opens_the_new_failed_attempt_with_the_error(traffic, integration):
    response = integration.post(replay_url(traffic.failed), follow=True)

    attempt = IntegrationMessage.objects.get(replay_of=traffic.failed)
    assert attempt.status == "FAILED"
    assert response.redirect_chain[-1][0] == change_url(attempt)
    [(level, text)] = reported(response)
    assert level == "error" and "refused again" in text and "UNIT_NOT_FOUND" in text


def test_a_second_replay_opens_its_own_attempt(traffic, integration, line):
    integration.post(replay_url(traffic.failed))
    create_late_unit(line)

    response = integration.post(replay_url(traffic.failed))

    newest = IntegrationMessage.objects.filter(replay_of=traffic.failed).latest("pk")
    assert newest.status == "SUCCESS"
    assert response["Location"] == change_url(newest)


def test_replay_answers_only_posts_and_writes_nothing_on_a_get(traffic, integration, line):
    create_late_unit(line)

    assert integration.get(replay_url(traffic.failed)).status_code == 405
    assert not IntegrationMessage.objects.filter(replay_of=traffic.failed).exists()


def test_replay_needs_the_csrf_token(traffic, line):
    client = Client(enforce_csrf_checks=True)
    client.force_login(person_in_role("integration admin"))
    create_late_unit(line)

    response = client.post(replay_url(traffic.failed))

    assert response.status_code == 403
    assert not IntegrationMessage.objects.filter(replay_of=traffic.failed).exists()
