"""Every URL outside the admin is listed here with who may use it; those behind a permission
are walked with staff users who lack it. A URL added anywhere fails the first test until it is
listed here.
"""

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from proposals.models import Proposal
from rates.assets import Pair
from rates.models import ExchangeRate
from sons.models import SON
from tests import fixtures

pytestmark = pytest.mark.django_db

PUBLIC = "anyone"
OWN = "signed-in people, their own data only"
OPERATOR = "the SON's operator only"
WITNESS = "active witnesses only"
SON_TOKEN = "a SON's token only"
ALLAUTH = "django-allauth's flows, which check their own state"
ALLAUTH_URLS = [
    "account_change_password",
    "account_confirm_email",
    "account_confirm_login_code",
    "account_confirm_reauthentication_code",
    "account_email",
    "account_email_verification_sent",
    "account_inactive",
    "account_login",
    "account_logout",
    "account_reauthenticate",
    "account_request_reauthentication_code",
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "account_set_password",
    "account_signup",
    "mfa_activate_totp",
    "mfa_add_webauthn",
    "mfa_authenticate",
    "mfa_deactivate_totp",
    "mfa_download_recovery_codes",
    "mfa_edit_webauthn",
    "mfa_generate_recovery_codes",
    "mfa_index",
    "mfa_list_webauthn",
    "mfa_reauthenticate",
    "mfa_reauthenticate_webauthn",
    "mfa_remove_webauthn",
    "mfa_view_recovery_codes",
    "usersessions_list",
]

# URL name: who may use it, or the permission it needs. api-rates is public to read and needs
# rates.add_exchangerate to write.
URLS = {
    **dict.fromkeys(ALLAUTH_URLS, ALLAUTH),
    "login": PUBLIC,
    "healthz": PUBLIC,
    "status": PUBLIC,
    "sons-status": PUBLIC,
    "rates-list": PUBLIC,
    "api-rates-history": PUBLIC,
    "api-schema": PUBLIC,
    "solvency-epochs": PUBLIC,
    "solvency-epoch": PUBLIC,
    "api-epochs": PUBLIC,
    "sidechains-reserves": PUBLIC,
    "api-reserves": PUBLIC,
    "solvency-proof": OWN,
    "api-epoch-proof": OWN,
    "solvency-transfer": OWN,
    "solvency-transfer-sign": OWN,
    "api-transfers": OWN,
    "api-transfer": OWN,
    "api-transfer-sign": OWN,
    "home": OWN,
    "account-home": OWN,
    "account-statement": OWN,
    "sons-operator-home": OWN,
    "sidechains-deposits": OWN,
    "sidechains-withdrawals": OWN,
    "sidechains-hive-withdraw": OWN,
    "sidechains-deposit": OWN,
    "sidechains-deposit-psbt": OWN,
    "sidechains-withdrawal": OWN,
    "mappings-home": OWN,
    "mappings-set-bitcoin": OWN,
    "mappings-set-hive": OWN,
    "mappings-verify-hive": OWN,
    "mappings-expire": OWN,
    "mappings-bitcoin-deposit": OWN,
    "mappings-confirm-change": OWN,
    "notifications-settings": OWN,
    "api-withdrawals": OWN,
    "api-withdrawal": OWN,
    "api-withdrawal-quote": OWN,
    "api-mappings": OWN,
    "api-mapping": OWN,
    "api-hive-claims": OWN,
    "api-hive-claim-verify": OWN,
    "sons-maintenance": OPERATOR,
    "sons-token": OPERATOR,
    "proposals-approve": WITNESS,
    "proposals-revoke": WITNESS,
    "api-son-me": SON_TOKEN,
    "api-son-heartbeat": SON_TOKEN,
    "api-son-signing-requests": SON_TOKEN,
    "api-son-signing-answer": SON_TOKEN,
    "api-son-hive-signing-answer": SON_TOKEN,
    "admin-status": "sidechains.view_alert",
    "proposals-home": "proposals.view_proposal",
    "proposals-detail": "proposals.view_proposal",
    "proposals-rotation": "sons.view_federationversion",
    "sons-detail": "sons.view_son",
    "rates-create": "rates.add_exchangerate",
    "rates-preview": "rates.add_exchangerate",
    "api-rates": "rates.add_exchangerate",
    "solvency-epoch-create": "solvency.create_epoch",
}
# How each permission-guarded URL is called: (method, data), and what refuses it.
CALLS = {
    "admin-status": ("get", {}),
    "proposals-home": ("get", {}),
    "proposals-detail": ("get", {}),
    "proposals-rotation": ("get", {}),
    "sons-detail": ("get", {}),
    "rates-create": ("post", {"pair": "BTC/pBTC", "rate": "0.5", "confirm_rate": "0.5"}),
    "rates-preview": ("get", {"pair": "BTC/pBTC", "rate": "0.5", "amount": "1"}),
    "api-rates": ("post", {"pair": "BTC/pBTC", "rate": "0.5", "request_id": "walk-1"}),
    "solvency-epoch-create": ("post", {"reason": "the walk"}),
}
REFUSED = {"sons-detail": 404}  # a SON page that is not yours does not exist for you


def _names(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace != "admin":
                yield from _names(pattern.url_patterns)
        else:
            yield pattern.name


def test_every_url_is_listed_with_who_may_use_it():
    assert set(_names(get_resolver().url_patterns)) == set(URLS)


@pytest.fixture
def things(db):
    son, _ = fixtures.make_son("son-1")
    now = timezone.now()
    proposal = Proposal.objects.create(
        kind=Proposal.Kind.DEREGISTER_SON,
        son=son,
        created_at=now,
        expires_at=now + timedelta(days=3),
    )
    return {"son": son, "proposal": proposal}


def _url(name: str, things: dict) -> str:
    args = {
        "proposals-detail": [things["proposal"].pk],
        "sons-detail": [things["son"].name],
    }.get(name, [])
    return reverse(name, args=args)


def _call(client, name: str, things: dict):
    method, data = CALLS[name]
    url = _url(name, things)
    if method == "get":
        return client.get(url, data)
    if name.startswith("api-"):
        return client.post(url, data, content_type="application/json")
    return client.post(url, data)


@pytest.fixture
def bare_staff(db):
    user = fixtures.User.objects.create_user("bare_staff", is_staff=True)
    fixtures.enrol_totp(user)
    return user


def _rates() -> list:
    return list(ExchangeRate.objects.for_pair(Pair.BTC_PBTC).values_list("rate", flat=True))


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("persona", ["bare_staff", "view_only_staff", "admin_user"])
def test_a_guarded_url_answers_only_with_its_permission(request, name, persona, things, client):
    assert set(CALLS) == {n for n, who in URLS.items() if "." in who}
    user = request.getfixturevalue(persona)
    client.force_login(user)
    rates = _rates()

    response = _call(client, name, things)

    if user.has_perm(URLS[name]):
        assert response.status_code in (200, 201, 302), response.content[:300]
    else:
        assert response.status_code == REFUSED.get(name, 403)
        assert _rates() == rates


def test_staff_without_rates_permission_set_no_rate_through_the_service(view_only_staff):
    from rates.services import RateError, rate_set

    with pytest.raises(RateError, match="Only administrators"):
        rate_set(pair=Pair.BTC_PBTC, rate=Decimal("0.5"), set_by=view_only_staff)


@pytest.mark.parametrize("persona", ["view_only_staff", "admin_user"])
@pytest.mark.parametrize("name", ["sons-maintenance", "sons-token"])
def test_only_the_operator_acts_on_a_son_not_staff(request, persona, name, things, client):
    son = things["son"]
    before = SON.objects.filter(pk=son.pk).values("status", "token_hash").get()
    client.force_login(request.getfixturevalue(persona))

    response = client.post(reverse(name, args=[son.name]), {"action": "request"})

    assert response.status_code == 403
    assert SON.objects.filter(pk=son.pk).values("status", "token_hash").get() == before


def test_a_view_only_staff_user_is_no_administrator(client, view_only_staff):
    client.force_login(view_only_staff)
    assert client.get(reverse("home"))["Location"] == reverse("account-home")
    assert client.get(reverse("rates-list")).context["form"] is None


def test_the_admin_index_shows_the_status_panel_only_with_view_alert(client, bare_staff):
    client.force_login(bare_staff)
    assert reverse("admin-status") not in client.get(reverse("admin:index")).content.decode()


# --- Every URL x every persona x GET and POST ---------------------------------------------------

PERSONAS = [
    "anonymous",
    "user",
    "other_user",
    "witness",
    "operator",
    "other_operator",
    "view_only_staff",
    "administrator",
]
# URLs whose object belongs to "user" (carol): anyone else gets a 404, as if it did not exist.
OWN_OBJECT = {
    "mappings-expire",
    "api-withdrawal",
    "api-mapping",
    "mappings-verify-hive",
    "api-hive-claim-verify",
    "solvency-proof",  # only an account in the epoch's tree has a proof: carol's here
    "api-epoch-proof",
    "solvency-transfer-sign",
    "api-transfer",
    "api-transfer-sign",
    "sidechains-deposit",
    "sidechains-deposit-psbt",
    "sidechains-withdrawal",
    "mappings-confirm-change",
}
# Besides the permission: witnesses read proposals, an operator reads their own SON's page.
ALSO = {
    "proposals-home": {"witness"},
    "proposals-detail": {"witness"},
    "proposals-rotation": {"witness", "operator", "other_operator"},
    "sons-detail": {"operator"},
}


@pytest.fixture
def cast(db):
    from decimal import Decimal as D

    from mappings.changes import new_token
    from mappings.models import HiveOwnershipClaim, MappingChange
    from sidechains.models import Deposit, Withdrawal
    from solvency.epochs import epoch_create
    from solvency.transfers import transfer_prepare
    from tests.sidechains.deposit_helpers import made_up_tx, make_bitcoin_mapping
    from tests.sidechains.withdrawal_helpers import credit

    son, _ = fixtures.make_son("son-1")
    other_son, _ = fixtures.make_son("son-2")
    fixtures.make_son("son-3")
    carol = fixtures.make_user("user_carol")
    dave = fixtures.make_user("user_dave")
    mapping = make_bitcoin_mapping(carol)
    credit(carol, 100_000)
    epoch = epoch_create()
    transfer = transfer_prepare(sender=carol, receiver="user_dave", asset="pBTC", amount="0.0001")
    txid, raw_tx = made_up_tx(bytes(mapping.deposit_script_pubkey), 1_000_000)
    deposit = Deposit.objects.create(
        chain="bitcoin",
        txid=txid,
        raw_tx=raw_tx,
        vout=0,
        amount=1_000_000,
        mapping=mapping,
        user=carol,
        block_hash="00" * 32,
        block_height=5,
        confirmations_required=1,
        detected_at=timezone.now(),
    )
    change_token = new_token()
    MappingChange.objects.create(
        user=carol,
        sidechain="bitcoin",
        fields={"deposit_public_key": mapping.deposit_public_key, "withdraw_address": "bcrt1qwalk"},
        token_hash=hashlib.sha256(change_token.encode()).hexdigest(),
        created_at=timezone.now(),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    claim = HiveOwnershipClaim.objects.create(
        user=carol,
        hive_account="carol",
        challenge="sonportal: user_carol controls @carol (walk)",
        memo_code="verify:0123456789abcdef",
        created_at=timezone.now(),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    withdrawal = Withdrawal.objects.create(
        user=carol, amount_pegged=50_000, rate=D(1), amount=50_000, address="x", request_id="r"
    )
    now = timezone.now()
    proposal = Proposal.objects.create(
        kind=Proposal.Kind.DEREGISTER_SON,
        son=other_son,
        created_at=now,
        expires_at=now + timedelta(days=3),
    )
    people = {
        "anonymous": None,
        "user": carol,
        "other_user": dave,
        "witness": fixtures.make_witness("witness_alice").user,
        "operator": son.owner,
        "other_operator": other_son.owner,
        "view_only_staff": fixtures.make_view_only_staff(),
        "administrator": fixtures.make_administrator(),
    }
    args = {
        "proposals-detail": [proposal.pk],
        "proposals-approve": [proposal.pk],
        "proposals-revoke": [proposal.pk],
        "sons-detail": [son.name],
        "sons-maintenance": [son.name],
        "sons-token": [son.name],
        "mappings-expire": [mapping.pk],
        "api-withdrawal": [withdrawal.pk],
        "api-mapping": [mapping.pk],
        "api-son-signing-answer": [1],
        "api-son-hive-signing-answer": [1],
        "sidechains-deposit": [deposit.pk],
        "sidechains-deposit-psbt": [deposit.pk],
        "mappings-confirm-change": [change_token],
        "sidechains-withdrawal": [withdrawal.pk],
        "solvency-epoch": [epoch.number],
        "solvency-proof": [epoch.number],
        "api-epoch-proof": [epoch.number],
        "solvency-transfer-sign": [transfer.pk],
        "api-transfer": [transfer.pk],
        "api-transfer-sign": [transfer.pk],
        "mappings-verify-hive": [claim.pk],
        "api-hive-claim-verify": [claim.pk],
    }
    return people, args


# Reading is open where writing needs a permission.
METHOD_WHO = {("api-rates", "get"): PUBLIC}
# healthz answers 503 when a component is down (here: no worker, no node): an answer, not an error.
DOWN_OK = {"healthz", "api-withdrawal-quote"}  # the quote asks the Bitcoin node


def _may(name: str, method: str, persona: str, user) -> bool:
    who = METHOD_WHO.get((name, method), URLS[name])
    if persona in ALSO.get(name, ()):
        return True
    if who == PUBLIC:
        return True
    if user is None or who == SON_TOKEN:
        return False
    if who == OWN:
        return name not in OWN_OBJECT or persona == "user"
    if who == OPERATOR:
        return persona == "operator"
    if who == WITNESS:
        return persona == "witness"
    return user.has_perm(who)


def _state() -> dict:
    """What any refused call must leave as it was."""
    from audit.models import AuditRecord
    from mappings.models import SidechainAddress
    from proposals.models import Approval
    from sidechains.models import Withdrawal

    return {
        "withdrawals": list(Withdrawal.objects.values_list("pk", "status")),
        "mappings": list(SidechainAddress.objects.values_list("pk", "expires")),
        "sons": list(SON.objects.values_list("pk", "status", "token_hash")),
        "approvals": Approval.objects.count(),
        "rates": ExchangeRate.objects.count(),
        "audit": AuditRecord.objects.count(),
    }


def _to_login(response) -> bool:
    logins = (reverse("login"), reverse("account_login"), reverse("admin:login"))
    return response.status_code in (301, 302) and response["Location"].startswith(logins)


def _refused(response) -> bool:
    if response.status_code in (302, 301):
        return _to_login(response)
    return response.status_code in (401, 403, 404, 405)


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_url_answers_every_persona_and_method_as_listed(settings, client, cast, persona):
    """One persona per test (the cast is costly to make), every URL and method in it."""
    people, args = cast
    user = people[persona]
    # No worker runs here: the health checks' round trip through the broker gives up at once.
    settings.HEALTH_BROKER_TIMEOUT = 0.2
    for name in sorted(URLS):
        if URLS[name] == ALLAUTH:
            continue  # allauth's own flows: their state checks are allauth's (and its tests')
        url = reverse(name, args=args.get(name, []))
        for method in ("get", "post", "put", "delete"):
            allowed = _may(name, method, persona, user)
            client.logout()
            if user is not None:
                client.force_login(user)  # again: a POST to logout/ ends the session
            before = _state()
            kwargs = {"content_type": "application/json"} if name.startswith("api-") else {}
            response = getattr(client, method)(url, {} if method != "get" else None, **kwargs)

            status, why = response.status_code, (name, method, response.content[:300])
            assert status < 500 or (name in DOWN_OK and status == 503), why
            if allowed:
                assert status not in (401, 403, 404), why
                # login/ and logout/ lead to allauth's login page
                assert name in ("login", "logout") or not _to_login(response), why
            else:
                assert _refused(response), why
                assert _state() == before, why
