import pytest
from django.urls import reverse

from tests import fixtures

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("persona", "home"),
    [
        ("admin_user", "admin:index"),
        ("witness_alice", "proposals-home"),
        ("son_1", "sons-operator-home"),
        ("user_carol", "account-home"),
    ],
)
def test_it_lands_each_role_on_its_home_page(client, request, persona, home):
    who = request.getfixturevalue(persona)
    user = {"witness_alice": lambda w: w.user, "son_1": lambda s: s[0].owner}.get(
        persona, lambda u: u
    )(who)
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse(home)
    assert client.get(response["Location"]).status_code == 200


def test_it_sends_anonymous_visitors_to_log_in(client):
    for name in ["home", "account-home", "proposals-home", "sons-operator-home"]:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def test_it_shows_a_son_page_to_its_operator_and_administrators_only(client, son_1, user_carol):
    son, _ = son_1
    url = son.get_absolute_url()
    client.force_login(son.owner)
    page = client.get(url)
    assert page.status_code == 200
    assert son.public_key("bitcoin").encode() in page.content
    client.force_login(user_carol)
    assert client.get(url).status_code == 404
    client.force_login(fixtures.make_user("root", staff=True))
    assert client.get(url).status_code == 200


def test_it_no_longer_treats_an_inactive_witness_as_a_witness(client):
    witness = fixtures.make_witness("witness_bob", active=False)
    client.force_login(witness.user)
    assert client.get(reverse("home"))["Location"] == reverse("account-home")


def test_it_logs_in_with_a_password_and_redirects_home(client):
    fixtures.make_user("user_carol", second_factor=False)  # a password is all it takes
    response = client.post(
        reverse("account_login"), {"login": "user_carol", "password": fixtures.PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    client.logout()
    bad = client.post(reverse("account_login"), {"login": "user_carol", "password": "wrong"})
    assert bad.status_code == 200
    assert b"The username and/or password you specified are not correct" in bad.content


@pytest.mark.parametrize(
    ("staff", "in_group", "superuser", "home"),
    [
        (True, True, False, "admin:index"),
        (True, False, True, "admin:index"),
        (True, False, False, "account-home"),  # staff alone opens the admin's door, no more
        (False, True, False, "account-home"),  # a member who cannot enter the admin
    ],
)
def test_it_makes_administrators_of_the_administrators_group(
    client, staff, in_group, superuser, home
):
    user = fixtures.User.objects.create_user(
        "someone", is_staff=staff, is_superuser=superuser, password=fixtures.PASSWORD
    )
    if in_group:
        user.groups.add(fixtures.administrators_group())
    fixtures.enrol_totp(user)
    client.force_login(user)
    assert client.get(reverse("home"))["Location"] == reverse(home)
