"""Hostile values in every form and API input that parses a value (amounts, rates, keys,
addresses, account names, ids): huge, unicode digits, negative, zero, many decimals, exponents,
HTML/JS and SQL-ish. Each gets a 4xx (or, for a page, the form again with its error), nothing is
saved, and nothing comes back unescaped."""

import re

import pytest
from django.urls import reverse

from audit.models import AuditRecord
from mappings.models import SidechainAddress
from rates.models import ExchangeRate
from sidechains.models import Withdrawal
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, make_federation, set_btc_rate
from tests.sidechains.withdrawal_helpers import credit

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
# How a page shows a field's or the form's error.
ERROR = re.compile(r'class="error(list)?[ "]|role="alert"')
HOSTILE = {
    "huge": "9" * 5_000,
    "long digits": "1" * 40,
    "unicode digits": "١٢٣",
    "fullwidth": "１２３",
    "negative": "-1",
    "zero": "0",
    "many decimals": "0.000000001",
    "exponent": "1e5",
    "html": SCRIPT,
    "sql": "1' OR '1'='1'; DROP TABLE ledger_entry; --",
    "nan": "NaN",
    "blank": "   ",
    "right-to-left": "\u202e1.0",
    "nul": "1\x00",
}
# (URL name, persona, method, fields with the hostile value, fixed valid fields, api?)
INPUTS = [
    ("sidechains-withdrawals", "user", "post", ["amount"], {"step": "preview"}, False),
    (
        "sidechains-withdrawals",
        "user",
        "post",
        ["amount", "request_id"],
        {"step": "confirm"},
        False,
    ),
    ("api-withdrawals", "user", "post", ["amount", "request_id"], {}, True),
    (
        "mappings-set-bitcoin",
        "other",
        "post",
        ["deposit_public_key", "withdraw_address"],
        {},
        False,
    ),
    ("mappings-set-hive", "other", "post", ["hive_account"], {}, False),
    (
        "api-mappings",
        "other",
        "post",
        ["deposit_public_key", "withdraw_address", "request_id"],
        {"sidechain": "bitcoin"},
        True,
    ),
    ("api-mappings", "other", "post", ["hive_account"], {"sidechain": "hive"}, True),
    ("rates-create", "admin", "post", ["rate", "amount"], {"pair": "BTC/pBTC"}, False),
    ("rates-preview", "admin", "get", ["rate", "amount"], {"pair": "BTC/pBTC"}, False),
    ("api-rates", "admin", "post", ["rate"], {"pair": "BTC/pBTC", "request_id": "h-1"}, True),
    ("account_login", None, "post", ["login", "password"], {}, False),
]


@pytest.fixture
def people(db, user_carol, admin_user):
    from tests import fixtures

    make_federation(3)
    set_btc_rate("1")
    make_bitcoin_mapping(user_carol)
    credit(user_carol, 10_000_000)
    return {"user": user_carol, "other": fixtures.make_user("user_dave"), "admin": admin_user}


def _saved() -> tuple:
    return (
        Withdrawal.objects.count(),
        SidechainAddress.objects.count(),
        ExchangeRate.objects.count(),
        AuditRecord.objects.count(),
    )


@pytest.mark.parametrize(("name", "persona", "method", "fields", "fixed", "api"), INPUTS)
def test_hostile_values_are_refused_with_a_message_and_nothing_saved(
    client, people, name, persona, method, fields, fixed, api
):
    if persona is not None:
        client.force_login(people[persona])
    before = _saved()

    for kind, value in HOSTILE.items():
        data = {**fixed, **dict.fromkeys(fields, value)}
        if api:
            response = client.post(reverse(name), data, content_type="application/json")
        else:
            response = getattr(client, method)(reverse(name), data)

        body = response.content.decode(errors="replace")
        assert _saved() == before, kind
        assert SCRIPT not in body, kind
        if api:
            assert 400 <= response.status_code < 500, (kind, body[:300])
            assert response.json(), (kind, body[:300])  # a message, per field
        else:
            assert response.status_code in (200, 400), (kind, body[:300])
            assert ERROR.search(body), (kind, body[:2000])
