"""Deposit keys from extended public keys and descriptors: BIP32 test vector 1, BIP380's
checksum vectors, and keys made by private derivation (tests/mappings/helpers.py)."""

import pytest

from chains.bitcoin import keys
from chains.bitcoin.addresses import PublicKeyError
from tests.mappings import helpers

H = 0x80000000
# BIP32 test vector 1 (seed 000102030405060708090a0b0c0d0e0f), the public keys of the chain
# m/0H/1/2H/2/1000000000.
M_0H = (
    "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5"
    "ski8PX9rL2dZXvgGDnw"
)
M_0H_1 = (
    "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2"
    "AxYysAA7xmALppuCkwQ"
)
M_0H_1_2H = (
    "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4tr"
    "krX7x7DogT5Uv6fcLW5"
)
M_0H_1_2H_2 = (
    "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7"
    "fe5JnJ7dh8zL4fiyLHV"
)
M_0H_1_2H_2_1000000000 = (
    "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXE"
    "YBVPamhGW6cFJodrTHy"
)
M_XPRV = (
    "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TG"
    "tRBeJgk33yuGBxrMPHi"
)


@pytest.mark.parametrize(
    ("parent", "index", "child"),
    [
        (M_0H, 1, M_0H_1),
        (M_0H_1_2H, 2, M_0H_1_2H_2),
        (M_0H_1_2H_2, 1000000000, M_0H_1_2H_2_1000000000),
    ],
)
def test_it_derives_the_bip32_test_vector_public_children(parent, index, child):
    node = keys.parse_extended_key(parent, "mainnet").child(index)
    expected = keys.parse_extended_key(child, "mainnet")
    assert node == expected  # key, chain code, depth, parent fingerprint and child number


def test_it_matches_private_derivation_for_a_bare_tpub_on_the_receive_chain():
    tpub, nodes, _ = helpers.account_tpub()
    spec = keys.parse_deposit_key(tpub, "regtest")
    assert spec.ranged
    for index in (0, 1, 7):
        private = helpers.bip32_child(helpers.bip32_child(nodes[3], 0), index)
        assert spec.key_at(index) == helpers.public_of(private)


def test_it_reads_a_descriptor_with_origin_wildcard_and_checksum():
    tpub, nodes, master = helpers.account_tpub()
    body = f"wpkh([{master.hex()}/84h/1h/0h]{tpub}/0/*)"
    spec = keys.parse_deposit_key(f"{body}#{keys.descriptor_checksum(body)}", "regtest")
    assert spec.source == body
    key_5 = helpers.public_of(helpers.bip32_child(helpers.bip32_child(nodes[3], 0), 5))
    assert spec.key_at(5) == key_5
    assert spec.origin_of(5) == f"[{master.hex()}/84h/1h/0h/0/5]"


def test_it_takes_the_receive_branch_of_a_multipath_descriptor():
    tpub, nodes, master = helpers.account_tpub()
    spec = keys.parse_deposit_key(f"wpkh([{master.hex()}/84'/1'/0']{tpub}/<0;1>/*)", "regtest")
    assert spec.key_at(2) == helpers.public_of(
        helpers.bip32_child(helpers.bip32_child(nodes[3], 0), 2)
    )
    assert spec.origin_of(2) == f"[{master.hex()}/84h/1h/0h/0/2]"


def test_it_reads_fixed_keys_hex_or_in_descriptors():
    key = helpers.pubkey_hex()
    assert keys.parse_deposit_key(f"  {key}\n", "regtest").key_at(None).hex() == key
    spec = keys.parse_deposit_key(f"sh(wpkh([deadbeef/49h/1h/0h/0/3]{key}))", "regtest")
    assert not spec.ranged
    assert spec.key_at(None).hex() == key
    assert spec.origin_of(None) == "[deadbeef/49h/1h/0h/0/3]"
    tpub, nodes, _ = helpers.account_tpub()
    fixed = keys.parse_deposit_key(f"pkh({tpub}/1/4)", "regtest")
    assert fixed.key_at(None) == helpers.public_of(
        helpers.bip32_child(helpers.bip32_child(nodes[3], 1), 4)
    )


def test_it_computes_bip380_checksums():
    assert keys.descriptor_checksum("raw(deadbeef)") == "89f8spxm"
    core_example = (
        "pkh([d34db33f/44'/0'/0']xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkr"
        "gZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL/1/*)"
    )
    assert keys.descriptor_checksum(core_example) == "ml40v0wf"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (M_XPRV, "PRIVATE"),
        ("KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn", "PRIVATE"),
        (M_0H, "for mainnet"),
        (M_0H[:-1] + ("x" if M_0H[-1] != "x" else "y"), "checksum"),
        ("x" * 301, "longer"),
        ("", "Enter"),
        ("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "address will not do"),
        ("tr(02" + "11" * 32 + ")", "taproot"),
        ("wsh(multi(1,02" + "11" * 32 + "))", "one key"),
    ],
)
def test_it_refuses_with_a_clear_message(text, words):
    with pytest.raises(PublicKeyError, match=words):
        keys.parse_deposit_key(text, "regtest")


def test_it_refuses_what_only_a_private_key_can_derive():
    tpub, _, _ = helpers.account_tpub()
    with pytest.raises(PublicKeyError, match="hardened step"):
        keys.parse_deposit_key(f"wpkh({tpub}/0h/*)", "regtest")
    with pytest.raises(PublicKeyError, match="hardened wildcard"):
        keys.parse_deposit_key(f"wpkh({tpub}/0/*')", "regtest")
    body = f"wpkh({tpub}/0/*)"
    wrong = "q" * 8 if keys.descriptor_checksum(body) != "q" * 8 else "p" * 8
    with pytest.raises(PublicKeyError, match="checksum"):
        keys.parse_deposit_key(f"{body}#{wrong}", "regtest")


def test_it_refuses_a_tpub_on_mainnet():
    tpub, _, _ = helpers.account_tpub()
    with pytest.raises(PublicKeyError, match="xpub"):
        keys.parse_deposit_key(tpub, "mainnet")
