"""Bitcoin address and public key validation (chains.bitcoin.addresses, bech32, base58).

Vectors: BIP173 and BIP350 "Test vectors" sections (bitcoin/bips bip-0173.mediawiki,
bip-0350.mediawiki), all of them; base58 addresses from Bitcoin Core's
src/test/data/key_io_valid.json.
"""

import re

import coincurve
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chains.bitcoin import base58, bech32
from chains.bitcoin.addresses import (
    NETWORKS,
    AddressError,
    PublicKeyError,
    base58_address,
    decode_address,
    segwit_address,
    validate_address,
    validate_pubkey,
)
from chains.bitcoin.bech32 import Bech32Error, Encoding

# --- BIP173 / BIP350: the bech32 and bech32m codecs, any HRP ---------------------------------

BIP173_VALID_BECH32 = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]

BIP350_VALID_BECH32M = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]

HRP_OUT_OF_RANGE = "cannot be part of it"
TOO_LONG = "too long"
NO_SEPARATOR = "no '1'"
EMPTY_HRP = "nothing before"
BAD_DATA_CHARACTER = "which bech32 does not use"
SHORT_CHECKSUM = "too short"
BAD_CHECKSUM = "checksum does not match"

# (string, a fragment of our message for the reason the BIP gives)
BIP173_INVALID_BECH32 = [
    ("\x20" + "1nwldj5", HRP_OUT_OF_RANGE),
    ("\x7f" + "1axkwrx", HRP_OUT_OF_RANGE),
    ("\x80" + "1eym55h", HRP_OUT_OF_RANGE),
    (
        "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
        TOO_LONG,
    ),
    ("pzry9x0s0muk", NO_SEPARATOR),
    ("1pzry9x0s0muk", EMPTY_HRP),
    ("x1b4n0q5v", BAD_DATA_CHARACTER),
    ("li1dgmt3", SHORT_CHECKSUM),
    ("de1lg7wt" + "\xff", HRP_OUT_OF_RANGE),  # invalid character in checksum
    ("A1G7SGD8", BAD_CHECKSUM),  # checksum calculated with uppercase form of HRP
    ("10a06t8", EMPTY_HRP),
    ("1qzzfhee", EMPTY_HRP),
]

BIP350_INVALID_BECH32M = [
    ("\x20" + "1xj0phk", HRP_OUT_OF_RANGE),
    ("\x7f" + "1g6xzxy", HRP_OUT_OF_RANGE),
    ("\x80" + "1vctc34", HRP_OUT_OF_RANGE),
    (
        "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
        TOO_LONG,
    ),
    ("qyrz8wqd2c9m", NO_SEPARATOR),
    ("1qyrz8wqd2c9m", EMPTY_HRP),
    ("y1b0jsk6g", BAD_DATA_CHARACTER),
    ("lt1igcx5c0", BAD_DATA_CHARACTER),
    ("in1muywd", SHORT_CHECKSUM),
    ("mm1crxm3i", BAD_DATA_CHARACTER),  # invalid character in checksum
    ("au1s5cgom", BAD_DATA_CHARACTER),  # invalid character in checksum
    ("M1VUXWEZ", BAD_CHECKSUM),  # checksum calculated with uppercase form of HRP
    ("16plkw9", EMPTY_HRP),
    ("1p2gdwpf", EMPTY_HRP),
]


@pytest.mark.parametrize("text", BIP173_VALID_BECH32)
def test_it_decodes_the_bip173_bech32_strings(text):
    hrp, data, encoding = bech32.decode(text)
    assert encoding is Encoding.BECH32
    assert bech32.encode(hrp, data, encoding) == text.lower()


@pytest.mark.parametrize("text", BIP350_VALID_BECH32M)
def test_it_decodes_the_bip350_bech32m_strings(text):
    hrp, data, encoding = bech32.decode(text)
    assert encoding is Encoding.BECH32M
    assert bech32.encode(hrp, data, encoding) == text.lower()


@pytest.mark.parametrize(("text", "reason"), BIP173_INVALID_BECH32 + BIP350_INVALID_BECH32M)
def test_it_rejects_the_bip173_and_bip350_invalid_strings_for_their_reason(text, reason):
    with pytest.raises(Bech32Error, match=re.escape(reason)):
        bech32.decode(text)


def test_it_rejects_mixed_case():
    with pytest.raises(Bech32Error, match="mixes upper and lower case"):
        bech32.decode("A12uEL5L")


@given(
    data=st.lists(st.integers(0, 31), max_size=40),
    encoding=st.sampled_from(Encoding),
    position=st.integers(0, 45),
    shift=st.integers(1, 31),
)
def test_it_detects_any_single_substituted_character(data, encoding, position, shift):
    text = bech32.encode("bc", data, encoding)
    position = 3 + position % (len(text) - 3)  # somewhere after "bc1"
    value = (bech32.CHARSET.index(text[position]) + shift) % 32
    typo = text[:position] + bech32.CHARSET[value] + text[position + 1 :]
    with pytest.raises(Bech32Error, match="checksum does not match"):
        bech32.decode(typo)


# --- BIP173 / BIP350: segwit addresses -------------------------------------------------------

NETWORK_OF_HRP = {"bc": "mainnet", "tb": "testnet", "bcrt": "regtest"}

# BIP350's list, which replaces BIP173's for versions 1 and up.
VALID_SEGWIT = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    (
        "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
]

# BIP173's valid v0 addresses are among BIP350's; its v1+ ones use bech32, which BIP350 forbids.
BIP173_V1_PLUS_BECH32 = [
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
    "BC1SW50QA3JX3S",
    "bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj",
]

# (address, a fragment of the message naming the BIP's reason)
BIP173_INVALID_SEGWIT = [
    ("tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", "not a Bitcoin address"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "checksum does not match"),
    ("BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", "invalid witness version"),
    ("bc1rw5uspcuh", "1 bytes; it must be 2 to 40"),
    (
        "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",
        "41 bytes; it must be 2 to 40",
    ),
    ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "version 0 witness program is 16 bytes"),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7", "mixes upper and lower"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", "superfluous character"),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv", "stray bits"),
    ("bc1gmk9yu", "no witness version"),
]

BIP350_INVALID_SEGWIT = [
    ("tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", "not a Bitcoin address"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "old-style bech32"),
    ("tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf", "old-style bech32"),
    ("BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", "old-style bech32"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "version 0 but has a bech32m checksum"),
    (
        "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
        "version 0 but has a bech32m checksum",
    ),
    ("bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", "'o'"),
    ("BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", "invalid witness version"),
    ("bc1pw5dgrnzv", "1 bytes; it must be 2 to 40"),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
        "41 bytes; it must be 2 to 40",
    ),
    ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "version 0 witness program is 16 bytes"),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq", "mixes upper and lower"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", "superfluous character"),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j", "stray bits"),
    ("bc1gmk9yu", "no witness version"),
]


def home_network(address: str) -> str:
    return NETWORK_OF_HRP.get(address.lower().rpartition("1")[0], "mainnet")


@pytest.mark.parametrize(("address", "script_hex"), VALID_SEGWIT)
def test_it_decodes_the_bip350_valid_addresses_with_their_scripts(address, script_hex):
    result = decode_address(address, home_network(address))
    assert result.script_pubkey.hex() == script_hex
    assert result.text == address.lower()
    assert result.witness_version == bytes.fromhex(script_hex)[0] % 0x50


@pytest.mark.parametrize(("address", "script_hex"), VALID_SEGWIT)
def test_it_refuses_the_valid_addresses_on_other_networks(address, script_hex):
    found = home_network(address)
    for network in set(NETWORKS) - {found}:
        with pytest.raises(AddressError) as error:
            decode_address(address, network)
        assert str(error.value) == f"This is a {found} address; the portal runs on {network}."


@pytest.mark.parametrize("address", BIP173_V1_PLUS_BECH32)
def test_it_refuses_bip173_v1_addresses_now_that_they_need_bech32m(address):
    assert bech32.decode(address)[2] is Encoding.BECH32  # valid bech32 ...
    with pytest.raises(AddressError, match="old-style bech32"):  # ... but not an address
        validate_address(address, "mainnet")


@pytest.mark.parametrize(("address", "reason"), BIP173_INVALID_SEGWIT + BIP350_INVALID_SEGWIT)
def test_it_rejects_the_bip_invalid_addresses_for_their_reason(address, reason):
    with pytest.raises(AddressError, match=re.escape(reason)):
        validate_address(address, home_network(address))
    for network in NETWORKS:
        with pytest.raises(AddressError):
            validate_address(address, network)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "p2wpkh"),
        ("bc1qyucykdlhp62tezs0hagqury402qwhk589q80tqs5myh3rxq34nwqhkdhv7", "p2wsh"),
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "p2tr"),
        ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "witness_unknown"),
        (
            "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
            "witness_unknown",
        ),
        ("bc1pfeessrawgf", "p2a"),  # Bitcoin Core 28's pay-to-anchor address
    ],
)
def test_it_classifies_segwit_addresses(address, kind):
    assert decode_address(address, "mainnet").kind == kind


@pytest.mark.parametrize(
    ("address", "network", "script_hex"),
    [  # Bitcoin Core, key_io_valid.json
        (
            "bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9",
            "regtest",
            "00146f58bac9506f9bfb821d62e69330410bb56f0085",
        ),
        (
            "bcrt1p39a4s4vdcw9kqa8w2t0rp7aj8kfxyw7mce5sk5d70x6wnnmpvt7skf2kxy",
            "regtest",
            "5120897b58558dc38b6074ee52de30fbb23d92623bdbc6690b51be79b4e9cf6162fd",
        ),
        (
            "tb1rgv5m6uvdk3kc7qsuz0c79v88ycr5w4wa",
            "testnet",
            "53104329bd718db46d8f021c13f1e2b0e726",
        ),
    ],
)
def test_it_decodes_bitcoin_core_segwit_vectors(address, network, script_hex):
    assert decode_address(address, network).script_pubkey.hex() == script_hex
    assert decode_address(address.upper(), network).script_pubkey.hex() == script_hex


# --- base58check -----------------------------------------------------------------------------

BASE58_VALID = [  # Bitcoin Core, key_io_valid.json ("testnet4" shares testnet's prefixes)
    ("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo", "mainnet", "p2pkh"),
    ("36j4NfKv6Akva9amjWrLG6MuSQym1GuEmm", "mainnet", "p2sh"),
    ("mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ", "testnet", "p2pkh"),
    ("2NC2hEhe28ULKAJkW5MjZ3jtTMJdvXmByvK", "testnet", "p2sh"),
    ("n4fajahJrAuKbN7uNsKjLjQkz9Qn5ewJXQ", "regtest", "p2pkh"),
    ("2MxFajLApXpYk4VodBSZSt7rw8y4ryABkfA", "regtest", "p2sh"),
]
BASE58_SCRIPTS = {
    "1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo": "76a914a31c06bd463e3923bc1aadbde48b16976c08071788ac",
    "36j4NfKv6Akva9amjWrLG6MuSQym1GuEmm": "a914373b819a068f32b7a6b38b6b38729647cfde01c287",
    "mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ": "76a914ce28b26c57472737f5c3561a1761185bd8589a4388ac",
    "2NC2hEhe28ULKAJkW5MjZ3jtTMJdvXmByvK": "a914ce0bba75891ff9ec60148d4bd4a09ee2dc5c933187",
    "n4fajahJrAuKbN7uNsKjLjQkz9Qn5ewJXQ": "76a914fdeca3b08e38af53d7c4c60e3ad208ce5066441088ac",
    "2MxFajLApXpYk4VodBSZSt7rw8y4ryABkfA": "a91436e9f191e0b75036a77f65e2eaa4752443233fbe87",
}


@pytest.mark.parametrize(("address", "network", "kind"), BASE58_VALID)
def test_it_accepts_base58_addresses_with_their_scripts(address, network, kind):
    result = validate_address(f"  {address}\n", network)
    assert (result.kind, result.witness_version) == (kind, None)
    assert result.script_pubkey.hex() == BASE58_SCRIPTS[address]
    assert result.text == address


def test_it_treats_testnet_and_regtest_base58_alike():
    # Both networks use version bytes 0x6f and 0xc4: a base58 address cannot say which it is.
    assert validate_address("mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ", "regtest").kind == "p2pkh"
    assert validate_address("2MxFajLApXpYk4VodBSZSt7rw8y4ryABkfA", "testnet").kind == "p2sh"


@pytest.mark.parametrize(
    ("address", "network", "message"),
    [
        (
            "1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo",
            "testnet",
            "This is a mainnet address; the portal runs on testnet.",
        ),
        (
            "36j4NfKv6Akva9amjWrLG6MuSQym1GuEmm",
            "regtest",
            "This is a mainnet address; the portal runs on regtest.",
        ),
        (
            "mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ",
            "mainnet",
            "This is a testnet or regtest address; the portal runs on mainnet.",
        ),
    ],
)
def test_it_refuses_base58_addresses_of_another_network(address, network, message):
    with pytest.raises(AddressError) as error:
        validate_address(address, network)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mp", "checksum does not match"),  # last char changed
        ("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2m", "checksum does not match"),  # truncated
        ("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mO", "not a Bitcoin address"),  # 'O' is not base58
        ("1111", "too short"),
        (base58.check_encode(b"\x00" + bytes(19)), "wrong length"),
        (base58.check_encode(b"\x30" + bytes(20)), "unknown version byte (48)"),
        # Core's key_io_valid.json: a mainnet WIF private key.
        ("L5nJeqKmpHp4P7F8ZYyjwc5a7P4d8EabuGAzfGJk7yC1BJyzNaEd", "private key"),
    ],
)
def test_it_names_the_problem_in_base58_errors(address, message):
    with pytest.raises(AddressError, match=re.escape(message)):
        validate_address(address, "mainnet")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_it_asks_for_an_address_when_given_whitespace(text):
    with pytest.raises(AddressError, match="Enter a Bitcoin address."):
        validate_address(text, "mainnet")


@pytest.mark.parametrize(
    ("text", "network", "message"),
    [
        ("hello world", "mainnet", "mainnet addresses start with bc1, 1 or 3."),
        ("0x52908400098527886E0F7030069857D2E4169EE7", "regtest", "start with bcrt1, m, n or 2"),
        ("x" * 101, "mainnet", "too long to be a Bitcoin address"),
    ],
)
def test_it_refuses_text_that_is_no_address_at_all(text, network, message):
    with pytest.raises(AddressError, match=re.escape(message)):
        validate_address(text, network)


def test_it_refuses_an_unknown_network_name():
    with pytest.raises(ValueError, match="unknown Bitcoin network"):
        validate_address("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo", "signet")


@given(
    hash160=st.binary(min_size=20, max_size=20),
    kind=st.sampled_from(["p2pkh", "p2sh"]),
    network=st.sampled_from(sorted(NETWORKS)),
)
def test_it_round_trips_base58_addresses(hash160, kind, network):
    result = decode_address(base58_address(kind, hash160, network), network)
    expected = {
        "p2pkh": b"\x76\xa9\x14" + hash160 + b"\x88\xac",
        "p2sh": b"\xa9\x14" + hash160 + b"\x87",
    }[kind]
    assert (result.kind, result.program, result.script_pubkey) == (kind, hash160, expected)


@given(
    version=st.integers(0, 16),
    program=st.binary(min_size=2, max_size=40),
    network=st.sampled_from(sorted(NETWORKS)),
)
def test_it_round_trips_segwit_addresses(version, program, network):
    if version == 0 and len(program) not in (20, 32):
        program = program[:20].ljust(20, b"\0")
    result = decode_address(segwit_address(version, program, network), network)
    opcode = 0 if version == 0 else 0x50 + version
    assert result.script_pubkey == bytes([opcode, len(program)]) + program


# --- public keys -----------------------------------------------------------------------------

KEY = coincurve.PrivateKey(bytes(31) + b"\x07").public_key


def test_it_accepts_a_compressed_public_key():
    text = KEY.format(compressed=True).hex()
    assert validate_pubkey(f" {text.upper()} ") == KEY.format(compressed=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter a public key."),
        ("02xyz", "hexadecimal"),
        ("02abc", "hexadecimal"),  # odd number of digits
        (
            KEY.format(compressed=False).hex(),
            "Use the compressed form (33 bytes, starting 02 or 03)",
        ),
        ("02" + "11" * 31, "33 bytes (66 hex digits); this one is 32 bytes"),
        ("05" + KEY.format(compressed=True).hex()[2:], "starts with 02 or 03"),
        # x = 5 has no point on secp256k1 (5^3 + 7 = 132 is not a square mod p).
        ("02" + "00" * 31 + "05", "not on the curve"),
    ],
)
def test_it_names_the_problem_in_public_key_errors(text, message):
    with pytest.raises(PublicKeyError, match=re.escape(message)):
        validate_pubkey(text)
