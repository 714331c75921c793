"""The public status page: components, the federation's margin, open incidents (kinds only)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from sidechains.models import Alert
from sons.models import SON
from tests import fixtures

pytestmark = pytest.mark.django_db


def test_anyone_sees_the_federation_and_open_incidents_without_their_details(client, settings):
    settings.HEALTH_BROKER_TIMEOUT = 1
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    SON.objects.filter(name="son-3").update(status=SON.Status.IN_MAINTENANCE)
    Alert.objects.create(kind=Alert.Kind.DEEP_REORG, message="secret operator detail")
    Alert.objects.create(
        kind=Alert.Kind.CREDITED_COIN_LOST, message="x", resolved_at=timezone.now()
    )

    page = client.get(reverse("status")).content.decode()

    assert "2 of 3 SONs active; signing needs 2." in page
    assert "Withdrawals are signed and deposits credited." in page
    assert "The Bitcoin chain reorganised deeper than the portal follows by itself." in page
    assert "secret operator detail" not in page
    assert "spent outside the portal" not in page  # resolved
    assert 'data-testid="components"' in page and "database" in page


def test_every_alert_kind_has_public_words():
    from sonportal.status_page import PUBLIC_WORDS

    assert set(PUBLIC_WORDS) == set(Alert.Kind)


def test_it_says_when_too_few_sons_are_active(client, settings):
    settings.HEALTH_BROKER_TIMEOUT = 1
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}", status=SON.Status.IN_MAINTENANCE if i > 1 else "active")
    page = client.get(reverse("status")).content.decode()
    assert "1 of 3 SONs active; signing needs 2." in page
    assert "Too few SONs are active" in page
