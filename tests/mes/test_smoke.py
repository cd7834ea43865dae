from tests.conftest import make_event


def test_gateway_posts_an_event_by_codes(line, gateway_client):
    response = gateway_client.post("/api/integration/device-data", make_event(), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["values"][0]["judge"] == "PASS"
