"""The connection options every PostgreSQL process gets (mes/settings.py): a database host
that vanishes is noticed in seconds, idle or mid-statement. What they do against a real
cut-off host is tested in tests/integration/ingestion/test_database_outage.py."""

from mes.settings import database_settings

URL = "postgres://mes@db.example:5432/mes"


def test_a_vanished_host_is_noticed_by_keepalives_and_the_tcp_user_timeout_by_default(
    monkeypatch,
):
    monkeypatch.delenv("DATABASE_TCP_USER_TIMEOUT_MS", raising=False)
    options = database_settings(URL)["OPTIONS"]
    assert options["keepalives"] == 1
    assert options["tcp_user_timeout"] == 25000


def test_the_tcp_user_timeout_is_set_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_TCP_USER_TIMEOUT_MS", "8000")
    assert database_settings(URL)["OPTIONS"]["tcp_user_timeout"] == 8000


def test_the_database_urls_own_tcp_user_timeout_wins(monkeypatch):
    monkeypatch.setenv("DATABASE_TCP_USER_TIMEOUT_MS", "8000")
    options = database_settings(URL + "?tcp_user_timeout=4000")["OPTIONS"]
    assert int(options["tcp_user_timeout"]) == 4000
