"""Keys and addresses for mapping tests, made with python-bitcoinlib (not our own code)."""

import secrets

import bitcoin
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
