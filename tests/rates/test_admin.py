from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from rates.assets import Pair
from rates.models import ExchangeRate, rate_in_force

pytestmark = pytest.mark.usefixtures("seeded")

CHANGELIST = reverse("admin:rates_exchangerate_changelist")
ADD = reverse("admin:rates_exchangerate_add")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def add(client, **data):
    form = {"pair": "BTC/pBTC", "rate": "0.995", "valid_from_0": "", "valid_from_1": "", **data}
    return client.post(ADD, form)


def test_it_lists_rates_with_a_filter_by_pair(admin_client):
    response = admin_client.get(CHANGELIST, {"pair__exact": "HBD/pHBD"})
    assert response.status_code == 200
    assert list(response.context["cl"].queryset.values_list("pair", flat=True)) == ["HBD/pHBD"]
    assert "By pair" in response.content.decode()


def test_it_adds_a_rate_set_by_the_administrator(admin_client, admin_user):
    response = add(admin_client, note="from the admin")
    assert response.status_code == 302
    row = rate_in_force(Pair.BTC_PBTC)
    assert (row.rate, row.set_by, row.note) == (Decimal("0.995"), admin_user, "from the admin")


def test_it_schedules_a_rate_from_the_admin(admin_client):
    later = datetime.now(UTC) + timedelta(days=2)
    response = add(admin_client, valid_from_0=f"{later:%Y-%m-%d}", valid_from_1=f"{later:%H:%M:%S}")
    assert response.status_code == 302
    assert rate_in_force(Pair.BTC_PBTC).rate == Decimal(1)
    assert rate_in_force(Pair.BTC_PBTC, later).rate == Decimal("0.995")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rate": "0"}, "The rate must be greater than zero."),
        ({"rate": "-1"}, "The rate cannot be negative."),
        ({"rate": "NaN"}, "Enter the rate as a decimal number"),
        ({"rate": "abc"}, "Enter the rate as a decimal number"),
        ({"rate": "1e2"}, "Enter the rate as a decimal number"),
        ({"rate": "١"}, "Enter the rate as a decimal number"),
        ({"rate": "1_0"}, "Enter the rate as a decimal number"),
        ({"rate": "12345"}, "A rate has at most 4 digits before the point."),
        ({"rate": "0.123456789"}, "A rate has at most 8 decimal places."),
        (
            {"valid_from_0": "2001-01-01", "valid_from_1": "00:00:00"},
            "cannot take effect in the past",
        ),
    ],
)
def test_it_refuses_bad_input_with_a_clear_message(admin_client, data, message):
    before = ExchangeRate.objects.count()
    response = add(admin_client, **data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert response.content.decode().count(message) == 1
    assert ExchangeRate.objects.count() == before


def test_it_has_no_change_and_no_delete(admin_client):
    row = rate_in_force(Pair.BTC_PBTC)
    change = reverse("admin:rates_exchangerate_change", args=[row.pk])
    delete = reverse("admin:rates_exchangerate_delete", args=[row.pk])
    view = admin_client.get(change)
    assert view.status_code == 200  # read-only view
    assert not view.context["has_change_permission"]
    assert admin_client.post(change, {"pair": "BTC/pBTC", "rate": "2"}).status_code == 403
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    changelist = admin_client.get(CHANGELIST)
    assert "delete_selected" not in changelist.content.decode()
    row.refresh_from_db()
    assert row.rate == Decimal(1)


def test_it_keeps_users_out(client, user_carol):
    client.force_login(user_carol)
    before = ExchangeRate.objects.count()
    response = add(client)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert ExchangeRate.objects.count() == before
