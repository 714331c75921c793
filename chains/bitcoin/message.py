"""The "Bitcoin Signed Message" format that wallets use (Bitcoin Core's signmessage, Electrum,
hardware wallets): a compact, recoverable ECDSA signature over

    SHA-256d(varint(24) || "Bitcoin Signed Message:\\n" || varint(len(message)) || message)

in base64: 65 bytes, a header byte 27 + recovery id (+ 4 for a compressed key; BIP137's
segwit headers 35..42 are read the same way), then r and s. The signer's public key is
recovered from it, so the message needs no key beside it.
"""

import base64
import binascii
import hashlib

from coincurve import PublicKey

MAGIC = b"Bitcoin Signed Message:\n"
MAX_MESSAGE_BYTES = 4096
SIGNATURE_BASE64_LENGTH = 88  # 65 bytes


class MessageSignatureError(ValueError):
    """A signature that is malformed or does not recover a key; str() says why."""


def _varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    return b"\xfe" + n.to_bytes(4, "little")


def message_hash(message: str) -> bytes:
    data = message.encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageSignatureError(f"A message is at most {MAX_MESSAGE_BYTES} bytes.")
    payload = _varint(len(MAGIC)) + MAGIC + _varint(len(data)) + data
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()


def recover_public_key(message: str, signature: str) -> bytes:
    """The compressed public key (33 bytes) that made `signature` (base64) over `message`."""
    signature = signature.strip()
    if len(signature) != SIGNATURE_BASE64_LENGTH:
        raise MessageSignatureError("A signature is 88 characters of base64 (65 bytes).")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise MessageSignatureError("The signature is not base64.") from None
    header = raw[0]
    if not 27 <= header <= 42:
        raise MessageSignatureError("The signature's first byte is not a message signature's.")
    recid = (header - 27) & 3
    try:
        key = PublicKey.from_signature_and_message(
            raw[1:] + bytes([recid]), message_hash(message), hasher=None
        )
    except Exception:  # coincurve raises ValueError or its own errors for a bad (r, s)
        raise MessageSignatureError(
            "No public key signs this message with this signature."
        ) from None
    return key.format(compressed=True)


def message_signed_by(message: str, signature: str, public_key: bytes) -> bool:
    """True if `signature` over `message` was made by the key `public_key` (compressed or
    not). A malformed signature raises MessageSignatureError."""
    try:
        expected = PublicKey(public_key).format(compressed=True)
    except Exception:
        raise MessageSignatureError("The registered public key is not a valid key.") from None
    return recover_public_key(message, signature) == expected
