"""The federation's scripts and the users' deposit addresses (DESIGN.md, "Address mapping").

Federation wallet:  <m> <SON keys, sorted> <n> CHECKMULTISIG
User deposit:       IF <m> <SON keys, sorted> <n> CHECKMULTISIG
                    ELSE <T> CHECKSEQUENCEVERIFY DROP <user key> CHECKSIG ENDIF

m = floor(2n/3) + 1. The SONs can spend a deposit at once; the user alone can take it back T
blocks after it confirmed, the trustless refund when the federation is gone. Keys are sorted
so that the script, and so the address, depend only on the set of keys: every SON, signer and
portal process derives the same address from the same configuration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chains.bitcoin import addresses
from chains.bitcoin.addresses import PublicKeyError
from chains.bitcoin.script import (
    OP_CHECKMULTISIG,
    OP_CHECKSEQUENCEVERIFY,
    OP_CHECKSIG,
    OP_DROP,
    OP_ELSE,
    OP_ENDIF,
    OP_IF,
    ScriptError,
    asm,
    iter_ops,
    number_of,
    push_data,
    push_int,
)

MAX_MULTISIG_KEYS = 20  # consensus limit of CHECKMULTISIG
# BIP68 block-based relative locks hold 16 bits; larger values would set the time-lock flag.
MAX_TIMELOCK = 0xFFFF


@dataclass(frozen=True)
class DepositScript:
    son_keys: tuple[bytes, ...]  # sorted
    user_key: bytes
    timelock: int

    @property
    def threshold(self) -> int:
        return threshold(len(self.son_keys))


def threshold(n: int) -> int:
    """Signatures the federation needs: all but a third of its n SONs (rounded down), so that
    it keeps working while at most a third of them is down. See docs/decisions.md."""
    if n < 1:
        raise ScriptError("A federation needs at least one SON.")
    return n - n // 3


def federation_witness_script(son_keys: Sequence[bytes]) -> bytes:
    return _multisig(_sorted_son_keys(son_keys))


def deposit_witness_script(son_keys: Sequence[bytes], user_key: bytes, timelock: int) -> bytes:
    keys = _sorted_son_keys(son_keys)
    user_key = _checked_key(user_key, "The user's key")
    if user_key in keys:
        raise ScriptError("The user's key is one of the SON keys.")
    return b"".join(
        [
            bytes([OP_IF]),
            _multisig(keys),
            bytes([OP_ELSE]),
            push_int(_checked_timelock(timelock)),
            bytes([OP_CHECKSEQUENCEVERIFY, OP_DROP]),
            push_data(user_key),
            bytes([OP_CHECKSIG, OP_ENDIF]),
        ]
    )


def p2wsh_script_pubkey(witness_script: bytes) -> bytes:
    return addresses.witness_script_pubkey(0, hashlib.sha256(witness_script).digest())


def script_hash_script_pubkeys(witness_script: bytes) -> list[bytes]:
    """Every output script that pays to a script: P2WSH, P2SH-wrapped P2WSH and bare P2SH."""
    p2wsh = p2wsh_script_pubkey(witness_script)
    return [
        p2wsh,
        addresses.p2sh_script_pubkey(p2wsh),
        addresses.p2sh_script_pubkey(witness_script),
    ]


def p2wsh_address(witness_script: bytes, network: str) -> str:
    return addresses.segwit_address(0, hashlib.sha256(witness_script).digest(), network)


def describe(witness_script: bytes) -> str:
    """The script in ASM, for the deposit page."""
    return asm(witness_script)


def parse_deposit_script(witness_script: bytes) -> DepositScript:
    """The parts of a deposit script; ScriptError unless it is exactly what we would build."""
    ops = list(iter_ops(witness_script))
    # IF m <n keys> n CHECKMULTISIG ELSE T CSV DROP <user key> CHECKSIG ENDIF: n + 11 ops.
    n = len(ops) - 11
    if n < 1:
        raise ScriptError("This is not a deposit script.")
    son_keys = tuple(data or b"" for _, data in ops[2 : 2 + n])
    timelock = number_of(*ops[n + 5]) or 0
    user_key = ops[n + 8][1] or b""
    if not _rebuilds(witness_script, lambda: deposit_witness_script(son_keys, user_key, timelock)):
        raise ScriptError("This is not a deposit script.")
    return DepositScript(son_keys, user_key, timelock)


def parse_federation_script(witness_script: bytes) -> tuple[bytes, ...]:
    """The sorted SON keys of a federation wallet script; ScriptError if it is not one."""
    ops = list(iter_ops(witness_script))
    # m <n keys> n CHECKMULTISIG
    son_keys = tuple(data or b"" for _, data in ops[1:-2])
    if not _rebuilds(witness_script, lambda: federation_witness_script(son_keys)):
        raise ScriptError("This is not a federation script.")
    return son_keys


def script_keys(witness_script: bytes) -> tuple[tuple[bytes, ...], bool]:
    """(the SON keys, whether it is a deposit script) of a federation or deposit script;
    ScriptError if it is neither."""
    try:
        return parse_deposit_script(witness_script).son_keys, True
    except ScriptError:
        pass
    try:
        return parse_federation_script(witness_script), False
    except ScriptError:
        raise ScriptError("This is neither a federation nor a deposit script.") from None


def _rebuilds(witness_script: bytes, build: Callable[[], bytes]) -> bool:
    # Rebuilding and comparing rejects every non-canonical variant (unsorted keys, another m,
    # non-minimal pushes, trailing bytes) without a separate rule for each.
    try:
        return build() == witness_script
    except ScriptError:
        return False


def _multisig(sorted_keys: list[bytes]) -> bytes:
    return b"".join(
        [
            push_int(threshold(len(sorted_keys))),
            *(push_data(key) for key in sorted_keys),
            push_int(len(sorted_keys)),
            bytes([OP_CHECKMULTISIG]),
        ]
    )


def _sorted_son_keys(son_keys: Sequence[bytes]) -> list[bytes]:
    keys = [_checked_key(key, f"SON key {i + 1}") for i, key in enumerate(son_keys)]
    if not 1 <= len(keys) <= MAX_MULTISIG_KEYS:
        raise ScriptError(f"A federation has 1 to {MAX_MULTISIG_KEYS} SON keys, not {len(keys)}.")
    if len(set(keys)) != len(keys):
        raise ScriptError("The SON keys contain the same key twice.")
    return sorted(keys)


def _checked_key(key: bytes, label: str) -> bytes:
    try:
        return addresses.check_compressed_pubkey(bytes(key))
    except PublicKeyError as exc:
        raise ScriptError(f"{label}: {exc}") from None


def _checked_timelock(timelock: int) -> int:
    if not isinstance(timelock, int) or not 1 <= timelock <= MAX_TIMELOCK:
        raise ScriptError(f"The timelock must be 1 to {MAX_TIMELOCK} blocks, not {timelock}.")
    return timelock
