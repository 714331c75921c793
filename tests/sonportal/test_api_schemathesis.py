"""Property-based calls to every API operation, generated from the published OpenAPI schema, against
the live portal: anonymous, as a user, as an administrator and as a SON's signer. No answer may
be a server error, and every answer (status, content type, body) must be one the schema
documents (sonportal/schema.py adds the framework's own 4xx answers to every operation). The
portal is pointed at a bcoin node, as in production, so that an operation that asks the node
(the withdrawal fee quote) answers; a node that is down is the fault run's business."""

import secrets

import pytest
import schemathesis
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests import fixtures

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PERSONAS = ("anonymous", "user", "administrator", "son")


def _session_headers(user) -> dict[str, str]:
    """A signed-in browser session as the live server sees it, CSRF pair included."""
    client = Client()
    client.force_login(user)
    csrf = secrets.token_hex(16)  # the cookie's secret; the header may repeat it unmasked
    cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={csrf}"
    return {"Cookie": cookie, "X-CSRFToken": csrf}


def _headers(persona: str) -> dict[str, str]:
    if persona == "user":
        return _session_headers(fixtures.make_user("user_carol", second_factor=True))
    if persona == "administrator":
        return _session_headers(fixtures.make_administrator("admin"))
    if persona == "son":
        _, token = fixtures.make_son("son-1")
        return {"Authorization": f"Token {token}"}
    return {}


@pytest.fixture(params=PERSONAS)
def headers(request, live_server, chain) -> dict[str, str]:
    """Made once per test; hypothesis's examples share them."""
    return _headers(request.param)


@SCHEMA.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_documented(case, headers, live_server):
    case.call_and_validate(base_url=live_server.url, headers=headers, checks=CHECKS)
