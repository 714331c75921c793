"""Deposit and federation scripts (chains.bitcoin.federation, script, spend).

Unit tests on the script bytes, then a fresh bcoin regtest node (module fixture, no database)
that spends derived addresses both ways: the SONs at once, the user after the timelock.
"""

import hashlib
import itertools
import re

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
from bitcoin.core.script import (
    OP_CHECKMULTISIG,
    OP_CHECKSEQUENCEVERIFY,
    OP_CHECKSIG,
    OP_DROP,
    OP_ELSE,
    OP_ENDIF,
    OP_IF,
    CScript,
    CScriptWitness,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from chains.bitcoin.addresses import (
    hash160,
    segwit_address,
    validate_address,
    witness_script_pubkey,
)
from chains.bitcoin.federation import (
    DepositScript,
    ScriptError,
    deposit_witness_script,
    describe,
    federation_witness_script,
    p2wsh_address,
    p2wsh_script_pubkey,
    parse_deposit_script,
    parse_federation_script,
    threshold,
)
from chains.bitcoin.rpc import BitcoinRPC, BitcoinRPCError
from chains.bitcoin.script import push_int, read_script_num, script_num
from chains.bitcoin.spend import (
    REFUND_TX_VERSION,
    federation_witness,
    refund_sequence,
    sign_input,
    signature_hash,
    user_witness,
)
from tests.bitcoin_node import start_bcoin


def secret(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def public_key(secret_bytes: bytes) -> bytes:
    return coincurve.PrivateKey(secret_bytes).public_key.format(compressed=True)


SON_SECRETS = [secret(f"son-{i}") for i in range(1, 5)]
SON_KEYS = [public_key(s) for s in SON_SECRETS]
USER_SECRET = secret("user_carol")
USER_KEY = public_key(USER_SECRET)


def keys(n: int) -> list[bytes]:
    return [public_key(secret(f"key-{i}")) for i in range(n)]


# --- building the scripts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "m"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4), (6, 4), (7, 5), (8, 6), (9, 6), (10, 7)]
)
def test_it_needs_all_but_a_third_of_the_sons(n, m):
    assert threshold(n) == m
    assert federation_witness_script(keys(n))[0] == 0x50 + m  # OP_m


def test_it_builds_the_script_of_the_design():
    script = deposit_witness_script(SON_KEYS[:3], USER_KEY, 144)
    a, b, c = sorted(SON_KEYS[:3])
    # python-bitcoinlib as an independent reference for the encoding.
    expected = CScript(
        [OP_IF, 2, a, b, c, 3, OP_CHECKMULTISIG]
        + [OP_ELSE, 144, OP_CHECKSEQUENCEVERIFY, OP_DROP, USER_KEY, OP_CHECKSIG, OP_ENDIF]
    )
    assert script == bytes(expected)
    assert script.hex().startswith("6352")  # OP_IF OP_2
    assert "029000b275" in script.hex()  # 144 as a 2-byte CScriptNum, then CSV DROP


def test_it_describes_the_script_for_people():
    a, b, c = sorted(SON_KEYS[:3])
    assert describe(deposit_witness_script(SON_KEYS[:3], USER_KEY, 144)) == (
        f"OP_IF OP_2 <{a.hex()}> <{b.hex()}> <{c.hex()}> OP_3 OP_CHECKMULTISIG "
        f"OP_ELSE 144 OP_CHECKSEQUENCEVERIFY OP_DROP <{USER_KEY.hex()}> OP_CHECKSIG OP_ENDIF"
    )
    assert describe(deposit_witness_script(SON_KEYS[:2], USER_KEY, 16)).count("OP_16") == 1


def test_it_builds_the_same_script_whatever_the_key_order():
    reference = deposit_witness_script(SON_KEYS, USER_KEY, 144)
    for order in itertools.permutations(SON_KEYS):
        assert deposit_witness_script(order, USER_KEY, 144) == reference
        assert federation_witness_script(order) == federation_witness_script(SON_KEYS)


@settings(max_examples=50)
@given(data=st.data(), n=st.integers(1, 20), timelock=st.integers(1, 0xFFFF))
def test_it_derives_one_address_for_any_permutation(data, n, timelock):
    son_keys = keys(n)
    shuffled = data.draw(st.permutations(son_keys))
    script = deposit_witness_script(son_keys, USER_KEY, timelock)
    assert deposit_witness_script(shuffled, USER_KEY, timelock) == script
    assert p2wsh_address(script, "regtest") == p2wsh_address(
        deposit_witness_script(shuffled, USER_KEY, timelock), "regtest"
    )
    expected = DepositScript(tuple(sorted(son_keys)), USER_KEY, timelock)
    assert parse_deposit_script(script) == expected


def test_it_derives_the_p2wsh_output_and_address():
    script = deposit_witness_script(SON_KEYS[:3], USER_KEY, 144)
    digest = hashlib.sha256(script).digest()
    assert p2wsh_script_pubkey(script) == bytes(CScript([0, digest]))
    for network, prefix in [("mainnet", "bc1q"), ("testnet", "tb1q"), ("regtest", "bcrt1q")]:
        address = p2wsh_address(script, network)
        assert address.startswith(prefix)
        decoded = validate_address(address, network)
        assert (decoded.kind, decoded.script_pubkey) == ("p2wsh", p2wsh_script_pubkey(script))


@pytest.mark.parametrize(
    ("son_keys", "user_key", "timelock", "message"),
    [
        ([], USER_KEY, 144, "1 to 20 SON keys, not 0"),
        (keys(21), USER_KEY, 144, "1 to 20 SON keys, not 21"),
        ([SON_KEYS[0], SON_KEYS[1], SON_KEYS[0]], USER_KEY, 144, "the same key twice"),
        (SON_KEYS, SON_KEYS[2], 144, "The user's key is one of the SON keys."),
        (SON_KEYS, USER_KEY, 0, "1 to 65535 blocks, not 0"),
        (SON_KEYS, USER_KEY, 65536, "1 to 65535 blocks, not 65536"),
        (SON_KEYS, USER_KEY, -1, "1 to 65535 blocks, not -1"),
        (
            [SON_KEYS[0], coincurve.PrivateKey(SON_SECRETS[1]).public_key.format(compressed=False)],
            USER_KEY,
            144,
            "SON key 2: This is an uncompressed public key. Use the compressed form",
        ),
        (SON_KEYS, USER_KEY[:32], 144, "The user's key: A compressed public key is 33 bytes"),
        (SON_KEYS, b"\x02" + bytes(31) + b"\x05", 144, "The user's key: This is not a valid"),
    ],
)
def test_it_refuses_bad_parts(son_keys, user_key, timelock, message):
    with pytest.raises(ScriptError, match=re.escape(message)):
        deposit_witness_script(son_keys, user_key, timelock)


def test_it_refuses_a_federation_without_sons():
    with pytest.raises(ScriptError, match="at least one SON"):
        threshold(0)
    with pytest.raises(ScriptError, match="1 to 20 SON keys"):
        federation_witness_script([])


@pytest.mark.parametrize(
    ("number", "encoded"),
    [(17, "11"), (127, "7f"), (128, "8000"), (144, "9000"), (255, "ff00"), (256, "0001")]
    + [(32767, "ff7f"), (32768, "008000"), (65535, "ffff00")],
)
def test_it_encodes_numbers_as_minimal_cscriptnums(number, encoded):
    assert script_num(number).hex() == encoded
    assert read_script_num(script_num(number)) == number
    assert push_int(number) == bytes(CScript([number]))


def test_it_pushes_small_numbers_as_opcodes():
    assert [push_int(n).hex() for n in (0, 1, 16)] == ["00", "51", "60"]


# --- reading scripts back --------------------------------------------------------------------


def test_it_parses_its_own_scripts():
    deposit = deposit_witness_script(SON_KEYS, USER_KEY, 10)
    assert parse_deposit_script(deposit) == DepositScript(tuple(sorted(SON_KEYS)), USER_KEY, 10)
    assert parse_deposit_script(deposit).threshold == 3
    assert parse_federation_script(federation_witness_script(SON_KEYS)) == tuple(sorted(SON_KEYS))


def not_canonical() -> list[bytes]:
    low, high = sorted(SON_KEYS[:2])
    tail = [OP_ELSE, 10, OP_CHECKSEQUENCEVERIFY, OP_DROP, USER_KEY, OP_CHECKSIG, OP_ENDIF]
    script = deposit_witness_script(SON_KEYS[:3], USER_KEY, 10)
    return [
        b"",
        b"\x63",
        bytes(CScript([OP_IF, 1, SON_KEYS[0], 1, OP_CHECKMULTISIG, *tail[:-3]])),  # cut short
        bytes(CScript([OP_IF, 2, high, low, 2, OP_CHECKMULTISIG, *tail])),  # keys out of order
        bytes(CScript([OP_IF, 2, low, high, 2, OP_CHECKMULTISIG, *tail])).replace(
            b"\x67\x5a\xb2",
            b"\x67\x01\x0a\xb2",  # 10 as a 1-byte push instead of OP_10
        ),
        script.replace(b"\x63\x52", b"\x63\x53"),  # threshold 3 instead of 2
        script + b"\x00",  # a trailing byte
        script[:-40],  # cut off inside a push
        federation_witness_script(SON_KEYS),
    ]


@pytest.mark.parametrize("script", not_canonical())
def test_it_refuses_to_parse_anything_but_a_canonical_deposit_script(script):
    with pytest.raises(ScriptError):
        parse_deposit_script(script)


def test_it_refuses_to_parse_a_deposit_script_as_a_federation_script():
    with pytest.raises(ScriptError, match="not a federation script"):
        parse_federation_script(deposit_witness_script(SON_KEYS, USER_KEY, 10))


# --- signing and witnesses -------------------------------------------------------------------

# BIP143, "Native P2WPKH" example: input 1 spends 6 BTC from a P2WPKH output.
BIP143_TX = (
    "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffffff"
    "ef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206"
    "000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42db"
    "ee7e4dbe6a21b2d50ce2f0167faa815988ac11000000"
)
BIP143_SCRIPT_CODE = "76a9141d0f172a0ecb48aee1be1f2687d2963ae33f71a188ac"
BIP143_SECRET = "619c335025c7f4012e556c2a58b2506e30b8511b53ade95ea316fd8c3286feb9"
BIP143_SIGHASH = "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670"
BIP143_SIGNATURE = (
    "304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c451833"
    "1561406f90300e8f3358f51928d43c212a8caed02de67eebee01"
)


def test_it_computes_the_bip143_sighash_and_signature():
    tx = CTransaction.deserialize(bytes.fromhex(BIP143_TX))
    script_code = bytes.fromhex(BIP143_SCRIPT_CODE)
    assert signature_hash(tx, 1, script_code, 600_000_000).hex() == BIP143_SIGHASH
    # RFC 6979 makes the signature deterministic, so it equals the BIP's own.
    signature = sign_input(tx, 1, script_code, 600_000_000, bytes.fromhex(BIP143_SECRET))
    assert signature.hex() == BIP143_SIGNATURE


@given(st.binary(min_size=32, max_size=32))
def test_it_signs_deterministically_with_low_s(script_code):
    tx = CTransaction.deserialize(bytes.fromhex(BIP143_TX))
    signature = sign_input(tx, 0, script_code, 1, SON_SECRETS[0])
    assert signature == sign_input(tx, 0, script_code, 1, SON_SECRETS[0])
    assert der_s(signature[:-1]) <= SECP256K1_ORDER // 2
    assert signature[-1] == 1  # SIGHASH_ALL


SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def der_s(der: bytes) -> int:
    r_length = der[3]
    s_length = der[5 + r_length]
    return int.from_bytes(der[6 + r_length : 6 + r_length + s_length], "big")


def test_it_orders_son_signatures_by_key_and_takes_the_if_branch():
    script = deposit_witness_script(SON_KEYS, USER_KEY, 10)
    a, b, c, d = sorted(SON_KEYS)
    signatures = {d: b"sig-d", a: b"sig-a", c: b"sig-c"}
    ordered = [b"sig-a", b"sig-c", b"sig-d"]
    assert federation_witness(script, signatures) == [b"", *ordered, b"\x01", script]
    wallet = federation_witness_script(SON_KEYS)
    assert federation_witness(wallet, signatures) == [b"", *ordered, wallet]


@pytest.mark.parametrize(
    ("signers", "message"),
    [
        (SON_KEYS[:2], "exactly 3 signatures, not 2"),
        (SON_KEYS, "exactly 3 signatures, not 4"),
        ([*SON_KEYS[:2], USER_KEY], "not in the script"),
    ],
)
def test_it_refuses_a_witness_without_exactly_m_son_signatures(signers, message):
    script = deposit_witness_script(SON_KEYS, USER_KEY, 10)
    with pytest.raises(ScriptError, match=message):
        federation_witness(script, dict.fromkeys(signers, b"sig"))


def test_it_builds_the_users_refund_witness():
    script = deposit_witness_script(SON_KEYS, USER_KEY, 10)
    assert user_witness(script, b"sig") == [b"sig", b"", script]
    assert refund_sequence(script) == 10
    with pytest.raises(ScriptError):
        user_witness(federation_witness_script(SON_KEYS), b"sig")


# --- on a bcoin regtest node -----------------------------------------------------------------

FUNDING_SECRET = secret("test_deposit_script funding")
FUNDING_KEY = public_key(FUNDING_SECRET)
FUNDING_SCRIPT = witness_script_pubkey(0, hash160(FUNDING_KEY))  # P2WPKH
FUNDING_ADDRESS = segwit_address(0, hash160(FUNDING_KEY), "regtest")
COINBASE_VALUE = 50 * 100_000_000  # regtest subsidy below height 150
DEPOSIT = 100_000_000
FEE = 10_000
TIMELOCK = 10


@pytest.fixture(scope="module")
def rpc():
    node = start_bcoin()
    client = node.rpc()
    # Segwit activates after ~432 blocks on bcoin's regtest; early coinbases mature meanwhile.
    client.generate_to_address(600, FUNDING_ADDRESS)
    yield client
    client.close()
    node.stop()


_coinbase_heights = itertools.count(1)


def fund(rpc: BitcoinRPC, script_pubkey: bytes) -> COutPoint:
    """Pay DEPOSIT to script_pubkey from a fresh mature coinbase; mined before returning."""
    block = read_block(rpc, rpc.get_block_hash(next(_coinbase_heights)))
    coinbase = block.vtx[0]
    assert coinbase.vout[0].nValue == COINBASE_VALUE
    tx = CMutableTransaction(
        [CMutableTxIn(COutPoint(coinbase.GetTxid(), 0))],
        [
            CTxOut(DEPOSIT, CScript(script_pubkey)),
            CTxOut(COINBASE_VALUE - DEPOSIT - FEE, CScript(FUNDING_SCRIPT)),
        ],
    )
    # BIP143: a P2WPKH input signs the P2PKH script of its key hash.
    script_code = b"\x76\xa9\x14" + hash160(FUNDING_KEY) + b"\x88\xac"
    signature = sign_input(tx, 0, script_code, COINBASE_VALUE, FUNDING_SECRET)
    txid = rpc.send_raw_transaction(with_witness(tx, [signature, FUNDING_KEY]))
    assert txid in mine_one(rpc)
    return COutPoint(tx.GetTxid(), 0)


def spending(outpoint: COutPoint, *, sequence: int = 0xFFFFFFFF, version: int = 1):
    return CMutableTransaction(
        [CMutableTxIn(outpoint, nSequence=sequence)],
        [CTxOut(DEPOSIT - FEE, CScript(FUNDING_SCRIPT))],
        nVersion=version,
    )


def with_witness(tx: CMutableTransaction, stack: list[bytes]) -> bytes:
    tx.wit = CTxWitness([CTxInWitness(CScriptWitness(stack))])
    return tx.serialize()


def read_block(rpc: BitcoinRPC, block_hash: str) -> CBlock:
    return CBlock.deserialize(rpc.get_block_raw(block_hash))


def mine_one(rpc: BitcoinRPC) -> set[str]:
    """Mine a block; the txids in it."""
    [block_hash] = rpc.generate_to_address(1, FUNDING_ADDRESS)
    return {b2lx(tx.GetTxid()) for tx in read_block(rpc, block_hash).vtx}


def rejected(rpc: BitcoinRPC, raw: bytes) -> BitcoinRPCError:
    with pytest.raises(BitcoinRPCError) as error:
        rpc.send_raw_transaction(raw)
    assert error.value.code == -26, error.value
    return error.value


def test_it_lets_the_sons_spend_a_deposit_at_once_but_not_with_m_minus_1(rpc):
    son_secrets, son_keys = SON_SECRETS[:3], SON_KEYS[:3]
    script = deposit_witness_script(son_keys, USER_KEY, TIMELOCK)
    outpoint = fund(rpc, p2wsh_script_pubkey(script))
    tx = spending(outpoint)
    # m = 2 of 3: the first and the last SON sign.
    signers = [son_secrets[0], son_secrets[2]]
    signatures = {public_key(s): sign_input(tx, 0, script, DEPOSIT, s) for s in signers}
    ordered = [signatures[key] for key in sorted(signatures)]

    # m-1 signatures, built by hand (federation_witness refuses to): CHECKMULTISIG fails.
    error = rejected(rpc, with_witness(tx, [b"", *ordered[:-1], b"\x01", script]))
    assert "script-verify-flag" in error.message

    txid = rpc.send_raw_transaction(with_witness(tx, federation_witness(script, signatures)))
    assert txid in mine_one(rpc)


def test_it_lets_any_m_of_n_sons_spend_the_federation_wallet(rpc):
    script = federation_witness_script(SON_KEYS)  # 3 of 4
    outpoint = fund(rpc, p2wsh_script_pubkey(script))
    tx = spending(outpoint)
    signers = [SON_SECRETS[0], SON_SECRETS[1], SON_SECRETS[3]]
    signatures = {public_key(s): sign_input(tx, 0, script, DEPOSIT, s) for s in signers}

    txid = rpc.send_raw_transaction(with_witness(tx, federation_witness(script, signatures)))
    assert txid in mine_one(rpc)


def test_it_lets_the_user_take_a_deposit_back_only_after_the_timelock(rpc):
    script = deposit_witness_script(SON_KEYS[:3], USER_KEY, TIMELOCK)
    outpoint = fund(rpc, p2wsh_script_pubkey(script))  # now 1 confirmation deep

    def refund(*, sequence: int = refund_sequence(script), version: int = REFUND_TX_VERSION):
        tx = spending(outpoint, sequence=sequence, version=version)
        signature = sign_input(tx, 0, script, DEPOSIT, USER_SECRET)
        return with_witness(tx, user_witness(script, signature))

    assert "non-BIP68-final" in rejected(rpc, refund()).message
    # The next block would put the coin T-1 blocks deep: still too early.
    rpc.generate_to_address(TIMELOCK - 2, FUNDING_ADDRESS)
    assert "non-BIP68-final" in rejected(rpc, refund()).message

    rpc.generate_to_address(1, FUNDING_ADDRESS)
    # CHECKSEQUENCEVERIFY also needs nSequence >= T and a version 2 transaction.
    assert "script-verify-flag" in rejected(rpc, refund(sequence=TIMELOCK - 1)).message
    assert "script-verify-flag" in rejected(rpc, refund(version=1)).message
    txid = rpc.send_raw_transaction(refund())
    assert txid in mine_one(rpc)
