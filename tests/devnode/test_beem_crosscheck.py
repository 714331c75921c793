"""Our serializer and signatures against beem's, the Python library Hive's users sign with.

beem is used offline only (beembase's Signed_Transaction, as DESIGN prescribes): no Hive
instance, so no config store and no node contact. HOME still points at a temporary folder so
that nothing can reach ~/.local/share/beem.
"""

import datetime as dt

import pytest

from devnode.hive.keys import private_key_to_wif
from devnode.hive.protocol import (
    AccountUpdate,
    Asset,
    Authority,
    Transaction,
    Transfer,
    transaction_to_json,
)
from devnode.hive.serialization import pack_transaction
from devnode.hive.transactions import transaction_digest, transaction_id
from tests.devnode.helpers import (
    head_block_num,
    multisig,
    new_account,
    private_key,
    public_key,
    signed,
    unsigned,
)

CHAIN_ID = "ab" * 32
EXPIRATION = dt.datetime(2025, 3, 1, 12, 30, 15, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def beem(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    from beembase.signedtransactions import Signed_Transaction
    from beemgraphenebase.account import PublicKey

    yield Signed_Transaction, PublicKey
    patch.undo()


def beem_signed(beem, tx: Transaction, chain_id: str, *key_names: str):
    signed_transaction, _ = beem
    body = transaction_to_json(tx, legacy=True)
    del body["signatures"]
    wifs = [private_key_to_wif(private_key(name)) for name in key_names]
    return signed_transaction(**body).sign(wifs, chain={"chain_id": chain_id, "prefix": "STM"})


TRANSACTIONS = {
    "transfer": (Transfer("alice", "federation", Asset(12_345, "HIVE"), "deposit for carol"),),
    "hbd transfer, unicode memo": (Transfer("alice.x", "bob-2", Asset(1, "HBD"), "zahlung ✓"),),
    "account_update to a multisig": (
        AccountUpdate(
            account="federation",
            memo_key=public_key("memo"),
            active=Authority.from_json(
                {
                    **multisig(2, "son-3", "son-1", "son-2"),
                    "account_auths": [["zed", 1], ["abe", 2]],
                }
            ),
            json_metadata='{"sons": 3}',
        ),
    ),
    "two operations": (
        Transfer("federation", "alice", Asset(5_000, "HIVE"), ""),
        Transfer("federation", "bob", Asset(7, "HBD"), "withdrawal 42"),
    ),
}


@pytest.mark.parametrize("operations", TRANSACTIONS.values(), ids=TRANSACTIONS.keys())
def test_it_serializes_and_identifies_transactions_as_beem_does(beem, operations):
    tx = Transaction(65_535, 4_000_000_000, EXPIRATION, operations)
    theirs = beem_signed(beem, tx, CHAIN_ID, "alice")
    with_their_signature = tx.with_signatures((bytes(theirs.data["signatures"].data[0]),))

    assert bytes(theirs) == pack_transaction(with_their_signature, with_signatures=True)
    assert theirs.digest == transaction_digest(tx, CHAIN_ID)
    assert theirs.id == transaction_id(tx)


def test_beem_verifies_our_signatures(beem):
    _, beem_public_key = beem
    tx = Transaction(7, 8, EXPIRATION, TRANSACTIONS["two operations"])
    ours = signed(tx, CHAIN_ID, "son-1", "son-2")
    theirs = beem[0](**transaction_to_json(ours, legacy=True))

    keys = [beem_public_key(public_key(name), prefix="STM") for name in ("son-1", "son-2")]
    theirs.verify(keys, chain={"chain_id": CHAIN_ID, "prefix": "STM"})


def test_the_dev_node_accepts_a_transaction_signed_by_beem(beem, devnode, rpc, chain_id):
    federation = new_account(
        devnode, "federation", balance="3.000 HIVE", active=multisig(2, "a", "b", "c")
    )
    user = new_account(devnode, "user")
    tx = unsigned(rpc, Transfer(federation, user, Asset(2_500, "HIVE"), "withdrawal"))
    theirs = beem_signed(beem, tx, chain_id, "c", "a")

    rpc.call("condenser_api.broadcast_transaction", [theirs.json()])
    devnode.generate_blocks(1)
    found = rpc.call("condenser_api.get_transaction", [theirs.id])
    assert found["block_num"] == head_block_num(rpc)
    assert found["signatures"] == theirs.json()["signatures"]
