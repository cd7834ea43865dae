"""Fixtures of the read API's and the stations API's tests."""

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.integration.api.read_api_shop import Shop, build_shop


@pytest.fixture
def shop(line, gateway) -> Shop:
    """Records written through the real ingestion service (read_api_shop.build_shop)."""
    return build_shop(line, gateway)


@pytest.fixture
def operator(db) -> APIClient:
    """A station client signed in as an operator (the Operators group: track_units)."""
    user = UserFactory(username="op-7", groups=["Operators"])
    client = APIClient()
    client.force_login(user)
    client.user = user
    return client
