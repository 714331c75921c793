"""The signer's key file: one secp256k1 private key per sidechain, encrypted at rest.

File format (JSON, version 1)::

    {"version": 1,
     "kdf": {"name": "scrypt", "salt": <hex, 16 bytes>, "n": 32768, "r": 8, "p": 1},
     "cipher": "aes-256-gcm",
     "nonce": <hex, 12 bytes>,
     "ciphertext": <hex>,
     "public": {"bitcoin": <compressed pubkey hex>, "hive": "STM..."}}

The passphrase goes through scrypt to a 256-bit key; AES-256-GCM encrypts the private keys. The
header (version, kdf, cipher, public) is the GCM associated data, so editing any of it, the nonce
or the ciphertext makes decryption fail. Public keys are stored in clear so that an operator can
see what a file holds; private keys never are.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coincurve import PrivateKey
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from signer.encoding import hive_public_key

VERSION = 1
CIPHER = "aes-256-gcm"
CHAINS = ("bitcoin", "hive")
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_MAX_SCRYPT_N = 2**20  # bounds the memory a (hostile) file can make us spend
PASSPHRASE_ENV = "SIGNER_PASSPHRASE"
PASSPHRASE_FILE_ENV = "SIGNER_PASSPHRASE_FILE"


class KeystoreError(Exception):
    """A key file or passphrase problem, with a message fit for the operator."""


@dataclass(frozen=True, repr=False)
class Keys:
    bitcoin: PrivateKey
    hive: PrivateKey

    def public(self) -> dict[str, str]:
        """The public keys to register with the portal: compressed hex and 'STM...'."""
        return {
            "bitcoin": self.bitcoin.public_key.format(compressed=True).hex(),
            "hive": hive_public_key(self.hive.public_key.format(compressed=True)),
        }

    def __repr__(self) -> str:
        return f"Keys(public={self.public()})"


def generate() -> Keys:
    return Keys(bitcoin=PrivateKey(), hive=PrivateKey())


def save(
    path: str | Path, keys: Keys, passphrase: str, *, overwrite: bool = False, n: int = SCRYPT_N
) -> None:
    """Encrypt `keys` into a new 0600 file at `path`, atomically.

    Refuses to replace an existing file unless `overwrite` is true. `n` is scrypt's cost; keep the
    default outside tests.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise KeystoreError(f"{path} already exists; refusing to overwrite it")
    document = encrypt(keys, passphrase, n=n)
    _write_atomically(path, (json.dumps(document, indent=2) + "\n").encode(), overwrite)


def load(path: str | Path, passphrase: str) -> Keys:
    path = Path(path)
    _check_permissions(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeystoreError(f"cannot read key file {path}: {exc}") from None
    return decrypt(document, passphrase)


def encrypt(keys: Keys, passphrase: str, *, n: int = SCRYPT_N) -> dict[str, Any]:
    kdf = {"name": "scrypt", "salt": secrets.token_hex(16), "n": n, "r": SCRYPT_R, "p": SCRYPT_P}
    header = {"version": VERSION, "kdf": kdf, "cipher": CIPHER, "public": keys.public()}
    secret = json.dumps({chain: getattr(keys, chain).secret.hex() for chain in CHAINS}).encode()
    nonce = secrets.token_bytes(12)
    ciphertext = AESGCM(_derive(passphrase, kdf)).encrypt(nonce, secret, _associated(header))
    return {**header, "nonce": nonce.hex(), "ciphertext": ciphertext.hex()}


def decrypt(document: object, passphrase: str) -> Keys:
    header, nonce, ciphertext = _parse(document)
    key = _derive(passphrase, header["kdf"])
    try:
        secret = AESGCM(key).decrypt(nonce, ciphertext, _associated(header))
    except InvalidTag:
        raise KeystoreError(
            "cannot decrypt the key file: wrong passphrase, or the file was modified"
        ) from None
    keys = _keys_from_secret(secret)
    if keys.public() != header["public"]:
        raise KeystoreError("the key file's public keys do not match its private keys")
    return keys


def passphrase_from_env(environ: Mapping[str, str]) -> str:
    """The passphrase from SIGNER_PASSPHRASE or SIGNER_PASSPHRASE_FILE (exactly one of them)."""
    has_value, has_file = PASSPHRASE_ENV in environ, PASSPHRASE_FILE_ENV in environ
    if has_value and has_file:
        raise KeystoreError(f"set only one of {PASSPHRASE_ENV} and {PASSPHRASE_FILE_ENV}")
    if not (has_value or has_file):
        raise KeystoreError(f"no passphrase: set {PASSPHRASE_ENV} or {PASSPHRASE_FILE_ENV}")
    passphrase = environ[PASSPHRASE_ENV] if has_value else _read_secret_file(environ)
    if not passphrase:
        raise KeystoreError("the passphrase is empty")
    return passphrase


def _read_secret_file(environ: Mapping[str, str]) -> str:
    name = environ[PASSPHRASE_FILE_ENV]
    try:
        return Path(name).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeystoreError(f"cannot read {PASSPHRASE_FILE_ENV} ({name}): {exc}") from None


def _derive(passphrase: str, kdf: dict[str, Any]) -> bytes:
    salt = bytes.fromhex(kdf["salt"])
    scrypt = Scrypt(salt=salt, length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"])
    return scrypt.derive(passphrase.encode("utf-8"))


def _associated(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _parse(document: object) -> tuple[dict[str, Any], bytes, bytes]:
    """Validate the file's shape; return (header, nonce, ciphertext)."""
    if not isinstance(document, dict):
        raise KeystoreError("the key file is not a JSON object")
    if document.get("version") != VERSION:
        raise KeystoreError(
            f"unsupported key file version {document.get('version')!r} (expected {VERSION})"
        )
    missing = [f for f in ("kdf", "cipher", "public", "nonce", "ciphertext") if f not in document]
    if missing:
        raise KeystoreError(f"the key file is malformed: missing {', '.join(missing)}")
    if document["cipher"] != CIPHER:
        raise KeystoreError(f"unsupported cipher {document['cipher']!r} (expected {CIPHER})")
    _check_kdf(document["kdf"])
    header = {field: document[field] for field in ("version", "kdf", "cipher", "public")}
    try:
        return header, bytes.fromhex(document["nonce"]), bytes.fromhex(document["ciphertext"])
    except (TypeError, ValueError):
        raise KeystoreError("the key file is malformed: nonce/ciphertext are not hex") from None


def _check_kdf(kdf: object) -> None:
    if not (
        isinstance(kdf, dict)
        and kdf.get("name") == "scrypt"
        and isinstance(kdf.get("salt"), str)
        and all(isinstance(kdf.get(p), int) and kdf[p] >= 1 for p in ("n", "r", "p"))
    ):
        raise KeystoreError("the key file is malformed: bad kdf parameters")
    n = kdf["n"]
    if n < 2 or n > _MAX_SCRYPT_N or n & (n - 1) or kdf["r"] > 16 or kdf["p"] > 4:
        raise KeystoreError("the key file is malformed: scrypt parameters out of range")
    try:
        bytes.fromhex(kdf["salt"])
    except ValueError:
        raise KeystoreError("the key file is malformed: salt is not hex") from None


def _keys_from_secret(secret: bytes) -> Keys:
    try:
        values = json.loads(secret)
        return Keys(**{chain: PrivateKey(bytes.fromhex(values[chain])) for chain in CHAINS})
    except (ValueError, KeyError, TypeError):
        raise KeystoreError("the key file's decrypted content is malformed") from None


def _check_permissions(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeystoreError(f"key file not found: {path}") from None
    except OSError as exc:
        raise KeystoreError(f"cannot read key file {path}: {exc}") from None
    if not stat.S_ISREG(mode):
        raise KeystoreError(f"{path} is not a regular file")
    if mode & 0o077:
        raise KeystoreError(
            f"{path} is readable or writable by group/others (mode {stat.S_IMODE(mode):04o});"
            f" run: chmod 600 {path}"
        )


def _write_atomically(path: Path, data: bytes, overwrite: bool) -> None:
    """Write to a 0600 temp file in the same folder, fsync, then move it into place."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _move_into_place(temp, path, overwrite)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_folder(path.parent)


def _move_into_place(temp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)  # unlike os.replace, fails if `path` appeared meanwhile
    except FileExistsError:
        raise KeystoreError(f"{path} already exists; refusing to overwrite it") from None


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
