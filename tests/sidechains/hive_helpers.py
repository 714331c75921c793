"""A Hive dev node with a federation account, and transfers made and signed as a user would."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from chains.hive.rpc import HiveRPC
from devnode.hive.protocol import Asset, Transfer
from rates.assets import Pair
from rates.services import rate_set
from tests import fixtures
from tests.devnode import helpers
from tests.hive_node import HiveDevNode, start_hive_devnode

FEDERATION = "son-federation"
LAG = 2


def start_node() -> HiveDevNode:
    """Blocks only on demand; a block is irreversible LAG blocks below the head."""
    accounts = [
        {"name": FEDERATION, "balance": "1000.000 HIVE", "key": helpers.public_key(FEDERATION)}
    ]
    return start_hive_devnode(block_interval=0, irreversible_lag=LAG, accounts=accounts)


def new_sender(node: HiveDevNode, prefix: str = "sender") -> str:
    return helpers.new_account(node, prefix, balance="100.000 HIVE", hbd_balance="50.000 HBD")


def transfer_op(sender: str, amount: int, symbol: str = "HIVE", memo: str = "", to=FEDERATION):
    return Transfer(sender, to, Asset(amount, symbol), memo)


def send(node: HiveDevNode, sender: str, *ops: Any) -> str:
    """Broadcast a transaction of ops signed by the sender's key; its trx_id."""
    from devnode.hive.transactions import transaction_id

    with node.rpc() as rpc:
        chain_id = rpc.get_config()["HIVE_CHAIN_ID"]
        tx = helpers.signed(helpers.unsigned(rpc, *ops), chain_id, sender)
        helpers.broadcast(rpc, tx)
    return transaction_id(tx)


def make_irreversible(node: HiveDevNode) -> None:
    """One block for the pending transactions, then LAG more: all of it irreversible."""
    node.generate_blocks(1 + LAG)


def set_hive_rates(hive: str = "1", hbd: str = "1") -> None:
    admin = fixtures.User.objects.filter(username="rates_admin").first()
    admin = admin or fixtures.make_user("rates_admin", staff=True)
    rate_set(pair=Pair.HIVE_PHIVE, rate=Decimal(hive), set_by=admin)
    rate_set(pair=Pair.HBD_PHBD, rate=Decimal(hbd), set_by=admin)


def rpc(node: HiveDevNode) -> HiveRPC:
    return node.rpc()


def signer_processes(
    *, portal_url: str, folder: Path, names: tuple[str, ...], hive: dict[str, Any], network: str
) -> dict[str, Any]:
    """Real signers (`python -m signer serve`) for SONs made by fixtures.make_son, each with
    `hive` as its config's "hive" section (a callable: the section for that SON's name).
    Not started; the caller stops them."""
    from signer.keystore import Keys, save
    from tests.sidechains.test_withdrawals_signers import EVERY, PASSPHRASE, SignerProcess

    processes = {}
    for name in names:
        _son, token = fixtures.make_son(name)
        home = folder / name
        home.mkdir()
        keys = Keys(bitcoin=fixtures.son_key(name), hive=fixtures.son_key(name, "hive"))
        save(home / "son.key", keys, PASSPHRASE, n=2**10)
        (home / "token").write_text(token + "\n")
        config = {
            "network": network,
            "federation_keys": [fixtures.son_key(n).public_key.format().hex() for n in names],
            "deposit_timelock": 144,
            "max_feerate": 50,
            "max_fee": 10_000_000,
            "daily_cap": 10**10,
            "journal": "journal.sqlite",
            "hive": hive(name) if callable(hive) else hive,
        }
        (home / "signer.json").write_text(json.dumps(config))
        args = ["serve", "--key", home / "son.key", "--config", home / "signer.json"]
        args += ["--portal-url", portal_url, "--token-file", home / "token"]
        args += ["--heartbeat-every", EVERY, "--poll-every", EVERY]
        processes[name] = SignerProcess(
            name, list(map(str, args)), home / "signer.log", home / "journal.sqlite"
        )
    return processes
