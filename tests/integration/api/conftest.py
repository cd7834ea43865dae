"""Fixtures of the read API's tests."""

import pytest

from tests.integration.api.read_api_shop import Shop, build_shop


@pytest.fixture
def shop(line, gateway) -> Shop:
    """Records written through the real ingestion service (read_api_shop.build_shop)."""
    return build_shop(line, gateway)
