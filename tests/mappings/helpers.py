"""Keys and addresses for mapping tests, made with python-bitcoinlib (not our own code)."""

import hashlib
import hmac
import secrets

import bitcoin
import bitcoin.base58
import bitcoin.core
import coincurve
from bitcoin.core import Hash160
from bitcoin.core.script import CScript
from bitcoin.wallet import CBitcoinAddress, P2PKHBitcoinAddress, P2WPKHBitcoinAddress


def new_key() -> coincurve.PrivateKey:
    return coincurve.PrivateKey(secrets.token_bytes(32))


def pubkey_hex(key: coincurve.PrivateKey | None = None) -> str:
    return (key or new_key()).public_key.format(compressed=True).hex()


def regtest_p2wpkh() -> str:
    bitcoin.SelectParams("regtest")
    pub = new_key().public_key.format()
    return str(P2WPKHBitcoinAddress.from_scriptPubKey(CScript([0, Hash160(pub)])))


def regtest_p2pkh() -> str:
    bitcoin.SelectParams("regtest")
    return str(P2PKHBitcoinAddress.from_pubkey(new_key().public_key.format()))


def mainnet_p2wpkh() -> str:
    bitcoin.SelectParams("mainnet")
    try:
        pub = new_key().public_key.format()
        return str(P2WPKHBitcoinAddress.from_scriptPubKey(CScript([0, Hash160(pub)])))
    finally:
        bitcoin.SelectParams("regtest")


def script_pubkey_of(address: str) -> bytes:
    bitcoin.SelectParams("regtest")
    return bytes(CBitcoinAddress(address).to_scriptPubKey())


# BIP32 private derivation, written here from the BIP (not with the portal's code), to make
# real extended keys and check the portal's public derivation against the private one.
TPUB = bytes.fromhex("043587cf")
XPUB = bytes.fromhex("0488b21e")
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def bip32_master(seed: bytes) -> tuple[bytes, bytes]:
    digest = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    return digest[:32], digest[32:]


def bip32_child(node: tuple[bytes, bytes], index: int) -> tuple[bytes, bytes]:
    secret, chain_code = node
    if index >= 0x80000000:
        data = b"\0" + secret
    else:
        data = coincurve.PrivateKey(secret).public_key.format()
    digest = hmac.new(chain_code, data + index.to_bytes(4, "big"), hashlib.sha512).digest()
    child = (int.from_bytes(digest[:32], "big") + int.from_bytes(secret, "big")) % CURVE_ORDER
    return child.to_bytes(32, "big"), digest[32:]


def bip32_path(seed: bytes, path: list[int]) -> list[tuple[bytes, bytes]]:
    """The nodes from the master to the end of path."""
    nodes = [bip32_master(seed)]
    for index in path:
        nodes.append(bip32_child(nodes[-1], index))
    return nodes


def public_of(node: tuple[bytes, bytes]) -> bytes:
    return coincurve.PrivateKey(node[0]).public_key.format()


def extended_public(
    node: tuple[bytes, bytes],
    parent: tuple[bytes, bytes] | None,
    index: int,
    depth: int,
    *,
    version: bytes = TPUB,
) -> str:
    fingerprint = Hash160(public_of(parent))[:4] if parent else b"\0\0\0\0"
    payload = (
        version
        + bytes([depth])
        + fingerprint
        + index.to_bytes(4, "big")
        + node[1]
        + public_of(node)
    )
    return bitcoin.base58.encode(payload + bitcoin.core.Hash(payload)[:4])


def account_tpub(seed: bytes | None = None) -> tuple[str, list[tuple[bytes, bytes]], bytes]:
    """A BIP84 testnet account key m/84h/1h/0h: (tpub, the nodes of the path, the master's
    fingerprint)."""
    seed = seed or secrets.token_bytes(32)
    path = [84 + 0x80000000, 1 + 0x80000000, 0x80000000]
    nodes = bip32_path(seed, path)
    tpub = extended_public(nodes[3], nodes[2], path[2], 3)
    return tpub, nodes, Hash160(public_of(nodes[0]))[:4]
