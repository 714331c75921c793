import pytest
from django.core.management import call_command
from django.urls import reverse


@pytest.mark.django_db
def test_it_publishes_the_openapi_schema(client):
    response = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/son/heartbeat" in schema["paths"]
    assert "/api/v1/son/signing-requests" in schema["paths"]


def test_it_keeps_the_schema_free_of_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))
    assert "/api/v1/son/heartbeat" in (tmp_path / "s.yml").read_text()
