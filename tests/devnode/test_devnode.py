"""The Hive dev node behaves like hived: accounts, blocks, irreversibility, and the checks a
broadcast transaction must pass (expiration, TaPoS, authorities, duplicates, funds)."""

import dataclasses
import datetime as dt

import pytest
import requests

from chains.hive.rpc import HiveRPCError
from devnode.hive.chain import DEV_CHAIN_ID
from devnode.hive.protocol import (
    AccountUpdate,
    Asset,
    Authority,
    Transfer,
    parse_time,
    transaction_to_json,
)
from devnode.hive.transactions import transaction_id
from tests.devnode.conftest import IRREVERSIBLE_LAG
from tests.devnode.helpers import (
    balance,
    broadcast,
    head_block_num,
    multisig,
    new_account,
    public_key,
    signed,
    unsigned,
)

NAI_HIVE = "@@000000021"


def hive(amount: int) -> Asset:
    return Asset(amount, "HIVE")


def rejection(rpc, tx) -> HiveRPCError:
    with pytest.raises(HiveRPCError) as caught:
        broadcast(rpc, tx)
    return caught.value


# Accounts and chain


def test_it_answers_with_its_chain_id(rpc, chain_id):
    assert chain_id == DEV_CHAIN_ID
    assert rpc.get_config()["HIVE_ADDRESS_PREFIX"] == "STM"
    assert rpc.call("condenser_api.get_config", [])["HIVE_CHAIN_ID"] == DEV_CHAIN_ID


def test_it_finds_existing_accounts_and_leaves_out_unknown_ones(devnode, rpc):
    name = new_account(devnode, "carol", balance="1.250 HIVE", hbd_balance="2.000 HBD")

    [account] = rpc.get_accounts([name, "nobody-here"])
    assert account["name"] == name
    assert account["balance"] == {"amount": "1250", "precision": 3, "nai": NAI_HIVE}
    assert account["active"]["key_auths"] == [[public_key(name), 1]]
    assert rpc.account_exists(name)
    assert not rpc.account_exists("nobody-here")

    [legacy] = rpc.call("condenser_api.get_accounts", [[name, "nobody-here"]])
    assert (legacy["balance"], legacy["hbd_balance"]) == ("1.250 HIVE", "2.000 HBD")


def test_irreversibility_follows_the_head_by_the_lag(devnode, rpc):
    devnode.generate_blocks(IRREVERSIBLE_LAG)
    before = rpc.get_dynamic_global_properties()
    devnode.generate_blocks(3)
    after = rpc.get_dynamic_global_properties()

    assert after["head_block_number"] == before["head_block_number"] + 3
    assert after["last_irreversible_block_num"] == after["head_block_number"] - IRREVERSIBLE_LAG
    assert parse_time(after["time"]) == parse_time(before["time"]) + dt.timedelta(seconds=9)
    block = rpc.get_block(after["head_block_number"])
    assert block["block_id"] == after["head_block_id"]
    assert block["previous"] == rpc.get_block(after["head_block_number"] - 1)["block_id"]
    assert rpc.get_block(after["head_block_number"] + 1) is None


# A transfer, from broadcast to irreversible history


def test_it_includes_a_signed_transfer_in_the_next_block(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", balance="10.000 HIVE")
    bob = new_account(devnode, "bob")
    tx = signed(unsigned(rpc, Transfer(alice, bob, hive(1500), "deposit")), chain_id, alice)
    broadcast(rpc, tx)
    devnode.generate_blocks(1)

    block = rpc.get_block(head_block_num(rpc))
    assert block["transaction_ids"] == [transaction_id(tx)]
    assert block["transactions"][0]["operations"] == [
        {
            "type": "transfer_operation",
            "value": {
                "from": alice,
                "to": bob,
                "amount": {"amount": "1500", "precision": 3, "nai": NAI_HIVE},
                "memo": "deposit",
            },
        }
    ]
    assert (balance(rpc, alice), balance(rpc, bob)) == (8500, 1500)


def test_condenser_api_shows_an_included_transfer_in_the_legacy_form(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", hbd_balance="3.000 HBD")
    bob = new_account(devnode, "bob")
    tx = signed(unsigned(rpc, Transfer(alice, bob, Asset(2001, "HBD"))), chain_id, alice)
    broadcast(rpc, tx)
    devnode.generate_blocks(1)

    found = rpc.call("condenser_api.get_transaction", [transaction_id(tx)])
    assert found["block_num"] == head_block_num(rpc)
    block = rpc.call("condenser_api.get_block", [found["block_num"]])
    [legacy] = block["transactions"]
    assert legacy["transaction_id"] == transaction_id(tx)
    assert legacy["operations"] == [
        ["transfer", {"from": alice, "to": bob, "amount": "2.001 HBD", "memo": ""}]
    ]
    assert legacy["signatures"] == [tx.signatures[0].hex()]


def test_account_history_shows_a_transfer_once_its_block_is_irreversible(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", balance="1.000 HIVE")
    bob = new_account(devnode, "bob")
    tx = signed(unsigned(rpc, Transfer(alice, bob, hive(1))), chain_id, alice)
    broadcast(rpc, tx)
    devnode.generate_blocks(1)

    def history(**params):
        params = {"account": bob, "start": -1, "limit": 10, **params}
        return rpc.call("account_history_api.get_account_history", params)["history"]

    assert history() == []
    [[seq, entry]] = history(include_reversible=True)
    assert (seq, entry["trx_id"], entry["block"]) == (0, transaction_id(tx), head_block_num(rpc))
    assert entry["op"]["value"]["amount"]["amount"] == "1"

    devnode.generate_blocks(IRREVERSIBLE_LAG)
    assert history() == [[seq, entry]]
    assert [seq for seq, _ in history(account=alice)] == [0]


def test_account_history_pages_backwards_from_start(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", balance="1.000 HIVE")
    bob = new_account(devnode, "bob")
    for memo in ("one", "two", "three"):
        broadcast(rpc, signed(unsigned(rpc, Transfer(alice, bob, hive(1), memo)), chain_id, alice))
    devnode.generate_blocks(1)

    def page(start, limit):
        params = {"account": bob, "start": start, "limit": limit, "include_reversible": True}
        history = rpc.call("account_history_api.get_account_history", params)["history"]
        return [(seq, entry["op"]["value"]["memo"]) for seq, entry in history]

    assert page(-1, 2) == [(1, "two"), (2, "three")]
    assert page(1, 2) == [(0, "one"), (1, "two")]
    with pytest.raises(HiveRPCError, match="start must be greater than or equal to limit-1"):
        page(0, 2)


# What a broadcast must pass


def test_it_rejects_an_expired_transaction(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", balance="1.000 HIVE")
    tx = unsigned(rpc, Transfer(alice, "bob-0", hive(1)), expires_in=dt.timedelta(seconds=30))
    devnode.generate_blocks(11)  # chain time moves 3 s per block: 33 s

    error = rejection(rpc, signed(tx, chain_id, alice))
    assert error.name == "transaction_expiration_exception"
    assert "transaction expired" in error.message


def test_it_rejects_an_expiration_more_than_an_hour_ahead(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", balance="1.000 HIVE")
    bob = new_account(devnode, "bob")
    tx = unsigned(rpc, Transfer(alice, bob, hive(1)), expires_in=dt.timedelta(hours=1))
    too_late = dataclasses.replace(tx, expiration=tx.expiration + dt.timedelta(seconds=1))

    error = rejection(rpc, signed(too_late, chain_id, alice))
    assert error.name == "transaction_expiration_exception"
    assert "too far in the future" in error.message
    broadcast(rpc, signed(tx, chain_id, alice))  # exactly one hour is allowed


def test_it_rejects_a_reference_to_a_block_it_does_not_have(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", balance="1.000 HIVE")
    bob = new_account(devnode, "bob")
    tx = unsigned(rpc, Transfer(alice, bob, hive(1)))
    bad_tapos = dataclasses.replace(tx, ref_block_prefix=(tx.ref_block_prefix + 1) % 2**32)

    error = rejection(rpc, signed(bad_tapos, chain_id, alice))
    assert error.name == "transaction_tapos_exception"
    assert error.message.startswith("transaction tapos exception:")


def test_it_rejects_a_signature_by_a_key_outside_the_active_authority(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", balance="1.000 HIVE")
    bob = new_account(devnode, "bob")
    tx = unsigned(rpc, Transfer(alice, bob, hive(1)))

    error = rejection(rpc, signed(tx, chain_id, "mallory"))
    assert error.name == "tx_missing_active_auth"
    assert error.message == f"missing required active authority: Missing Active Authority {alice}"
    assert error.code == -32003
    error = rejection(rpc, tx)
    assert error.name == "tx_missing_active_auth"


def test_a_posting_key_is_not_enough_but_the_owner_key_is(devnode, rpc, chain_id):
    alice = new_account(
        devnode,
        "alice",
        balance="1.000 HIVE",
        owner=multisig(1, "alice-owner"),
        active=multisig(1, "alice-active"),
        posting=multisig(1, "alice-posting"),
    )
    bob = new_account(devnode, "bob")
    tx = unsigned(rpc, Transfer(alice, bob, hive(1)))

    assert rejection(rpc, signed(tx, chain_id, "alice-posting")).name == "tx_missing_active_auth"
    broadcast(rpc, signed(tx, chain_id, "alice-owner"))  # owner satisfies active, as in hived


def test_a_two_of_three_multisig_needs_exactly_two_signatures(devnode, rpc, chain_id):
    federation = new_account(
        devnode, "federation", balance="5.000 HIVE", active=multisig(2, "son-1", "son-2", "son-3")
    )
    user = new_account(devnode, "user")
    tx = unsigned(rpc, Transfer(federation, user, hive(1000), "withdrawal"))

    one = rejection(rpc, signed(tx, chain_id, "son-2"))
    assert one.message.endswith(f"Missing Active Authority {federation}")
    surplus = rejection(rpc, signed(tx, chain_id, "son-1", "son-2", "son-3"))
    assert surplus.name == "tx_irrelevant_sig"
    assert surplus.message == "irrelevant signature included: Unnecessary signature(s) detected"

    # Each SON signs on its own; the merged signatures make the transaction.
    partial_1, partial_3 = signed(tx, chain_id, "son-1"), signed(tx, chain_id, "son-3")
    broadcast(rpc, tx.with_signatures(partial_3.signatures + partial_1.signatures))
    devnode.generate_blocks(1)
    assert (balance(rpc, federation), balance(rpc, user)) == (4000, 1000)


def test_it_rejects_the_same_signature_twice(devnode, rpc, chain_id):
    federation = new_account(devnode, "federation", active=multisig(2, "son-1", "son-2"))
    tx = signed(unsigned(rpc, Transfer(federation, "user-0", hive(1))), chain_id, "son-1")

    error = rejection(rpc, tx.with_signatures(tx.signatures * 2))
    assert error.name == "tx_duplicate_sig"


def test_it_rejects_a_signature_that_is_not_canonical(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", balance="1.000 HIVE")
    tx = signed(unsigned(rpc, Transfer(alice, "bob-0", hive(1))), chain_id, alice)
    order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    signature = tx.signatures[0]
    high_s = order - int.from_bytes(signature[33:], "big")  # the same signature, with high s
    flipped = bytes([signature[0] ^ 1]) + signature[1:33] + high_s.to_bytes(32, "big")

    error = rejection(rpc, tx.with_signatures((flipped,)))
    assert "signature is not canonical" in error.message


def test_it_rejects_a_duplicate_transaction(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", balance="1.000 HIVE")
    bob = new_account(devnode, "bob")
    tx = signed(unsigned(rpc, Transfer(alice, bob, hive(1))), chain_id, alice)
    broadcast(rpc, tx)

    pending = rejection(rpc, tx)
    assert "Duplicate transaction check failed" in pending.message
    assert pending.is_duplicate_transaction
    devnode.generate_blocks(1)
    assert rejection(rpc, tx).is_duplicate_transaction
    assert balance(rpc, bob) == 1


def test_it_rejects_a_transfer_beyond_the_balance(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", balance="10.000 HIVE")
    bob = new_account(devnode, "bob")
    first = signed(unsigned(rpc, Transfer(alice, bob, hive(6000), "1")), chain_id, alice)
    second = signed(unsigned(rpc, Transfer(alice, bob, hive(6000), "2")), chain_id, alice)
    broadcast(rpc, first)

    error = rejection(rpc, second)  # the pending first transfer already spent the money
    assert error.message.endswith("Account does not have sufficient funds for transfer.")
    hbd = signed(unsigned(rpc, Transfer(alice, bob, Asset(1, "HBD"))), chain_id, alice)
    assert "sufficient funds" in rejection(rpc, hbd).message


def test_it_rejects_a_transfer_to_an_account_that_does_not_exist(devnode, rpc, chain_id):
    alice = new_account(devnode, "alice", balance="1.000 HIVE")
    tx = signed(unsigned(rpc, Transfer(alice, "nobody-here", hive(1))), chain_id, alice)

    assert rejection(rpc, tx).message.endswith("Account nobody-here doesn't exist")


def test_it_says_so_for_an_operation_it_does_not_support(rpc):
    tx = transaction_to_json(unsigned(rpc, Transfer("alice-0", "bob-0", hive(1))))
    tx["operations"] = [["vote", {"voter": "alice-0", "author": "bob-0", "permlink": "p"}]]

    with pytest.raises(HiveRPCError, match="'vote' is not supported by the dev node"):
        rpc.broadcast_transaction(tx)


# Authorities change with account_update


def test_account_update_turns_the_active_authority_into_a_multisig(devnode, rpc, chain_id):
    federation = new_account(
        devnode, "federation", balance="2.000 HIVE", owner=multisig(1, "cold-owner-key")
    )
    user = new_account(devnode, "user")
    sons = Authority.from_json(multisig(2, "son-a", "son-b", "son-c"))
    update = AccountUpdate(account=federation, memo_key=public_key(federation), active=sons)
    broadcast(rpc, signed(unsigned(rpc, update), chain_id, federation))
    devnode.generate_blocks(1)
    [account] = rpc.get_accounts([federation])
    assert Authority.from_json(account["active"]) == sons

    tx = unsigned(rpc, Transfer(federation, user, hive(1)))
    assert rejection(rpc, signed(tx, chain_id, federation)).name == "tx_missing_active_auth"
    broadcast(rpc, signed(tx, chain_id, "son-b", "son-c"))


def test_an_owner_change_needs_the_owner_authority(devnode, rpc, chain_id):
    alice = new_account(
        devnode, "alice", owner=multisig(1, "alice-owner"), active=multisig(1, "alice-active")
    )
    owner = Authority.from_json(multisig(1, "alice-new-owner"))
    update = AccountUpdate(account=alice, memo_key=public_key(alice), owner=owner)
    tx = unsigned(rpc, update)

    error = rejection(rpc, signed(tx, chain_id, "alice-active"))
    assert error.message == f"missing required owner authority: Missing Owner Authority {alice}"
    broadcast(rpc, signed(tx, chain_id, "alice-owner"))


def test_the_owner_changes_at_most_once_an_hour(devnode, rpc, chain_id):
    """hived's HIVE_OWNER_UPDATE_LIMIT: a second owner change within the hour is refused, in the
    same block or a later one, whoever signs it; the active authority may still change."""
    alice = new_account(
        devnode, "alice", owner=multisig(1, "alice-owner"), active=multisig(1, "alice-active")
    )
    first = Authority.from_json(multisig(1, "alice-owner-2"))
    update = AccountUpdate(account=alice, memo_key=public_key(alice), owner=first)
    broadcast(rpc, signed(unsigned(rpc, update), chain_id, "alice-owner"))
    [account] = rpc.get_accounts([alice])
    assert Authority.from_json(account["owner"]) == first
    assert account["last_owner_update"] == rpc.get_dynamic_global_properties()["time"]

    second = AccountUpdate(
        account=alice,
        memo_key=public_key(alice),
        owner=Authority.from_json(multisig(1, "alice-owner-3")),
    )
    for _ in range(2):
        error = rejection(rpc, signed(unsigned(rpc, second), chain_id, "alice-owner-2"))
        assert error.message.endswith("Owner authority can only be updated once an hour.")
        devnode.generate_blocks(1)
    [account] = rpc.get_accounts([alice])
    assert Authority.from_json(account["owner"]) == first
    active = Authority.from_json(multisig(1, "alice-active-2"))
    update = AccountUpdate(account=alice, memo_key=public_key(alice), active=active)
    broadcast(rpc, signed(unsigned(rpc, update), chain_id, "alice-active"))


def test_account_auths_delegate_to_other_accounts_active_authorities(devnode, rpc, chain_id):
    son_a, son_b = new_account(devnode, "son"), new_account(devnode, "son")
    delegated = {"weight_threshold": 2, "account_auths": [[son_a, 1], [son_b, 1]], "key_auths": []}
    federation = new_account(devnode, "federation", balance="1.000 HIVE", active=delegated)
    tx = unsigned(rpc, Transfer(federation, son_a, hive(1)))

    assert rejection(rpc, signed(tx, chain_id, son_a)).name == "tx_missing_active_auth"
    broadcast(rpc, signed(tx, chain_id, son_a, son_b))


# The JSON-RPC surface


def test_errors_come_in_hiveds_json_rpc_shape(rpc):
    with pytest.raises(HiveRPCError) as caught:
        rpc.call("condenser_api.get_block", [])
    assert caught.value.code == -32003
    assert caught.value.message == (
        "Assert Exception:args.size() == 1: Expected 1 argument(s), was 0"
    )
    assert caught.value.data["name"] == "assert_exception"

    with pytest.raises(HiveRPCError) as caught:
        rpc.call("condenser_api.no_such_method", [])
    assert caught.value.code == -32601


def test_it_answers_the_old_call_form_and_batches(devnode, rpc):
    head = rpc.call("call", ["database_api", "get_dynamic_global_properties", {}])
    assert head["head_block_number"] == head_block_num(rpc)

    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "block_api.get_block", "params": {"block_num": 1}},
        {"jsonrpc": "2.0", "id": 2, "method": "no_such_api.method", "params": {}},
    ]
    first, second = requests.post(devnode.url, json=batch, timeout=5).json()
    assert first["result"]["block"]["block_id"].startswith("00000001")
    assert second["error"]["code"] == -32601
