"""A Hive dev node with a federation account, and transfers made and signed as a user would."""

from __future__ import annotations

from decimal import Decimal
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
