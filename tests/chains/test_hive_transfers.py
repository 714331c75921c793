"""Transfers read from block_api's JSON, and the deposit memo format."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chains.hive import transfers


def block(*operations, trx_id="ab" * 20, num=0x1234):
    return {
        "block_id": f"{num:08x}" + "00" * 16,
        "timestamp": "2026-01-01T00:00:00",
        "transaction_ids": [trx_id],
        "transactions": [{"operations": list(operations)}],
    }


def transfer(to="son-federation", amount="1500", nai="@@000000021", precision=3, memo="m"):
    value = {
        "from": "alice",
        "to": to,
        "amount": {"amount": amount, "precision": precision, "nai": nai},
        "memo": memo,
    }
    return {"type": "transfer_operation", "value": value}


def test_it_reads_transfers_to_the_account_with_integer_amounts():
    vote = {"type": "vote_operation", "value": {}}
    found = list(
        transfers.transfers_to(
            block(vote, transfer(), transfer(to="bob"), transfer(amount="9007199254740993")),
            "son-federation",
        )
    )
    assert [(t.op_index, t.amount, t.asset, t.block_num) for t in found] == [
        (1, 1500, "HIVE", 0x1234),
        (3, 9007199254740993, "HIVE", 0x1234),
    ]


def test_it_names_hbd_and_marks_other_assets():
    found = list(
        transfers.transfers_to(
            block(transfer(nai="@@000000013"), transfer(nai="@@000000037", precision=6)),
            "son-federation",
        )
    )
    assert [t.asset for t in found] == ["HBD", "@@000000037/6"]


def test_a_malformed_block_is_an_error_not_a_skip():
    broken = block(transfer())
    del broken["transactions"][0]["operations"][0]["value"]["amount"]
    with pytest.raises(transfers.BlockFormatError):
        list(transfers.transfers_to(broken, "son-federation"))


@pytest.mark.parametrize(
    ("memo", "username"),
    [
        ("to:user_carol", "user_carol"),
        ("  to:a.b@c+d-e  ", "a.b@c+d-e"),
        ("to:", None),
        ("to:carol please", None),
        ("TO:carol", None),
        ("to:" + "x" * 151, None),
        ("to:ca\u0661rol", None),
        ("#to:carol", None),
    ],
)
def test_it_parses_the_deposit_memo(memo, username):
    assert transfers.memo_username(memo) == username


@given(st.from_regex(r"[A-Za-z0-9_.@+-]{1,150}", fullmatch=True))
def test_the_memo_shown_for_a_username_routes_to_it(username):
    assert transfers.memo_username(transfers.memo_for(username)) == username
