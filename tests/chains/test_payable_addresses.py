"""validate_address() takes only addresses whose coins their owner, and only their owner, can
spend; key_script_pubkeys() lists the scripts a single key spends (BIP49, BIP84, BIP86 vectors).
"""

import re

import coincurve
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chains.bitcoin.addresses import (
    AddressError,
    base58_address,
    decode_address,
    hash160,
    key_script_pubkeys,
    segwit_address,
    taproot_output_key,
    validate_address,
)

ON_CURVE_X = coincurve.PrivateKey(bytes(31) + b"\x07").public_key.format()[1:]
OFF_CURVE_X = (5).to_bytes(32, "big")  # no point of secp256k1 has x = 5
PAYABLE = "Use a p2wpkh, p2tr, p2wsh, p2pkh or p2sh address."  # every refusal of a kind ends so


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("p2wpkh", segwit_address(0, bytes(19) + b"\x01", "regtest")),
        ("p2wsh", segwit_address(0, b"\x01" + bytes(31), "regtest")),
        ("p2tr", segwit_address(1, ON_CURVE_X, "regtest")),
        ("p2tr", segwit_address(1, (1).to_bytes(32, "big"), "regtest")),  # x = 1 is a point
        ("p2pkh", base58_address("p2pkh", bytes(19) + b"\x01", "regtest")),
        ("p2sh", base58_address("p2sh", b"\x01" * 20, "regtest")),
    ],
)
def test_it_accepts_the_five_payable_kinds(kind, address):
    assert validate_address(address, "regtest").kind == kind


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("bc1pfeessrawgf", "This is a pay-to-anchor address: anyone can spend coins sent to it."),
        ("BC1SW50QGDZ25J", "version 16 witness address, which Bitcoin does not define yet"),
        ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "version 2 witness address"),
        (
            "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
            "This version 1 address is no taproot address (its program is 40 bytes, not 32)",
        ),
    ],
)
def test_it_refuses_addresses_anyone_can_spend(address, message):
    assert decode_address(address, "mainnet")  # a valid address (BIP350) ...
    with pytest.raises(AddressError) as error:  # ... that the portal never pays
        validate_address(address, "mainnet")
    assert message in str(error.value)
    assert str(error.value).endswith(PAYABLE)


@given(
    version=st.integers(2, 16),
    program=st.binary(min_size=2, max_size=40),
)
def test_it_refuses_every_undefined_witness_version(version, program):
    address = segwit_address(version, program, "regtest")
    with pytest.raises(AddressError, match=f"version {version} witness address"):
        validate_address(address, "regtest")


@given(program=st.binary(min_size=2, max_size=40).filter(lambda p: len(p) != 32))
def test_it_refuses_every_version_1_program_but_taproots(program):
    with pytest.raises(AddressError, match="anyone can spend"):
        validate_address(segwit_address(1, program, "regtest"), "regtest")


@pytest.mark.parametrize(
    ("address", "what"),
    [
        (segwit_address(0, bytes(20), "regtest"), "witness program"),
        (segwit_address(0, bytes(32), "regtest"), "witness program"),
        (segwit_address(1, bytes(32), "regtest"), "witness program"),
        (base58_address("p2pkh", bytes(20), "regtest"), "hash"),
        (base58_address("p2sh", bytes(20), "regtest"), "hash"),
    ],
)
def test_it_refuses_all_zero_hashes_and_programs(address, what):
    with pytest.raises(AddressError) as error:
        validate_address(address, "regtest")
    assert str(error.value) == (
        f"This address's {what} is all zeros: nobody can spend coins sent to it."
    )


def test_it_refuses_a_taproot_key_off_the_curve():
    # Bitcoin Core's key_io_valid.json vector: a valid address, but x is no point's.
    core = "bcrt1p39a4s4vdcw9kqa8w2t0rp7aj8kfxyw7mce5sk5d70x6wnnmpvt7skf2kxy"
    for address in (core, segwit_address(1, OFF_CURVE_X, "regtest")):
        with pytest.raises(AddressError, match="not a point on the curve: nobody can spend"):
            validate_address(address, "regtest")


@given(st.binary(min_size=32, max_size=32))
def test_it_accepts_a_taproot_exactly_when_its_key_is_a_point(x):
    try:
        coincurve.PublicKeyXOnly(x)
        on_curve = any(x)
    except ValueError:
        on_curve = False
    address = segwit_address(1, x, "regtest")
    if on_curve:
        assert validate_address(address, "regtest").kind == "p2tr"
    else:
        with pytest.raises(AddressError, match="nobody can spend"):
            validate_address(address, "regtest")


# --- The scripts a single key spends ----------------------------------------------------------


def test_it_lists_the_p2pkh_p2wpkh_and_p2sh_p2wpkh_scripts_of_a_key():
    # BIP49's test vector: m/49'/1'/0'/0/0 on testnet.
    key = bytes.fromhex("03a1af804ac108a8a51782198c2d034b28bf90c8803f5a53f76276fa69a4eae77f")
    p2pkh, uncompressed, p2wpkh, p2sh_p2wpkh, _, _ = key_script_pubkeys(key)
    assert p2wpkh.hex() == "0014" + "38971f73930f6c141d977ac4fd4a727c854935b3"
    assert p2sh_p2wpkh.hex() == "a914336caa13e08b96080a32b5d818d59b4ab3b3674287"
    assert base58_address("p2sh", p2sh_p2wpkh[2:22], "testnet") == (
        "2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2"
    )
    assert p2pkh == b"\x76\xa9\x14" + hash160(key) + b"\x88\xac"
    full = coincurve.PublicKey(key).format(compressed=False)
    assert uncompressed == b"\x76\xa9\x14" + hash160(full) + b"\x88\xac"
    # BIP84's test vector: m/84'/0'/0'/0/0.
    key = bytes.fromhex("0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c")
    p2wpkh = key_script_pubkeys(key)[2]
    assert segwit_address(0, p2wpkh[2:], "mainnet") == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"


def test_it_lists_the_taproot_scripts_of_a_key():
    # BIP86's test vector: m/86'/0'/0'/0/0, internal key cc8a4b..., output key a60869...
    internal = bytes.fromhex("cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115")
    output = "a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c"
    assert taproot_output_key(internal).hex() == output
    for prefix in (b"\x02", b"\x03"):  # the internal key is x-only: either parity is the key
        scripts = key_script_pubkeys(prefix + internal)
        assert scripts[4] == b"\x51\x20" + internal
        assert scripts[5].hex() == "5120" + output
    assert segwit_address(1, bytes.fromhex(output), "mainnet") == (
        "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
    )


def test_it_lists_no_script_for_what_is_not_a_compressed_key():
    with pytest.raises(ValueError, match=re.escape("33 bytes")):
        key_script_pubkeys(b"\x02" * 20)
