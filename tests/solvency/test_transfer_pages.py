"""The transfer pages: terms, the message with how to sign it, the signature; the signing
command for a key kept in a file."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from ledger.services import balances_of
from rates.assets import Asset
from solvency.models import Transfer
from tests import fixtures
from tests.solvency.helpers import credit
from tests.solvency.test_transfers import _registered, _sign

pytestmark = pytest.mark.django_db
ROOT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def carol(db):
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    carol = fixtures.make_user("user_carol")
    fixtures.make_user("user_dave")
    key = _registered(carol)
    credit(carol, Asset.PBTC, 500_000)
    return carol, key


def test_a_user_prepares_signs_and_sends(client, carol):
    user, key = carol
    client.force_login(user)
    assert client.get(reverse("solvency-transfer")).status_code == 200
    response = client.post(
        reverse("solvency-transfer"), {"receiver": "user_dave", "asset": "pBTC", "amount": "0.001"}
    )
    prepared = Transfer.objects.get()
    assert response["Location"] == prepared.get_absolute_url()
    page = client.get(prepared.get_absolute_url()).content.decode()
    assert prepared.nonce in page and 'data-testid="transfer-copy"' in page
    assert "python -m proofs sign message.txt --key-file" in page
    sent = client.post(prepared.get_absolute_url(), {"signature": _sign(key, prepared.message)})
    assert sent["Location"] == reverse("solvency-transfer")
    assert balances_of(user)[Asset.PBTC] == 400_000
    listing = client.get(reverse("solvency-transfer")).content.decode()
    assert "0.00100000 pBTC" in listing


def test_errors_are_shown_and_nothing_moves(client, carol):
    user, key = carol
    client.force_login(user)
    response = client.post(
        reverse("solvency-transfer"), {"receiver": "user_dave", "asset": "pBTC", "amount": "9"}
    )
    assert response.status_code == 400
    assert "You hold 0.00500000 pBTC" in response.content.decode()
    client.post(
        reverse("solvency-transfer"), {"receiver": "user_dave", "asset": "pBTC", "amount": "0.001"}
    )
    prepared = Transfer.objects.get()
    wrong = client.post(prepared.get_absolute_url(), {"signature": _sign(key, "something else")})
    assert wrong.status_code == 400
    assert "not by your registered Bitcoin key" in wrong.content.decode()
    assert balances_of(user)[Asset.PBTC] == 500_000


def test_another_users_transfer_looks_like_none(client, carol):
    user, _ = carol
    client.force_login(user)
    client.post(
        reverse("solvency-transfer"), {"receiver": "user_dave", "asset": "pBTC", "amount": "0.001"}
    )
    prepared = Transfer.objects.get()
    client.force_login(fixtures.User.objects.get(username="user_dave"))
    assert client.get(prepared.get_absolute_url()).status_code == 404
    assert client.post(prepared.get_absolute_url(), {"signature": "x"}).status_code == 404


def test_the_signing_command_signs_with_a_key_file(client, carol, tmp_path):
    user, key = carol
    client.force_login(user)
    client.post(
        reverse("solvency-transfer"), {"receiver": "user_dave", "asset": "pBTC", "amount": "0.001"}
    )
    prepared = Transfer.objects.get()
    (tmp_path / "key.wif").write_text(str(key) + "\n")
    (tmp_path / "message.txt").write_text(prepared.message + "\n")  # an editor's newline
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT_DIR)}
    done = subprocess.run(
        [sys.executable, "-m", "proofs", "sign", "message.txt", "--key-file", "key.wif"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    client.post(prepared.get_absolute_url(), {"signature": done.stdout.strip()})
    assert balances_of(user)[Asset.PBTC] == 400_000
    (tmp_path / "key.wif").write_text("5Kb8kLf9zgWQnogidDA76MzPL6TsZZY36hWXMssSzNydYXYB9KX\n")
    bad = subprocess.run(
        [sys.executable, "-m", "proofs", "sign", "message.txt", "--key-file", "key.wif"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert bad.returncode == 1 and bad.stderr.startswith("NOT SIGNED: ")
