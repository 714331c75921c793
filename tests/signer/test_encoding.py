import hashlib

import pytest
from coincurve import PrivateKey

from signer.encoding import b58decode, b58encode, hive_public_key, parse_hive_public_key

# Graphene's published key-format vector (bts_create_key output), reused by the test suites of
# steem-js and beem (tests/beemgraphenebase/test_account.py); checked locally against beem 0.24.26.
GRAPHENE_PRIVATE_HEX = "20991828d456b389d0768ed7fb69bf26b9bb87208dd699ef49f10481c20d3e18"
GRAPHENE_WIF = "5J4eFhjREJA7hKG6KcvHofHMXyGQZCDpQE463PAaKo9xXY6UDPq"
GRAPHENE_PUBLIC = "STM7jDPoMwyjVH5obFmqzFNp4Ffp7G2nvC7FKFkrMBpo7Sy4uq5Mj"


def test_it_encodes_the_base58_draft_vectors():
    # draft-msporny-base58 test vectors
    assert b58encode(b"Hello World!") == "2NEpo7TZRRrLZSi2U"
    assert b58encode(bytes.fromhex("0000287fb4cd")) == "11233QC4"
    assert b58decode("11233QC4") == bytes.fromhex("0000287fb4cd")


def test_it_round_trips_base58_with_leading_zeros():
    for data in (b"", b"\0", b"\0\0\x01", bytes(range(40))):
        assert b58decode(b58encode(data)) == data


def test_it_rejects_a_non_base58_character():
    with pytest.raises(ValueError):
        b58decode("0OIl")


def test_it_decodes_the_published_wif_to_the_published_private_key():
    raw = b58decode(GRAPHENE_WIF)
    payload, checksum = raw[:-4], raw[-4:]
    assert hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == checksum
    assert payload == b"\x80" + bytes.fromhex(GRAPHENE_PRIVATE_HEX)


def test_it_formats_the_published_graphene_public_key_vector():
    key = PrivateKey(bytes.fromhex(GRAPHENE_PRIVATE_HEX))
    assert hive_public_key(key.public_key.format(compressed=True)) == GRAPHENE_PUBLIC


def test_it_puts_the_compressed_key_and_its_ripemd160_checksum_in_a_hive_key():
    compressed = PrivateKey().public_key.format(compressed=True)
    text = hive_public_key(compressed)
    raw = b58decode(text.removeprefix("STM"))
    assert text.startswith("STM")
    assert raw[:33] == compressed
    assert raw[33:] == hashlib.new("ripemd160", compressed).digest()[:4]
    assert parse_hive_public_key(text) == compressed


def test_it_rejects_a_hive_key_with_a_bad_checksum():
    good = PrivateKey().public_key.format(compressed=True)
    raw = good + bytes(4)
    with pytest.raises(ValueError):
        parse_hive_public_key("STM" + b58encode(raw))
    with pytest.raises(ValueError):
        parse_hive_public_key("BTS" + hive_public_key(good)[3:])


def test_it_refuses_an_uncompressed_key():
    with pytest.raises(ValueError):
        hive_public_key(PrivateKey().public_key.format(compressed=False))
