"""Sign a portal transfer message with your Bitcoin key kept in a file, in the "Bitcoin Signed
Message" format wallets produce (compact signature, compressed key). Its own code: nothing of
the portal.

The key file holds one private key: WIF (as Bitcoin Core's dumpprivkey prints it, any network)
or 64 hex digits.
"""

import base64
import hashlib
import re

from coincurve import PrivateKey

MAGIC = b"Bitcoin Signed Message:\n"
ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
MAX_KEY_FILE = 200
MAX_MESSAGE_BYTES = 4096


class SignError(ValueError):
    """A key or message that cannot be signed; str() says why."""


def _b58check(text: str) -> bytes:
    n = 0
    for ch in text:
        if ch not in ALPHABET:
            raise SignError("The key is neither WIF nor 64 hex digits.")
        n = n * 58 + ALPHABET.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(text) - len(text.lstrip("1"))) + raw
    body, check = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(body).digest()).digest()[:4] != check:
        raise SignError("The WIF key's checksum is wrong: a typo?")
    return body


def read_key(text: str) -> PrivateKey:
    """A private key from a key file's text: WIF (compressed or not) or hex."""
    text = text.strip()
    if len(text) > MAX_KEY_FILE:
        raise SignError("The key file holds more than one key.")
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        secret = bytes.fromhex(text)
    else:
        body = _b58check(text)
        if len(body) == 34 and body[-1] == 1:
            secret = body[1:33]
        elif len(body) == 33:
            secret = body[1:]
        else:
            raise SignError("The WIF key has an unexpected length.")
    try:
        return PrivateKey(secret)
    except Exception:
        raise SignError("The key is out of range.") from None


def _varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    return b"\xfd" + n.to_bytes(2, "little")


def sign_message(key: PrivateKey, message: str) -> str:
    """The base64 signature of `message`, as wallets' "sign message" gives it."""
    data = message.encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise SignError(f"A message is at most {MAX_MESSAGE_BYTES} bytes.")
    payload = _varint(len(MAGIC)) + MAGIC + _varint(len(data)) + data
    digest = hashlib.sha256(hashlib.sha256(payload).digest()).digest()
    recoverable = key.sign_recoverable(digest, hasher=None)  # r || s || recovery id
    header = 27 + recoverable[64] + 4  # + 4: the compressed public key
    return base64.b64encode(bytes([header]) + recoverable[:64]).decode()
