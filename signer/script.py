"""The federation's scripts, as the signer recognises them. Pure functions, no I/O.

Deliberately independent of the portal's mappings/chains/ (see docs/decisions.md): the signer
checks the portal's work, so it must not run the portal's code to do it.

Wallet:   <m> <federation keys, sorted> <n> CHECKMULTISIG
Deposit:  IF <m> <federation keys, sorted> <n> CHECKMULTISIG
          ELSE <T> CHECKSEQUENCEVERIFY DROP <user key> CHECKSIG ENDIF

with m = n - n//3 and minimal pushes. A script is accepted only if rebuilding it from its parts
gives the same bytes, which rejects unsorted keys, non-minimal pushes and trailing bytes at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import coincurve

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_PUSHDATA4 = 0x4E
OP_1 = 0x51
OP_16 = 0x60
OP_IF = 0x63
OP_ELSE = 0x67
OP_ENDIF = 0x68
OP_DROP = 0x75
OP_CHECKSIG = 0xAC
OP_CHECKMULTISIG = 0xAE
OP_CHECKSEQUENCEVERIFY = 0xB2

MAX_KEYS = 20  # consensus limit of CHECKMULTISIG
MAX_TIMELOCK = 0xFFFF  # BIP68 block-based relative locks hold 16 bits

# Reason codes a script can earn (the full list is in signer/policy.py).
NOT_FEDERATION_SCRIPT = "NOT_FEDERATION_SCRIPT"
KEY_NOT_IN_SCRIPT = "KEY_NOT_IN_SCRIPT"
WRONG_THRESHOLD = "WRONG_THRESHOLD"
TIMELOCK_MISMATCH = "TIMELOCK_MISMATCH"


class ScriptError(ValueError):
    """Bytes that do not parse as a script."""


@dataclass(frozen=True)
class FederationScript:
    """What a witness script turned out to be: the wallet, or a user's deposit script."""

    keys: tuple[bytes, ...]
    is_deposit: bool


def threshold(n: int) -> int:
    """Signatures the federation needs: all but a third of its n SONs, rounded down.

    The same rule as the portal's (docs/decisions.md), written again here on purpose."""
    return n - n // 3


def version_fingerprint(keys: Sequence[bytes]) -> str:
    """A federation version's fingerprint, as the portal computes it: SHA-256 (hex) of the
    sorted hex keys joined by commas."""
    return hashlib.sha256(",".join(sorted(key.hex() for key in keys)).encode()).hexdigest()


def wallet_script(keys: Sequence[bytes]) -> bytes:
    return _multisig(sorted(keys))


def deposit_script(keys: Sequence[bytes], user_key: bytes, timelock: int) -> bytes:
    return b"".join(
        [
            bytes([OP_IF]),
            _multisig(sorted(keys)),
            bytes([OP_ELSE]),
            push_int(timelock),
            bytes([OP_CHECKSEQUENCEVERIFY, OP_DROP]),
            push_data(user_key),
            bytes([OP_CHECKSIG, OP_ENDIF]),
        ]
    )


def deposit_template(keys: Sequence[bytes], timelock: int) -> tuple[bytes, bytes]:
    """(prefix, suffix): a deposit script is prefix + push(user key) + suffix."""
    placeholder = bytes([2]) + bytes(32)
    prefix, _, suffix = deposit_script(keys, placeholder, timelock).partition(
        push_data(placeholder)
    )
    return prefix, suffix


def deposit_user_key(script: bytes, template: tuple[bytes, bytes]) -> bytes | None:
    """The 33 bytes in the user key's place if `script` is the template around them."""
    prefix, suffix = template
    if len(script) != len(prefix) + 34 + len(suffix) or script[len(prefix)] != 33:
        return None
    if not (script.startswith(prefix) and script.endswith(suffix)):
        return None
    return script[len(prefix) + 1 : len(prefix) + 34]


def p2wsh(script: bytes) -> bytes:
    """The scriptPubKey paying to a witness script: OP_0 <sha256(script)>."""
    return b"\x00\x20" + hashlib.sha256(script).digest()


def classify(
    script: bytes, *, federation: Sequence[bytes], own_key: bytes, timelock: int
) -> FederationScript | str:
    """The federation script `script` is, or the reason code why it is not one we sign.

    Checked in this order: the shape (NOT_FEDERATION_SCRIPT), our key in it (KEY_NOT_IN_SCRIPT),
    exactly the federation's keys (NOT_FEDERATION_SCRIPT), m and n (WRONG_THRESHOLD), a
    deposit's T (TIMELOCK_MISMATCH), its user key, then the canonical bytes.
    """
    try:
        parts = _parts(script)
    except ScriptError:
        return NOT_FEDERATION_SCRIPT
    if parts is None:
        return NOT_FEDERATION_SCRIPT
    m, keys, n, deposit = parts
    if own_key not in keys:
        return KEY_NOT_IN_SCRIPT
    if len(set(keys)) != len(keys) or set(keys) != set(federation):
        return NOT_FEDERATION_SCRIPT
    if n != len(keys) or m != threshold(len(keys)):
        return WRONG_THRESHOLD
    if deposit is None:
        canonical = wallet_script(keys)
    else:
        user_timelock, user_key = deposit
        if user_timelock != timelock:
            return TIMELOCK_MISMATCH
        if not is_compressed_key(user_key) or user_key in keys:
            return NOT_FEDERATION_SCRIPT
        canonical = deposit_script(keys, user_key, timelock)
    if canonical != script:
        return NOT_FEDERATION_SCRIPT
    return FederationScript(tuple(sorted(keys)), deposit is not None)


def is_compressed_key(key: bytes) -> bool:
    if len(key) != 33 or key[0] not in (2, 3):
        return False
    try:
        coincurve.PublicKey(key)
    except ValueError:
        return False
    return True


# --- reading scripts --------------------------------------------------------------------------

_Multisig = tuple[int, list[bytes], int]


def _parts(script: bytes) -> tuple[int, list[bytes], int, tuple[int, bytes] | None] | None:
    """(m, keys, n, (T, user key) for a deposit or None) read leniently, or None if the
    operations do not have the shape of either template."""
    ops = list(iter_ops(script))
    if ops and ops[0][0] == OP_IF:
        # IF <multisig> ELSE T CSV DROP <user key> CHECKSIG ENDIF
        tail = ops[-7:]
        shape = [op for op, _ in tail]
        if len(ops) < 9 or shape[0] != OP_ELSE or shape[2:4] != [OP_CHECKSEQUENCEVERIFY, OP_DROP]:
            return None
        if shape[5:] != [OP_CHECKSIG, OP_ENDIF] or tail[4][1] is None:
            return None
        multisig = _multisig_parts(ops[1:-7])
        timelock = number(*tail[1])
        if multisig is None or timelock is None:
            return None
        return (*multisig, (timelock, tail[4][1]))
    multisig = _multisig_parts(ops)
    return None if multisig is None else (*multisig, None)


def _multisig_parts(ops: list[tuple[int, bytes | None]]) -> _Multisig | None:
    if len(ops) < 4 or ops[-1][0] != OP_CHECKMULTISIG:
        return None
    m, n = number(*ops[0]), number(*ops[-2])
    keys = [data for _, data in ops[1:-2]]
    if m is None or n is None or any(key is None for key in keys):
        return None
    return m, [bytes(key) for key in keys if key is not None], n


def iter_ops(script: bytes) -> Iterator[tuple[int, bytes | None]]:
    """(opcode, pushed data or None); ScriptError if a push runs past the end."""
    position = 0
    while position < len(script):
        opcode = script[position]
        position += 1
        width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}.get(opcode)
        if opcode > OP_PUSHDATA4 or opcode == OP_0:
            yield opcode, (b"" if opcode == OP_0 else None)
            continue
        size = opcode
        if width is not None:
            if position + width > len(script):
                raise ScriptError("the script ends inside a push length")
            size = int.from_bytes(script[position : position + width], "little")
            position += width
        if position + size > len(script):
            raise ScriptError("the script ends inside a push")
        yield opcode, script[position : position + size]
        position += size


def number(opcode: int, data: bytes | None) -> int | None:
    """The number an operation pushes (OP_0..OP_16, or up to 4 bytes of CScriptNum), else None.
    Lenient on purpose: the canonical rebuild catches non-minimal encodings later."""
    if OP_1 <= opcode <= OP_16:
        return opcode - OP_1 + 1
    if data is None or len(data) > 4:
        return None
    if not data:
        return 0
    magnitude = int.from_bytes(data, "little") & ~(0x80 << 8 * (len(data) - 1))
    return -magnitude if data[-1] & 0x80 else magnitude


# --- writing scripts --------------------------------------------------------------------------


def push_data(data: bytes) -> bytes:
    if len(data) > 75:
        raise ScriptError("only pushes of up to 75 bytes are written")
    return bytes([len(data)]) + data


def push_int(value: int) -> bytes:
    """Minimal push of a number in 0..MAX_TIMELOCK, as MINIMALDATA wants it."""
    if not 0 <= value <= MAX_TIMELOCK:
        raise ScriptError("only numbers from 0 to 65535 are written")
    if value == 0:
        return bytes([OP_0])
    if value <= 16:
        return bytes([OP_1 + value - 1])
    data = value.to_bytes((value.bit_length() + 7) // 8, "little")
    # A set top bit would read as a negative number: such values get an extra zero byte.
    return push_data(data + b"\0" if data[-1] & 0x80 else data)


def _multisig(sorted_keys: list[bytes]) -> bytes:
    return b"".join(
        [
            push_int(threshold(len(sorted_keys))),
            *(push_data(key) for key in sorted_keys),
            push_int(len(sorted_keys)),
            bytes([OP_CHECKMULTISIG]),
        ]
    )
