"""Query counts of the SON, mappings and rates pages: the same with a few rows as with many,
so an N+1 cannot come back unnoticed (the money pages are in test_query_counts.py)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from mappings.services import mapping_set_bitcoin
from rates.assets import Pair
from rates.services import rate_set
from sons.models import SON, SONStatusChange
from tests import fixtures
from tests.mappings.helpers import new_key, regtest_p2wpkh
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, set_btc_rate
from tests.sonportal.test_query_counts import HTMX, add_deposits, queries_of, sign_in

pytestmark = pytest.mark.django_db


def add_sons(n: int, *, start: int, owner=None) -> list[SON]:
    """n SONs, each with a few status changes (the grid and pages count downtime from them)."""
    sons = [fixtures.make_son(f"extra-{start + i}", owner=owner)[0] for i in range(n)]
    now = timezone.now()
    SONStatusChange.objects.bulk_create(
        SONStatusChange(
            son=son,
            old_status=old,
            new_status=new,
            reason="test",
            created_at=now - timedelta(hours=hours),
        )
        for son in sons
        for old, new, hours in (
            (SON.Status.ACTIVE, SON.Status.IN_MAINTENANCE, 5),
            (SON.Status.IN_MAINTENANCE, SON.Status.ACTIVE, 4),
        )
    )
    return sons


def counts(client, url: str) -> tuple[int, int]:
    return len(queries_of(client, url)), len(queries_of(client, url, **HTMX))


def test_it_keeps_the_public_son_grid_constant_in_the_number_of_sons(client):
    add_sons(2, start=0)
    few = counts(client, reverse("sons-status"))
    add_sons(6, start=10)

    assert counts(client, reverse("sons-status")) == few


def test_it_keeps_the_operator_pages_constant_in_sons_and_their_history(client):
    operator = fixtures.make_user("operator_many", second_factor=True)
    [son] = add_sons(1, start=0, owner=operator)
    sign_in(client, operator)
    detail = reverse("sons-detail", args=[son.name])
    client.get(detail)  # the first visit records the federation version once
    few = len(queries_of(client, reverse("sons-operator-home"))), len(queries_of(client, detail))
    add_sons(4, start=10, owner=operator)
    now = timezone.now()
    SONStatusChange.objects.bulk_create(
        SONStatusChange(
            son=son,
            old_status=SON.Status.ACTIVE,
            new_status=SON.Status.IN_MAINTENANCE,
            reason=f"change {i}",
            created_at=now - timedelta(minutes=i),
        )
        for i in range(40)
    )

    many = len(queries_of(client, reverse("sons-operator-home"))), len(queries_of(client, detail))

    assert many == few


def test_it_keeps_the_rates_page_constant_in_the_number_of_rates(client, admin_user):
    set_btc_rate("1")
    sign_in(client, admin_user)  # a rate setter: the page shows the form too
    few = counts(client, reverse("rates-list"))
    admin = fixtures.User.objects.get(username="rates_admin")
    for i in range(30):
        rate_set(pair=Pair.BTC_PBTC, rate=Decimal("1") + Decimal(i) / 1000, set_by=admin)

    assert counts(client, reverse("rates-list")) == few


def test_it_keeps_the_addresses_pages_constant_in_mappings_and_deposits(client, user_carol):
    fixtures.make_son("son-1"), fixtures.make_son("son-2"), fixtures.make_son("son-3")
    set_btc_rate("1")
    mapping = make_bitcoin_mapping(user_carol)
    sign_in(client, user_carol)
    pages = [reverse("mappings-home"), reverse("mappings-bitcoin-deposit")]
    add_deposits(user_carol, mapping, 2)
    few = [len(queries_of(client, url)) for url in pages]
    for _ in range(5):  # earlier keys: each change expires the mapping before it
        mapping, _ = mapping_set_bitcoin(
            user=user_carol,
            deposit_public_key=new_key().public_key.format().hex(),
            withdraw_address=regtest_p2wpkh(),
        )
    add_deposits(user_carol, mapping, 30, start=100)

    assert [len(queries_of(client, url)) for url in pages] == few
