"""Keys, protocol objects, serialization details and signing, without a node."""

import datetime as dt
import hashlib

import coincurve
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devnode.hive import keys
from devnode.hive.protocol import (
    Asset,
    ProtocolError,
    Transfer,
    is_valid_account_name,
    transaction_from_json,
    transaction_to_json,
)
from devnode.hive.serialization import varint
from devnode.hive.transactions import (
    build_transaction,
    is_canonical,
    recover_public_key,
    reference_block,
    sign_digest,
)
from tests.devnode.helpers import private_key, public_key

BLOCK_ID = "0001e2405a3c7be16f9d2a8b0c1d2e3f40516273"


def test_keys_round_trip_through_their_string_forms():
    key = private_key("alice")
    assert keys.private_key_from_wif(keys.private_key_to_wif(key)).secret == key.secret
    text = keys.public_key_of(key)
    assert text.startswith("STM")
    assert keys.public_key_from_str(text) == key.public_key.format(compressed=True)


def test_a_public_key_with_a_wrong_checksum_is_refused():
    text = public_key("alice")
    tampered = text[:-1] + ("1" if text[-1] != "1" else "2")
    with pytest.raises(ValueError, match="checksum"):
        keys.public_key_from_str(tampered)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("alice", True),
        ("son-1.bridge", True),
        ("a1b", True),
        ("ab", False),
        ("a" * 17, False),
        ("1abc", False),
        ("abc-", False),
        ("Alice", False),
        ("abc..def", False),
        ("abc.de", False),
    ],
)
def test_account_names_follow_hives_rules(name, valid):
    assert is_valid_account_name(name) is valid


def test_assets_read_both_json_dialects():
    assert Asset.from_json("1.234 HIVE") == Asset(1234, "HIVE")
    assert Asset.from_json({"amount": "5", "precision": 3, "nai": "@@000000013"}) == Asset(5, "HBD")
    assert Asset(-1, "HBD").to_legacy() == "-0.001 HBD"
    for bad in ("1.23 HIVE", "1.000 STEEM", {"amount": "1", "precision": 6, "nai": "@@000000037"}):
        with pytest.raises(ProtocolError):
            Asset.from_json(bad)


@given(st.integers(min_value=-(2**62), max_value=2**62), st.sampled_from(["HIVE", "HBD"]))
def test_an_asset_survives_both_json_forms(amount, symbol):
    asset = Asset(amount, symbol)
    assert Asset.from_json(asset.to_legacy()) == asset
    assert Asset.from_json(asset.to_nai()) == asset


def test_varints_are_leb128():
    assert [varint(n).hex() for n in (0, 127, 128, 300, 2**32)] == [
        "00", "7f", "8001", "ac02", "8080808010",
    ]  # fmt: skip


def test_transactions_round_trip_through_both_json_dialects():
    tx = build_transaction(
        [Transfer("alice", "bob", Asset(1, "HIVE"), "m")],
        head_block_id=BLOCK_ID,
        head_block_time=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    ).with_signatures((bytes(65),))
    for legacy in (True, False):
        assert transaction_from_json(transaction_to_json(tx, legacy=legacy)) == tx


def test_the_reference_block_is_the_ids_number_and_second_word():
    assert reference_block(BLOCK_ID) == (0xE240, 0xE17B3C5A)


def test_a_transaction_cannot_expire_more_than_an_hour_ahead():
    with pytest.raises(ValueError, match="expires_in"):
        build_transaction(
            [],
            head_block_id=BLOCK_ID,
            head_block_time=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
            expires_in=dt.timedelta(hours=1, seconds=1),
        )


def test_signatures_are_deterministic_canonical_and_recoverable():
    key = private_key("son-1")
    digests = [hashlib.sha256(bytes([i])).digest() for i in range(16)]
    for digest in digests:
        signature = sign_digest(digest, key)
        assert signature == sign_digest(digest, key)
        assert is_canonical(signature)
        assert recover_public_key(signature, digest) == public_key("son-1")
    # Some digests' plain RFC 6979 signature is not canonical: those took the retry path.
    plain = [coincurve.PrivateKey.sign_recoverable(key, d, hasher=None) for d in digests]
    assert any(not is_canonical(bytes([31 + raw[64]]) + raw[:64]) for raw in plain)


def test_an_unrecoverable_signature_is_refused():
    with pytest.raises(ValueError, match="unable to reconstruct"):
        recover_public_key(bytes([26]) + bytes(64), bytes(32))
