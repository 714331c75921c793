"""The epochs' salts come from SOLVENCY_SALT_KEY in the environment, not from the database: no
column holds a secret, proofs still verify, and an epoch made under another key (or before the
key existed) says it has no proofs instead of giving wrong ones."""

import pytest
from django.db import connection
from django.urls import reverse

from ledger.services import ledger_account_for
from proofs.verify import verify
from rates.assets import Asset
from solvency.epochs import EpochError, epoch_create, proof_for
from solvency.models import Epoch
from tests.solvency.helpers import credit

pytestmark = pytest.mark.django_db


def test_the_database_holds_no_salt_secret(user_carol, settings):
    credit(user_carol, Asset.PBTC, 150_000)
    epoch = epoch_create()
    proof = proof_for(epoch=epoch, account=ledger_account_for(user_carol))
    assert verify(proof, epoch.root).amounts["pBTC"] == 150_000

    columns = [
        c.name
        for c in connection.introspection.get_table_description(
            connection.cursor(), Epoch._meta.db_table
        )
    ]
    assert "secret" not in columns
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM solvency_epoch")
        stored = repr(cursor.fetchall())
    key = settings.SOLVENCY_SALT_KEY
    assert key and key not in stored and proof["leaf"]["salt"] not in stored


def test_salts_differ_per_epoch_under_one_key(user_carol):
    credit(user_carol, Asset.PBTC, 150_000)
    account = ledger_account_for(user_carol)
    first, second = epoch_create(), epoch_create()
    salts = {proof_for(epoch=e, account=account)["leaf"]["salt"] for e in (first, second)}
    assert len(salts) == 2 and first.root != second.root


def test_another_key_gives_no_proof_rather_than_a_wrong_one(user_carol, client, settings):
    credit(user_carol, Asset.PBTC, 150_000)
    epoch = epoch_create()
    settings.SOLVENCY_SALT_KEY = "another key, at least thirty-two characters long"
    with pytest.raises(EpochError, match="another salt key"):
        proof_for(epoch=epoch, account=ledger_account_for(user_carol))
    client.force_login(user_carol)
    assert client.get(reverse("solvency-proof", args=[1])).status_code == 404
    assert client.get(reverse("api-epoch-proof", args=[1])).status_code == 404

    Epoch.objects.filter(pk=epoch.pk).update(salt_key_id="")  # as the migration leaves them
    with pytest.raises(EpochError):
        proof_for(epoch=epoch, account=ledger_account_for(user_carol))


def test_no_epoch_is_made_without_the_key(user_carol, settings):
    settings.SOLVENCY_SALT_KEY = ""
    with pytest.raises(EpochError, match="SOLVENCY_SALT_KEY"):
        epoch_create()
    assert not Epoch.objects.exists()
