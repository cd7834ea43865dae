"""Who may read /metrics: the token's holder, or the allowed addresses; nobody by default."""

import ipaddress

import pytest


@pytest.fixture
def scrape(client):
    def get(**headers):
        return client.get("/metrics", **headers).status_code

    return get


def test_nobody_reads_metrics_when_nothing_is_configured(db, scrape, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []
    assert scrape() == 404
    assert scrape(HTTP_AUTHORIZATION="Bearer ") == 404


def test_the_token_holder_reads_metrics(db, scrape, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    assert scrape(HTTP_AUTHORIZATION="Bearer s3cret-token") == 200
    assert scrape(HTTP_AUTHORIZATION="Bearer s3cret-tokem") == 404
    assert scrape(HTTP_AUTHORIZATION="s3cret-token") == 404


def test_an_allowed_network_reads_metrics_and_others_do_not(db, scrape, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.1.0.0/16")]
    assert scrape(REMOTE_ADDR="10.1.2.3") == 200
    assert scrape(REMOTE_ADDR="10.2.0.1") == 404
    assert scrape(REMOTE_ADDR="not-an-address") == 404


def test_an_answer_carries_the_proxys_request_id_or_a_new_one(db, client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="edge-42")
    assert given["X-Request-ID"] == "edge-42"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="not ok; injected\nheader")
    assert made["X-Request-ID"] != "not ok; injected\nheader"
    assert len(made["X-Request-ID"]) == 32


def test_through_a_proxy_an_allowed_address_is_no_identity(db, scrape, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.1/32")]
    assert scrape(REMOTE_ADDR="127.0.0.1") == 200
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9") == 404
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_FORWARDED="for=203.0.113.9") == 404


def test_an_ipv4_address_written_as_ipv6_is_the_same_address(db, scrape, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.1.0.0/16")]
    assert scrape(REMOTE_ADDR="::ffff:10.1.2.3") == 200


def test_a_made_up_http_method_is_counted_as_other(db, client, settings):
    from mes.metrics import RESPONSES

    def count(method):
        return RESPONSES.labels("healthz", method, "4xx")._value.get()

    before = count("other")
    client.generic("QZXA1", "/healthz")
    client.generic("QZXA2", "/healthz")
    assert count("other") == before + 2
    assert ("healthz", "QZXA1", "4xx") not in RESPONSES._metrics
