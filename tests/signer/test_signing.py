"""Signing: the signer's own transaction parser, BIP143 digests, signatures, and sign_request
end to end, up to a withdrawal that m signers sign and a bcoin regtest node accepts.

The references are independent of the signer: BIP143's published vectors, python-bitcoinlib
(SignatureHash, CTransaction) and the portal's mappings.chains.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import timedelta

import coincurve
import pytest
from bitcoin.core import (
    CBlock,
    CMutableTransaction,
    CMutableTxIn,
    COutPoint,
    CTransaction,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    b2lx,
)
from bitcoin.core.script import SIGVERSION_WITNESS_V0, CScript, CScriptWitness, SignatureHash
from hypothesis import given, settings
from hypothesis import strategies as st

from chains.bitcoin import bech32
from chains.bitcoin.addresses import hash160, segwit_address, witness_script_pubkey
from chains.bitcoin.bech32 import Encoding
from chains.bitcoin.federation import deposit_witness_script, federation_witness_script, threshold
from chains.bitcoin.spend import federation_witness
from signer import bitcoin, policy, script
from signer.address import AddressError, OtherNetworkError, script_pubkey
from signer.bitcoin import TxError, parse_tx, signature_hash
from signer.journal import Journal, Spend
from signer.policy import SignerConfig, review
from signer.signing import sign_request
from tests.bitcoin_node import start_bcoin
from tests.signer.withdrawals import (
    CAROL,
    DAVE,
    DEPOSIT_SCRIPT,
    ERIN,
    NOW,
    SON_KEYS,
    SON_SECRETS,
    TIMELOCK,
    USER_KEY,
    WALLET_SCRIPT,
    Coin,
    Draft,
    History,
    config,
    pubkey,
    secret,
)
from tests.signer.withdrawals import script_pubkey as portal_script_pubkey

# --- BIP143's published vectors ----------------------------------------------------------------

P2WSH_TX = (
    "0100000002fe3dc9208094f3ffd12645477b3dc56f60ec4fa8e6f5d67c565d1c6b9216b36e0000000000ffffffff"
    "0815cf020f013ed6cf91d29f4202e8a58726b1ac6c79da47c23d1bee0a6925f80000000000ffffffff0100f2052a"
    "010000001976a914a30741f8145e5acadf23f751864167f32e0963f788ac00000000"
)
P2WSH_ACP_TX = (
    "0100000002e9b542c5176808107ff1df906f46bb1f2583b16112b95ee5380665ba7fcfc0010000000000ffffffff"
    "80e68831516392fcd100d186b3c2c7b95c80b53c77e77c35ba03a66b429a2a1b0000000000ffffffff0280969800"
    "000000001976a914de4b231626ef508c9a74a8517e6783c0546d6b2888ac80969800000000001976a9146648a8cd"
    "4531e1ec47f35916de8e259237294d1e88ac00000000"
)
P2WPKH_TX = (
    "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffffff"
    "ef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206"
    "000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42db"
    "ee7e4dbe6a21b2d50ce2f0167faa815988ac11000000"
)
MULTISIG_TX = (
    "010000000136641869ca081e70f394c6948e8af409e18b619df2ed74aa106c1ca29787b96e0100000000ffffffff"
    "0200e9a435000000001976a914389ffce9cd9ae88dcc0631e88a821ffdbe9bfe2688acc0832f05000000001976a9"
    "147480a33f950689af511e6e84c138dbbd3c3ee41588ac00000000"
)
# 6-of-6 CHECKMULTISIG, the shape of the federation's own scripts.
MULTISIG_SCRIPT = (
    "56210307b8ae49ac90a048e9b53357a2354b3334e9c8bee813ecb98e99a7e07e8c3ba32103b28f0c28bfab5455"
    "4ae8c658ac5c3e0ce6e79ad336331f78c428dd43eea8449b21034b8113d703413d57761b8b9781957b8c0ac1df"
    "e69f492580ca4195f50376ba4a21033400f6afecb833092a9a21cfdf1ed1376e58c5d1f47de74683123987e967"
    "a8f42103a6d48b1131e94ba04d9737d61acdaa1322008af9602b3b14862c07a1789aac162102d8b661b0b3302e"
    "e2f162b09e07a55ad5dfbe673a9f01d9f0c19617681024306b56ae"
)
P2WSH_KEY_A = "026dccc749adc2a9d0d89497ac511f760f45c47dc5ed9cf352a58ac706453880ae"
P2WSH_KEY_B = "0255a9626aebf5e29c0e6538428ba0d1dcf6ca98ffdf086aa8ced5e0d0215ea465"
ACP_KEY = "0392972e2eb617b2388771abe27235fd5ac44af8e61693261550447a4c3e39da98"

# (tx, input, scriptCode, amount, hash type, sighash, private key, signature)
BIP143_VECTORS = {
    "native P2WSH, SINGLE without its output": (
        P2WSH_TX,
        1,
        f"21{P2WSH_KEY_A}adab21{P2WSH_KEY_B}ac",
        4_900_000_000,
        0x03,
        "82dde6e4f1e94d02c2b7ad03d2115d691f48d064e9d52f58194a6637e4194391",
        "8e02b539b1500aa7c81cf3fed177448a546f19d2be416c0c61ff28e577d8d0cd",
        "3044022027dc95ad6b740fe5129e7e62a75dd00f291a2aeb1200b84b09d9e3789406b6c002201a9ecd315dd6"
        "a0e632ab20bbb98948bc0c6fb204f2c286963bb48517a7058e2703",
    ),
    "native P2WSH, after CODESEPARATOR": (
        P2WSH_TX,
        1,
        f"21{P2WSH_KEY_B}ac",
        4_900_000_000,
        0x03,
        "fef7bd749cce710c5c052bd796df1af0d935e59cea63736268bcbe2d2134fc47",
        "86bf2ed75935a0cbef03b89d72034bb4c189d381037a5ac121a70016db8896ec",
        "304402200de66acf4527789bfda55fc5459e214fa6083f936b430a762c629656216805ac0220396f550692cd"
        "347171cbc1ef1f51e15282e837bb2b30860dc77c8f78bc8501e503",
    ),
    "native P2WSH, SINGLE|ANYONECANPAY, input 0": (
        P2WSH_ACP_TX,
        0,
        f"0063ab6821{ACP_KEY}ac",
        16_777_215,
        0x83,
        "e9071e75e25b8a1e298a72f0d2e9f4f95a0f5cdf86a533cda597eb402ed13b3a",
        "f52b3484edd96598e02a9c89c4492e9c1e2031f471c49fd721fe68b3ce37780d",
        "3045022100f6a10b8604e6dc910194b79ccfc93e1bc0ec7c03453caaa8987f7d6c3413566002206216229ede"
        "9b4d6ec2d325be245c5b508ff0339bf1794078e20bfe0babc7ffe683",
    ),
    "native P2WSH, SINGLE|ANYONECANPAY, input 1": (
        P2WSH_ACP_TX,
        1,
        f"6821{ACP_KEY}ac",
        16_777_215,
        0x83,
        "cd72f1f1a433ee9df816857fad88d8ebd97e09a75cd481583eb841c330275e54",
        "f52b3484edd96598e02a9c89c4492e9c1e2031f471c49fd721fe68b3ce37780d",
        "30440220032521802a76ad7bf74d0e2c218b72cf0cbc867066e2e53db905ba37f130397e02207709e2188ed7"
        "f08f4c952d9d13986da504502b8c3be59617e043552f506c46ff83",
    ),
    "native P2WPKH, ALL": (
        P2WPKH_TX,
        1,
        "76a9141d0f172a0ecb48aee1be1f2687d2963ae33f71a188ac",
        600_000_000,
        0x01,
        "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670",
        "619c335025c7f4012e556c2a58b2506e30b8511b53ade95ea316fd8c3286feb9",
        "304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c4518"
        "331561406f90300e8f3358f51928d43c212a8caed02de67eebee01",
    ),
    "6-of-6 multisig, ALL": (
        MULTISIG_TX,
        0,
        MULTISIG_SCRIPT,
        987_654_321,
        0x01,
        "185c0be5263dce5b4bb50a047973c1b6272bfbd0103a89444597dc40b248ee7c",
        "730fff80e1413068a05b57d6a58261f07551163369787f349438ea38ca80fac6",
        "304402206ac44d672dac41f9b00e28f4df20c52eeb087207e8d758d76d92c6fab3b73e2b0220367750dbbe19"
        "290069cba53d096f44530e4f98acaa594810388cf7409a1870ce01",
    ),
    "6-of-6 multisig, NONE": (
        MULTISIG_TX,
        0,
        MULTISIG_SCRIPT,
        987_654_321,
        0x02,
        "e9733bc60ea13c95c6527066bb975a2ff29a925e80aa14c213f686cbae5d2f36",
        "11fa3d25a17cbc22b29c44a484ba552b5a53149d106d3d853e22fdd05a2d8bb3",
        "3044022068c7946a43232757cbdf9176f009a928e1cd9a1a8c212f15c1e11ac9f2925d9002205b75f937ff2f"
        "9f3c1246e547e54f62e027f64eefa2695578cc6432cdabce271502",
    ),
    "6-of-6 multisig, SINGLE": (
        MULTISIG_TX,
        0,
        MULTISIG_SCRIPT,
        987_654_321,
        0x03,
        "1e1f1c303dc025bd664acb72e583e933fae4cff9148bf78c157d1e8f78530aea",
        "77bf4141a87d55bdd7f3cd0bdccf6e9e642935fec45f2f30047be7b799120661",
        "3044022059ebf56d98010a932cf8ecfec54c48e6139ed6adb0728c09cbe1e4fa0915302e022007cd986c8fa8"
        "70ff5d2b3a89139c9fe7e499259875357e20fcbb15571c76795403",
    ),
    "6-of-6 multisig, ALL|ANYONECANPAY": (
        MULTISIG_TX,
        0,
        MULTISIG_SCRIPT,
        987_654_321,
        0x81,
        "2a67f03e63a6a422125878b40b82da593be8d4efaafe88ee528af6e5a9955c6e",
        "14af36970f5025ea3e8b5542c0f8ebe7763e674838d08808896b63c3351ffe49",
        "3045022100fbefd94bd0a488d50b79102b5dad4ab6ced30c4069f1eaa69a4b5a763414067e02203156c6a5c9"
        "cf88f91265f5a942e96213afae16d83321c8b31bb342142a14d16381",
    ),
    "6-of-6 multisig, NONE|ANYONECANPAY": (
        MULTISIG_TX,
        0,
        MULTISIG_SCRIPT,
        987_654_321,
        0x82,
        "781ba15f3779d5542ce8ecb5c18716733a5ee42a6f51488ec96154934e2c890a",
        "fe9a95c19eef81dde2b95c1284ef39be497d128e2aa46916fb02d552485e0323",
        "3045022100a5263ea0553ba89221984bd7f0b13613db16e7a70c549a86de0cc0444141a407022005c360ef0a"
        "e5a5d4f9f2f87a56c1546cc8268cab08c73501d6b3be2e1e1a8a0882",
    ),
}


@pytest.mark.parametrize("vector", BIP143_VECTORS.values(), ids=BIP143_VECTORS.keys())
def test_it_computes_bip143s_published_digests_and_signatures(vector):
    tx_hex, index, script_code, amount, hash_type, sighash, secret_hex, signature = vector
    tx = parse_tx(bytes.fromhex(tx_hex))
    digest = signature_hash(tx, index, bytes.fromhex(script_code), amount, hash_type)
    assert digest.hex() == sighash
    # RFC 6979: the signature is the one the BIP published (its last byte is the hash type).
    der = bitcoin.sign(digest, coincurve.PrivateKey(bytes.fromhex(secret_hex)))[:-1]
    assert der.hex() == signature[:-2]


# --- our parser and digest against python-bitcoinlib --------------------------------------------

scripts = st.binary(max_size=60)
txins = st.tuples(st.binary(min_size=32, max_size=32), st.integers(0, 2**32 - 1), scripts)
txouts = st.tuples(st.integers(0, bitcoin.MAX_MONEY), scripts)


@st.composite
def transactions(draw) -> CMutableTransaction:
    return CMutableTransaction(
        [
            CMutableTxIn(COutPoint(txid, vout), CScript(script_sig), nSequence=sequence)
            for (txid, vout, script_sig), sequence in draw(
                st.lists(st.tuples(txins, st.integers(0, 2**32 - 1)), min_size=1, max_size=5)
            )
        ],
        [
            CTxOut(amount, CScript(spk))
            for amount, spk in draw(st.lists(txouts, min_size=1, max_size=300))
        ],
        # python-bitcoinlib's SignatureHash packs the lock time as a signed 32-bit number
        nLockTime=draw(st.integers(0, 2**31 - 1)),
        nVersion=draw(st.integers(0, 2**31 - 1)),
    )


@settings(max_examples=150)
@given(tx=transactions(), data=st.data())
def test_it_parses_and_hashes_transactions_like_python_bitcoinlib(tx, data):
    raw = tx.serialize()
    parsed = parse_tx(raw)
    assert parsed.txid == b2lx(tx.GetTxid())
    assert parsed.locktime == tx.nLockTime and parsed.version == tx.nVersion
    assert [(o.amount, o.script_pubkey) for o in parsed.outputs] == [
        (o.nValue, bytes(o.scriptPubKey)) for o in tx.vout
    ]
    assert [(i.txid, i.vout, i.sequence) for i in parsed.inputs] == [
        (b2lx(i.prevout.hash), i.prevout.n, i.nSequence) for i in tx.vin
    ]
    index = data.draw(st.integers(0, len(tx.vin) - 1))
    script_code = data.draw(st.binary(max_size=300))
    amount = data.draw(st.integers(0, bitcoin.MAX_MONEY))
    hash_type = data.draw(st.sampled_from([0x01, 0x02, 0x03, 0x81, 0x82, 0x83]))
    expected = SignatureHash(
        CScript(script_code), tx, index, hash_type, amount, SIGVERSION_WITNESS_V0
    )
    assert signature_hash(parsed, index, script_code, amount, hash_type) == expected


@settings(max_examples=60)
@given(tx=transactions(), data=st.data())
def test_it_hashes_all_inputs_at_once_like_python_bitcoinlib_one_by_one(tx, data):
    spent = [
        (data.draw(st.binary(max_size=120)), data.draw(st.integers(0, bitcoin.MAX_MONEY)))
        for _ in tx.vin
    ]
    expected = [
        SignatureHash(CScript(code), tx, index, 1, amount, SIGVERSION_WITNESS_V0)
        for index, (code, amount) in enumerate(spent)
    ]
    assert bitcoin.signature_hashes(parse_tx(tx.serialize()), spent) == expected


@settings(max_examples=150)
@given(tx=transactions(), flip=st.tuples(st.integers(0, 10_000), st.integers(1, 255)))
def test_it_reads_a_previous_transactions_outputs_as_strictly_as_a_whole_transaction(tx, flip):
    raw = bytearray(tx.serialize())
    assert bitcoin.parse_outputs(bytes(raw)) == parse_tx(bytes(raw)).outputs
    position, mask = flip
    raw[position % len(raw)] ^= mask  # either both read it, the same, or both refuse it
    try:
        expected = parse_tx(bytes(raw), script_limit=bitcoin.MAX_TX_BYTES).outputs
    except TxError:
        with pytest.raises(TxError):
            bitcoin.parse_outputs(bytes(raw))
    else:
        assert bitcoin.parse_outputs(bytes(raw)) == expected


VALID = Draft().tx().serialize().hex()


@pytest.mark.parametrize(
    "raw",
    [
        "",
        VALID[:-2],  # cut short
        VALID + "00",  # a trailing byte
        VALID[:8] + "0001" + VALID[8:],  # segwit marker and flag (a witness section)
        VALID[:8] + "00" + VALID[10:],  # no inputs
        VALID[:8] + "fd0200" + VALID[10:],  # 2 inputs, non-canonically as a 3-byte number
        VALID[:8] + "ff" + "ff" * 8 + VALID[10:],  # an absurd input count
    ],
    ids=["empty", "short", "trailing", "witness", "no inputs", "non-canonical", "huge"],
)
def test_it_refuses_bytes_that_are_not_an_unsigned_transaction(raw):
    with pytest.raises(TxError):
        parse_tx(bytes.fromhex(raw))


def test_it_refuses_an_output_worth_more_than_all_bitcoins():
    tx = Draft().tx()
    tx.vout[0] = CTxOut(bitcoin.MAX_MONEY + 1, tx.vout[0].scriptPubKey)
    with pytest.raises(TxError, match="more than all bitcoins"):
        parse_tx(tx.serialize())


def test_it_refuses_a_transaction_larger_than_standard():
    with pytest.raises(TxError, match="too large"):
        parse_tx(bytes(bitcoin.MAX_TX_BYTES + 1))


# --- addresses and scripts against the portal's implementation ----------------------------------


@settings(max_examples=100)
@given(
    version=st.integers(0, 16),
    program=st.binary(min_size=2, max_size=40),
    network=st.sampled_from(["mainnet", "testnet", "regtest"]),
)
def test_it_reads_segwit_addresses_like_the_portal(version, program, network):
    if version == 0 and len(program) not in (20, 32):
        program = program[:20].ljust(20, b"\0")
    # Decoding only: which of these a withdrawal may pay is the policy's (BAD_DESTINATION).
    address = segwit_address(version, program, network)
    assert script_pubkey(address, network) == witness_script_pubkey(version, program)
    assert script_pubkey(address.upper(), network) == witness_script_pubkey(version, program)


@pytest.mark.parametrize("address", [CAROL, DAVE, ERIN, "2N2JD6wb56AfK4tfmM6PwdVmoYk2dCKf4Br"])
def test_it_reads_the_addresses_the_tests_pay_to(address):
    assert script_pubkey(address, "regtest") == portal_script_pubkey(address)


def test_it_reads_base58_testnet_addresses_on_regtest_which_shares_their_prefixes():
    assert script_pubkey(DAVE, "testnet") == script_pubkey(DAVE, "regtest")
    with pytest.raises(OtherNetworkError):
        script_pubkey(CAROL, "testnet")  # bech32 prefixes differ: bcrt1 vs tb1


BECH32_V1 = bech32.encode("bcrt", [1, *bech32.to_words(bytes(32))], Encoding.BECH32)


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", OtherNetworkError),  # BIP173, mainnet
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", OtherNetworkError),  # mainnet P2PKH
        (CAROL[:-1] + ("q" if CAROL[-1] != "q" else "p"), AddressError),  # bad checksum
        (CAROL[:8].upper() + CAROL[8:], AddressError),  # mixed case
        (BECH32_V1, AddressError),  # BIP350: version 1 with the old checksum
        (DAVE[:-1] + ("1" if DAVE[-1] != "1" else "2"), AddressError),  # bad base58 checksum
        ("", AddressError),
        ("x" * 91, AddressError),
        ("bcrt1\u00e9", AddressError),
    ],
)
def test_it_refuses_what_is_not_an_address_of_its_network(address, error):
    with pytest.raises(error):
        script_pubkey(address, "regtest")


@pytest.mark.parametrize("n", range(1, 21))
def test_it_builds_the_portals_federation_scripts(n):
    keys = [pubkey(secret(f"key-{i}")) for i in range(n)]
    assert script.threshold(n) == threshold(n)
    assert script.wallet_script(keys) == federation_witness_script(keys)
    assert script.deposit_script(keys, USER_KEY, TIMELOCK) == deposit_witness_script(
        keys, USER_KEY, TIMELOCK
    )
    found = script.classify(
        deposit_witness_script(keys, USER_KEY, TIMELOCK),
        federation=keys,
        own_key=keys[-1],
        timelock=TIMELOCK,
    )
    assert found == script.FederationScript(tuple(sorted(keys)), is_deposit=True)


SCRIPT_VARIANTS = [
    WALLET_SCRIPT,
    DEPOSIT_SCRIPT,
    deposit_witness_script(SON_KEYS, pubkey(secret("another user")), TIMELOCK),
    deposit_witness_script(SON_KEYS, USER_KEY, TIMELOCK + 1),
    DEPOSIT_SCRIPT.replace(USER_KEY, SON_KEYS[1]),  # a SON key as the user's
    DEPOSIT_SCRIPT.replace(USER_KEY, b"\x02" + bytes(32)),  # not a point
    DEPOSIT_SCRIPT.replace(USER_KEY, b"\x04" + USER_KEY[1:]),  # not a compressed key
    DEPOSIT_SCRIPT + b"\x00",
    DEPOSIT_SCRIPT[:-1],
    federation_witness_script(SON_KEYS[:2]),
    deposit_witness_script(SON_KEYS[1:], USER_KEY, TIMELOCK),
]


@pytest.mark.parametrize("witness_script", SCRIPT_VARIANTS)
def test_its_byte_comparison_of_known_scripts_agrees_with_reading_them(witness_script):
    cfg = config()
    expected = script.classify(
        witness_script,
        federation=cfg.federation_keys,
        own_key=cfg.own_key,
        timelock=cfg.deposit_timelock,
    )
    assert policy._classify(witness_script, cfg) == expected


@settings(max_examples=200)
@given(position=st.integers(0, len(DEPOSIT_SCRIPT) - 1), mask=st.integers(1, 255))
def test_its_byte_comparison_agrees_with_reading_any_altered_deposit_script(position, mask):
    altered = bytearray(DEPOSIT_SCRIPT)
    altered[position] ^= mask
    cfg = config()
    expected = script.classify(
        bytes(altered), federation=cfg.federation_keys, own_key=cfg.own_key, timelock=TIMELOCK
    )
    assert policy._classify(bytes(altered), cfg) == expected


# --- sign_request ---------------------------------------------------------------------------


@pytest.fixture
def journal(tmp_path):
    with Journal(tmp_path / "journal.sqlite") as journal:
        yield journal


def test_it_signs_every_input_with_signatures_that_verify(journal):
    draft = Draft()
    answer = sign_request(draft.request(), config(), journal, NOW)
    assert set(answer) == {"request_id", "signatures"}
    assert answer["request_id"] == "stx-1"
    tx = draft.tx()
    for index, (entry, coin) in enumerate(zip(answer["signatures"], draft.coins, strict=True)):
        assert entry["input"] == index
        assert entry["pubkey"] == SON_KEYS[0].hex()
        signature = bytes.fromhex(entry["signature"])
        assert signature[-1] == bitcoin.SIGHASH_ALL
        digest = SignatureHash(
            CScript(coin.witness_script), tx, index, 1, coin.amount, SIGVERSION_WITNESS_V0
        )
        assert coincurve.PublicKey(SON_KEYS[0]).verify(signature[:-1], digest, hasher=None)
        assert _low_s(signature[:-1])


def test_it_raises_rather_than_refuses_when_its_journal_cannot_be_read(tmp_path):
    # A refusal is final at the portal; an unreadable journal is a passing fault to retry.
    journal = Journal(tmp_path / "journal.sqlite")
    journal.close()
    with pytest.raises(sqlite3.Error):
        sign_request(Draft().request(), config(), journal, NOW)


def test_it_returns_the_same_signatures_for_the_same_request_even_after_a_restart(tmp_path):
    path = tmp_path / "journal.sqlite"
    with Journal(path) as journal:
        first = sign_request(Draft().request(), config(), journal, NOW)
        assert sign_request(Draft().request(), config(), journal, NOW) == first
    with Journal(path) as reopened:
        assert sign_request(Draft().request(), config(), reopened, NOW) == first
    # Deterministic (RFC 6979): a fresh journal signs the same bytes again.
    with Journal(tmp_path / "other.sqlite") as other:
        assert sign_request(Draft().request(), config(), other, NOW) == first


def test_it_completes_a_request_whose_intent_was_recorded_before_a_crash(tmp_path, monkeypatch):
    path = tmp_path / "journal.sqlite"
    with Journal(path) as journal:
        expected = sign_request(Draft().request(), config(), journal, NOW)
    with sqlite3.connect(path) as db:  # as if the process died between intent and signatures
        db.execute("UPDATE requests SET signatures = NULL, signed_at = NULL")
    with Journal(path) as journal:
        assert sign_request(Draft().request(), config(), journal, NOW) == expected
        assert journal.already_signed(_spend(Draft())) == expected["signatures"]


def test_it_signs_a_fee_bump_with_the_same_payouts_and_outpoints(journal):
    sign_request(Draft().request(), config(), journal, NOW)
    bump = Draft(id="stx-2", fee=9_000, fee_bump_of="stx-1")
    answer = sign_request(bump.request(), config(), journal, NOW)
    assert "signatures" in answer, answer
    # and a bump of the bump
    again = Draft(id="stx-3", fee=12_000, fee_bump_of="stx-2")
    assert "signatures" in sign_request(again.request(), config(), journal, NOW)


def test_it_estimates_the_signed_size_from_above_and_closely(tmp_path):
    draft = Draft()
    verdict, reviewed = review(draft.request(), config(), History(), NOW)
    assert verdict.ok and reviewed is not None
    signers = [config(0), config(2)]
    answers = [_answers(draft, signer, tmp_path) for signer in signers]
    actual = _vsize(_assemble(draft, signers, answers))
    # 73 bytes are assumed per signature, ours have at most 72: 4 signatures, 1 vbyte of slack.
    assert actual <= reviewed.vsize <= actual + 1


def test_it_refuses_rather_than_crashes_when_the_policy_has_a_bug(journal, monkeypatch, caplog):
    def broken(*args):
        raise KeyError("a bug")

    monkeypatch.setattr("signer.signing.review", broken)
    answer = sign_request(Draft().request(), config(), journal, NOW)
    assert answer == {"request_id": "stx-1", "refused": True, "reasons": ["INTERNAL_ERROR"]}
    assert "the policy failed on request stx-1" in caplog.text
    assert journal.paid_since(NOW - timedelta(days=1)) == 0


@pytest.mark.parametrize(
    ("document", "request_id"),
    [({"id": "stx-9", "version": 7}, "stx-9"), ({"id": "no spaces, please"}, None), ([], None)],
)
def test_it_names_the_request_it_refuses_when_it_can(journal, document, request_id):
    assert sign_request(document, config(), journal, NOW)["request_id"] == request_id


def test_it_refuses_a_configuration_it_cannot_sign_with():
    with pytest.raises(ValueError, match="own key is not one of the federation keys"):
        config(private_key=coincurve.PrivateKey(secret("stranger")))
    with pytest.raises(ValueError, match="distinct keys"):
        config(federation_keys=(SON_KEYS[0], SON_KEYS[0]))
    with pytest.raises(ValueError, match="timelock"):
        config(deposit_timelock=0)
    with pytest.raises(ValueError, match="network"):
        config(network="signet")
    with pytest.raises(ValueError, match="non-negative"):
        config(daily_cap=-1)
    assert "PrivateKey" not in repr(config()) and SON_SECRETS[0].hex() not in repr(config())


# --- on a bcoin regtest node ------------------------------------------------------------------

FUNDING_SECRET = secret("test_signing funding")
FUNDING_KEY = pubkey(FUNDING_SECRET)
FUNDING_SCRIPT = witness_script_pubkey(0, hash160(FUNDING_KEY))
FUNDING_ADDRESS = segwit_address(0, hash160(FUNDING_KEY), "regtest")
COINBASE_VALUE = 50 * 100_000_000


@pytest.fixture(scope="module")
def rpc():
    node = start_bcoin()
    client = node.rpc()
    client.generate_to_address(600, FUNDING_ADDRESS)  # segwit and CSV active, coinbases mature
    yield client
    client.close()
    node.stop()


_coinbase_heights = itertools.count(1)


def _fund(rpc, amounts_and_scripts: list[tuple[int, bytes]]) -> bytes:
    """Pay each (amount, witness script) as P2WSH from a mature coinbase; mined; the funding
    transaction serialized without witnesses (the previous transaction of its coins)."""
    block = CBlock.deserialize(rpc.get_block_raw(rpc.get_block_hash(next(_coinbase_heights))))
    coinbase = block.vtx[0]
    outputs = [CTxOut(amount, CScript(script.p2wsh(ws))) for amount, ws in amounts_and_scripts]
    rest = COINBASE_VALUE - sum(amount for amount, _ in amounts_and_scripts) - 10_000
    tx = CMutableTransaction(
        [CMutableTxIn(COutPoint(coinbase.GetTxid(), 0))],
        [*outputs, CTxOut(rest, CScript(FUNDING_SCRIPT))],
    )
    script_code = b"\x76\xa9\x14" + hash160(FUNDING_KEY) + b"\x88\xac"
    digest = SignatureHash(CScript(script_code), tx, 0, 1, COINBASE_VALUE, SIGVERSION_WITNESS_V0)
    signature = coincurve.PrivateKey(FUNDING_SECRET).sign(digest, hasher=None) + b"\x01"
    tx.wit = CTxWitness([CTxInWitness(CScriptWitness([signature, FUNDING_KEY]))])
    txid = rpc.send_raw_transaction(tx.serialize())
    _mine(rpc, txid)
    return CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion).serialize()


def _mine(rpc, txid: str) -> None:
    [block_hash] = rpc.generate_to_address(1, FUNDING_ADDRESS)
    block = CBlock.deserialize(rpc.get_block_raw(block_hash))
    assert txid in {b2lx(tx.GetTxid()) for tx in block.vtx}


def test_a_withdrawal_signed_by_m_signers_is_accepted_by_a_node(rpc, tmp_path):
    funding = _fund(rpc, [(100_000_000, WALLET_SCRIPT), (50_000_000, DEPOSIT_SCRIPT)])
    draft = Draft(
        coins=(
            Coin(funding, 0, 100_000_000, WALLET_SCRIPT),
            Coin(funding, 1, 50_000_000, DEPOSIT_SCRIPT),
        ),
        withdrawals=(("w-1", CAROL, 30_000_000), ("w-2", DAVE, 20_000_000), ("w-3", ERIN, 7_000)),
    )
    signers = [config(0), config(2)]  # m = 2 of 3: the first and the third SON
    answers = [_answers(draft, signer, tmp_path) for signer in signers]
    signed = _assemble(draft, signers, answers)
    txid = rpc.send_raw_transaction(signed)
    assert txid == CTransaction.deserialize(signed).GetTxid()[::-1].hex()
    _mine(rpc, txid)


def test_the_two_request_amount_attack_gets_no_signature(rpc, tmp_path):
    """Issue #9's attack on segwit v0: one unsigned transaction sent under two request ids,
    each understating a different input, so that each request's fee looks small while the
    signatures (each valid for the input told the truth about) combine into a transaction
    paying whatever the inputs hold. Amounts now come only from previous transactions, and a
    lie about one does not hash to the outpoint's txid."""
    first = _fund(rpc, [(100_000_000, WALLET_SCRIPT)])
    second = _fund(rpc, [(50_000_000, DEPOSIT_SCRIPT)])
    coins = (
        Coin(first, 0, 100_000_000, WALLET_SCRIPT),
        Coin(second, 0, 50_000_000, DEPOSIT_SCRIPT),
    )
    # Pays 50,000,000 out and 99,000,000 back: a fee of 1,000,000, ten times the cap.
    draft = Draft(coins=coins, fee=1_000_000)
    truthful = draft.request()
    signer = config(0)
    with Journal(tmp_path / "journal.sqlite") as journal:
        for n, coin in enumerate(coins):  # each request understates another input
            lie = _with_amount(coin, coin.amount - 990_000)
            request = {**truthful, "id": f"stx-{n}", "prev_txs": {**truthful["prev_txs"]}}
            request["prev_txs"][coin.txid] = lie
            assert sign_request(request, signer, journal, NOW)["reasons"] == ["PREV_TX_MISMATCH"]
            legacy = _as_version_1(request, [c.amount - 990_000 * (c is coin) for c in coins])
            assert sign_request(legacy, signer, journal, NOW)["reasons"] == ["UNKNOWN_VERSION"]
        assert sign_request(truthful, signer, journal, NOW)["reasons"] == [
            "FEE_TOO_HIGH",
            "FEERATE_TOO_HIGH",
        ]
        assert journal.paid_since(NOW - timedelta(days=1)) == 0
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM requests").fetchone() == (0,)


def test_a_signed_transaction_gets_no_other_signatures_under_another_id(rpc, tmp_path):
    """The first request's signatures are the only ones ever produced for its txid: the same
    transaction under another id is answered with them, or refused if anything differs."""
    first = _fund(rpc, [(100_000_000, WALLET_SCRIPT)])
    second = _fund(rpc, [(50_000_000, DEPOSIT_SCRIPT)])
    coins = (
        Coin(first, 0, 100_000_000, WALLET_SCRIPT),
        Coin(second, 0, 50_000_000, DEPOSIT_SCRIPT),
    )
    draft = Draft(coins=coins)
    request = draft.request()
    lie = _with_amount(coins[1], 49_000_000)
    relabelled = [{**w, "id": f"x-{w['id']}"} for w in request["withdrawals"]]
    signers = [config(0), config(1)]
    answers = []
    with Journal(tmp_path / "journal.sqlite") as journal:
        produced = sign_request(request, signers[0], journal, NOW)
        attempts = [
            ({**request, "id": "stx-2", "prev_txs": {**request["prev_txs"], coins[1].txid: lie}}),
            ({**request, "id": "stx-3", "withdrawals": relabelled}),
            ({**request, "id": "stx-4"}),
        ]
        answers = [sign_request(attempt, signers[0], journal, NOW) for attempt in attempts]
    assert answers[0]["reasons"] == ["PREV_TX_MISMATCH"]
    assert answers[1]["reasons"] == ["TX_CONTENT_MISMATCH"]
    assert answers[2] == {**produced, "request_id": "stx-4"}
    other = _answers(draft, signers[1], tmp_path)
    txid = rpc.send_raw_transaction(_assemble(draft, signers, [produced, other]))
    _mine(rpc, txid)


# --- helpers ----------------------------------------------------------------------------------


def _with_amount(coin: Coin, amount: int) -> str:
    """The coin's previous transaction with its output's amount changed: the only way left to
    understate an input, and a transaction that no longer hashes to the outpoint's txid."""
    tx = CMutableTransaction.from_tx(CTransaction.deserialize(coin.prev_tx))
    tx.vout[coin.vout].nValue = amount
    return tx.serialize().hex()


def _as_version_1(request: dict, amounts: list[int]) -> dict:
    """The same lie in the earlier format, which let inputs claim their amounts."""
    inputs = [
        {**claim, "amount": amount}
        for claim, amount in zip(request["inputs"], amounts, strict=True)
    ]
    legacy = {key: value for key, value in request.items() if key != "prev_txs"}
    return {**legacy, "version": 1, "inputs": inputs}


def _assemble(draft: Draft, configs: list[SignerConfig], answers: list[dict]) -> bytes:
    """The finished transaction: each input's witness from the signers' answers, through the
    portal's own witness builder."""
    tx = draft.tx()
    witnesses = []
    for index, coin in enumerate(draft.coins):
        signatures = {
            cfg.own_key: bytes.fromhex(answer["signatures"][index]["signature"])
            for cfg, answer in zip(configs, answers, strict=True)
        }
        stack = federation_witness(coin.witness_script, signatures)
        witnesses.append(CTxInWitness(CScriptWitness(stack)))
    tx.wit = CTxWitness(witnesses)
    return tx.serialize()


def _answers(draft: Draft, signer: SignerConfig, folder) -> dict:
    with Journal(folder / f"{signer.own_key.hex()}.sqlite") as journal:
        return sign_request(draft.request(), signer, journal, NOW)


def _vsize(raw: bytes) -> int:
    """BIP141: weight = 3 x size without witnesses + total size; vsize rounds weight / 4 up."""
    tx = CTransaction.deserialize(raw)
    stripped = CTransaction(tx.vin, tx.vout, tx.nLockTime, tx.nVersion).serialize()
    return (3 * len(stripped) + len(raw) + 3) // 4


def _spend(draft: Draft) -> Spend:
    _, reviewed = review(draft.request(), config(), History(), NOW)
    assert reviewed is not None
    return Spend.of(reviewed)


def _low_s(der: bytes) -> bool:
    r_length = der[3]
    s = int.from_bytes(der[6 + r_length :], "big")
    return s <= 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2
