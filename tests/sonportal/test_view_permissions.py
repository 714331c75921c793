"""Every URL outside the admin is listed here with who may use it; those behind a permission
are walked with staff users who lack it. A URL added anywhere fails the first test until it is
listed here.
"""

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
    "home": OWN,
    "account-home": OWN,
    "account-statement": OWN,
    "sons-operator-home": OWN,
    "sidechains-deposits": OWN,
    "sidechains-withdrawals": OWN,
    "sidechains-deposit": OWN,
    "sidechains-withdrawal": OWN,
    "mappings-home": OWN,
    "mappings-set-bitcoin": OWN,
    "mappings-set-hive": OWN,
    "mappings-expire": OWN,
    "mappings-bitcoin-deposit": OWN,
    "mappings-confirm-change": OWN,
    "notifications-settings": OWN,
    "api-withdrawals": OWN,
    "api-withdrawal": OWN,
    "api-mappings": OWN,
    "api-mapping": OWN,
    "sons-maintenance": OPERATOR,
    "sons-token": OPERATOR,
    "proposals-approve": WITNESS,
    "proposals-revoke": WITNESS,
    "api-son-me": SON_TOKEN,
    "api-son-heartbeat": SON_TOKEN,
    "api-son-signing-requests": SON_TOKEN,
    "api-son-signing-answer": SON_TOKEN,
    "admin-status": "sidechains.view_alert",
    "proposals-home": "proposals.view_proposal",
    "proposals-detail": "proposals.view_proposal",
    "sons-detail": "sons.view_son",
    "rates-create": "rates.add_exchangerate",
    "rates-preview": "rates.add_exchangerate",
    "api-rates": "rates.add_exchangerate",
}
# How each permission-guarded URL is called: (method, data), and what refuses it.
CALLS = {
    "admin-status": ("get", {}),
    "proposals-home": ("get", {}),
    "proposals-detail": ("get", {}),
    "sons-detail": ("get", {}),
    "rates-create": ("post", {"pair": "BTC/pBTC", "rate": "0.5"}),
    "rates-preview": ("get", {"pair": "BTC/pBTC", "rate": "0.5", "amount": "1"}),
    "api-rates": ("post", {"pair": "BTC/pBTC", "rate": "0.5", "request_id": "walk-1"}),
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
