"""The demo's regtest faucet on a real bcoin node: it mines, then pays a user's deposit address."""

import bitcoin
import pytest
from bitcoin.core import CTransaction
from django.core.management import CommandError, call_command

from mappings import services
from tests import fixtures
from tests.mappings import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallet_file(tmp_path, monkeypatch):
    path = tmp_path / "wallet.json"
    monkeypatch.setenv("DEMO_WALLET_FILE", str(path))
    return path


def test_it_pays_a_users_deposit_address_from_mined_coins(bitcoin, wallet_file, capsys):
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    carol = fixtures.make_user("user_carol")
    mapping, _ = services.mapping_set_bitcoin(
        user=carol,
        deposit_public_key=helpers.pubkey_hex(),
        withdraw_address=helpers.regtest_p2wpkh(),
    )
    height = bitcoin.get_block_count()
    # Segwit activates on bcoin's regtest after ~432 blocks; coinbases mature after 100.
    call_command("demo_wallet", "mine", "--to-height", str(max(600, height + 101)))
    call_command("demo_wallet", "deposit", "--user", "user_carol", "--btc", "0.5")
    txid = capsys.readouterr().out.split()[-1]
    tx = CTransaction.deserialize(bitcoin.get_raw_transaction(txid))
    paid = {bytes(out.scriptPubKey): out.nValue for out in tx.vout}
    assert paid[bytes(mapping.deposit_script_pubkey)] == 50_000_000
    assert oct(wallet_file.stat().st_mode & 0o777) == "0o600"


def test_it_refuses_a_user_without_a_mapping(bitcoin, wallet_file):
    fixtures.make_user("user_erin")
    with pytest.raises(CommandError, match="no Bitcoin mapping"):
        call_command("demo_wallet", "deposit", "--user", "user_erin", "--btc", "0.1")


def test_it_refuses_other_networks(settings, wallet_file):
    settings.BITCOIN_NETWORK = "mainnet"
    with pytest.raises(CommandError, match="regtest only"):
        call_command("demo_wallet", "mine", "--to-height", "1")
    bitcoin.SelectParams("regtest")
