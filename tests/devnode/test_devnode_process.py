"""The dev node as a process: its command line, timed blocks, clean stop, and state file."""

import time

import pytest

from chains.hive.rpc import HiveRPCError
from devnode.hive.protocol import Asset, Transfer
from devnode.hive.transactions import transaction_id
from tests.bitcoin_node import free_port
from tests.devnode.helpers import balance, broadcast, public_key, signed, unsigned
from tests.hive_node import HiveDevNodeStartError, start_hive_devnode

GENESIS = [
    {"name": "alice", "key": public_key("alice"), "balance": "5.000 HIVE"},
    {"name": "bob", "key": public_key("bob")},
]


def pay_bob(rpc, amount):
    chain_id = rpc.get_config()["HIVE_CHAIN_ID"]
    tx = signed(unsigned(rpc, Transfer("alice", "bob", Asset(amount, "HIVE"))), chain_id, "alice")
    broadcast(rpc, tx)
    return tx


def test_it_makes_blocks_on_its_own_and_stops_cleanly():
    port = free_port()
    node = start_hive_devnode(port=port, block_interval=0.2)
    try:
        assert node.url == f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 5
        with node.rpc() as rpc:
            while rpc.get_dynamic_global_properties()["head_block_number"] < 3:
                assert time.monotonic() < deadline, "no blocks within 5 s"
                time.sleep(0.05)
    finally:
        assert node.stop() == 0


def test_it_keeps_its_chain_in_the_state_file(tmp_path):
    state_file = tmp_path / "hive-devnode.jsonl"
    node = start_hive_devnode(block_interval=0, accounts=GENESIS, state_file=state_file)
    with node, node.rpc() as rpc:
        node.generate_blocks(1)
        tx = pay_bob(rpc, 1500)
        node.generate_blocks(3)
        before = rpc.get_dynamic_global_properties()
        block_2 = rpc.get_block(2)

    node = start_hive_devnode(block_interval=0, accounts=GENESIS, state_file=state_file)
    with node, node.rpc() as rpc:
        after = rpc.get_dynamic_global_properties()
        assert after["head_block_number"] == before["head_block_number"]
        assert after["head_block_id"] == before["head_block_id"]
        assert rpc.get_block(2) == block_2
        assert (balance(rpc, "alice"), balance(rpc, "bob")) == (3500, 1500)
        assert rpc.call("condenser_api.get_transaction", [transaction_id(tx)])["block_num"] == 2
        with pytest.raises(HiveRPCError, match="Duplicate transaction"):
            broadcast(rpc, tx)
        pay_bob(rpc, 1)
        node.generate_blocks(1)
        assert balance(rpc, "bob") == 1501


def test_it_refuses_to_start_with_an_invalid_account_spec():
    with pytest.raises(HiveDevNodeStartError, match="valid Hive account name"):
        start_hive_devnode(accounts=[{"name": "Not_Valid", "key": public_key("x")}])
