"""Where the signer lets a withdrawal be paid (signer/destination.py): the five standard kinds
with non-degenerate programs, never a script the federation controls. The references are
BIP86's published vector, python-bitcoinlib's script builders and the portal's mappings.chains."""

from __future__ import annotations

import hashlib

import coincurve
import pytest
from bitcoin.core import Hash160
from bitcoin.core.script import CScript
from bitcoin.wallet import CBitcoinAddress, P2SHBitcoinAddress
from hypothesis import given
from hypothesis import strategies as st

from chains.bitcoin.addresses import hash160, key_script_pubkeys, witness_script_pubkey
from chains.bitcoin.federation import p2wsh_script_pubkey, script_hash_script_pubkeys
from signer import destination
from tests.signer.withdrawals import (
    CAROL,
    DAVE,
    DEPOSIT_SCRIPT,
    ERIN,
    SON_KEYS,
    WALLET_SCRIPT,
    config,
    pubkey,
    script_pubkey,
    secret,
)

# BIP86, "Account 0, first receiving address = m/86'/0'/0'/0/0"
BIP86_INTERNAL = "cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115"
BIP86_OUTPUT = "a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c"


def test_it_computes_bip86s_published_output_key():
    internal = bytes.fromhex(BIP86_INTERNAL)
    for parity in (b"\x02", b"\x03"):  # the internal key is x-only: its y is taken even
        assert destination.bip86_output_key(parity + internal).hex() == BIP86_OUTPUT


@pytest.mark.parametrize(
    "spk",
    [
        script_pubkey(CAROL),  # P2WPKH
        script_pubkey(DAVE),  # P2PKH
        script_pubkey(ERIN),  # P2TR
        bytes(P2SHBitcoinAddress.from_redeemScript(CScript(b"\x51")).to_scriptPubKey()),
        p2wsh_script_pubkey(b"\x51"),  # P2WSH of OP_TRUE: anyone's, but a standard kind
        bytes.fromhex("5120" + BIP86_OUTPUT),
    ],
    ids=["p2wpkh", "p2pkh", "p2tr", "p2sh", "p2wsh", "p2tr bip86"],
)
def test_it_pays_the_five_standard_kinds(spk):
    assert destination.is_payable(spk)


@given(version=st.integers(2, 16), program=st.binary(min_size=2, max_size=40))
def test_it_never_pays_future_witness_versions(version, program):
    assert not destination.is_payable(witness_script_pubkey(version, program))


@given(program=st.binary(min_size=2, max_size=40).filter(lambda p: len(p) != 32))
def test_it_never_pays_a_version_1_program_that_is_not_32_bytes(program):
    assert not destination.is_payable(witness_script_pubkey(1, program))


@given(x=st.binary(min_size=32, max_size=32))
def test_it_pays_a_taproot_key_exactly_when_it_is_on_the_curve(x):
    p = 2**256 - 2**32 - 977
    value = int.from_bytes(x, "big")
    on_curve = value < p and pow(value**3 + 7, (p - 1) // 2, p) == 1
    assert destination.is_payable(b"\x51\x20" + x) == (on_curve and any(x))


@pytest.mark.parametrize(
    "spk",
    [
        b"",
        b"\x6a\x04fake",  # OP_RETURN
        bytes([33]) + SON_KEYS[0] + b"\xac",  # bare P2PK
        witness_script_pubkey(0, bytes(20)),
        witness_script_pubkey(0, bytes(32)),
        b"\x76\xa9\x14" + bytes(20) + b"\x88\xac",
        b"\xa9\x14" + bytes(20) + b"\x87",
        b"\x51\x20" + bytes(32),
        witness_script_pubkey(1, b"\x4e\x73"),  # pay-to-anchor
        script_pubkey(DAVE) + b"\x00",  # a trailing byte
    ],
    ids=[
        "empty",
        "op_return",
        "p2pk",
        "zero p2wpkh",
        "zero p2wsh",
        "zero p2pkh",
        "zero p2sh",
        "zero p2tr",
        "p2a",
        "trailing",
    ],
)
def test_it_refuses_what_nobody_or_anybody_can_spend(spk):
    assert not destination.is_payable(spk)


def test_it_knows_every_script_of_the_federation_keys_and_wallet():
    scripts = config().federation_scripts
    for key in SON_KEYS:
        key_hash = Hash160(key)
        p2wpkh = witness_script_pubkey(0, key_hash)
        assert (
            bytes(CBitcoinAddress.from_scriptPubKey(CScript(p2wpkh)).to_scriptPubKey()) in scripts
        )
        assert b"\x76\xa9\x14" + key_hash + b"\x88\xac" in scripts
        uncompressed = coincurve.PublicKey(key).format(compressed=False)
        assert b"\x76\xa9\x14" + Hash160(uncompressed) + b"\x88\xac" in scripts
        assert b"\xa9\x14" + hash160(p2wpkh) + b"\x87" in scripts
        assert witness_script_pubkey(1, key[1:]) in scripts
        assert witness_script_pubkey(1, destination.bip86_output_key(key)) in scripts
    wallet = p2wsh_script_pubkey(WALLET_SCRIPT)
    assert {wallet, b"\xa9\x14" + hash160(wallet) + b"\x87"} <= scripts
    assert b"\xa9\x14" + hash160(WALLET_SCRIPT) + b"\x87" in scripts
    assert len(scripts) == 3 + 6 * len(SON_KEYS)
    # a stranger's, a user's deposit address (not an input here) and the payees are not in it
    for other in (script_pubkey(CAROL), script_pubkey(ERIN), p2wsh_script_pubkey(DEPOSIT_SCRIPT)):
        assert other not in scripts


def test_it_knows_the_three_outputs_that_pay_a_witness_script():
    native = p2wsh_script_pubkey(DEPOSIT_SCRIPT)
    assert destination.paying_scripts(DEPOSIT_SCRIPT) == (
        native,
        b"\xa9\x14" + hash160(native) + b"\x87",
        b"\xa9\x14" + hash160(DEPOSIT_SCRIPT) + b"\x87",
    )
    assert hashlib.sha256(DEPOSIT_SCRIPT).digest() == native[2:]


def test_a_user_key_is_no_federation_key():
    user = pubkey(secret("user_carol"))
    assert witness_script_pubkey(0, hash160(user)) not in config().federation_scripts


def test_it_refuses_exactly_what_the_portal_refuses_for_the_wallet_and_the_keys():
    """The portal's lists (mappings.chains) and the signer's agree: the portal never batches a
    payout every signer refuses, nor the signer pays one the portal would not."""
    expected = set(script_hash_script_pubkeys(WALLET_SCRIPT))
    for key in SON_KEYS:
        expected |= set(key_script_pubkeys(key))
    assert config().federation_scripts == expected
