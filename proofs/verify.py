"""Check an inclusion proof of the portal's liabilities (format 1, docs/proofs.md).

Written from the format alone: it shares no code with the portal, which builds the trees, so a
mistake in one is not silently repeated in the other.
"""

import hashlib
import re
import struct
from dataclasses import dataclass
from typing import Any

FORMAT = "son-portal-liabilities-proof/1"
MAX_SUM = 2**64 - 1
MAX_STEPS = 64
MAX_ASSETS = 16
HEX32 = re.compile(r"[0-9a-f]{64}")
ASSET = re.compile(r"[A-Za-z0-9]{1,16}")
ACCOUNT = re.compile(r"(user:[0-9]{1,19}|system:[a-z0-9-]{1,32})")


class ProofError(ValueError):
    """The proof does not prove what it says; str() says why."""


@dataclass(frozen=True)
class Proven:
    epoch: int
    root: str
    account: str
    amounts: dict[str, int]
    totals: dict[str, int]


def verify(proof: Any, root: str) -> Proven:
    """Recompute the path from the leaf to the root; ProofError unless it ends at `root` with
    every sum a 64-bit unsigned integer."""
    if not isinstance(root, str) or not HEX32.fullmatch(root.lower()):
        raise ProofError("The root must be 64 hex digits.")
    if not isinstance(proof, dict) or proof.get("format") != FORMAT:
        raise ProofError(f"Not a proof of format {FORMAT!r}.")
    assets = _assets(proof.get("assets"))
    leaf = _dict(proof.get("leaf"), "leaf")
    account = leaf.get("account")
    if not isinstance(account, str) or not ACCOUNT.fullmatch(account):
        raise ProofError("leaf.account must be user:<id> or system:<name>.")
    salt = _hex32(leaf.get("salt"), "leaf.salt")
    amounts = _sums(leaf.get("amounts"), len(assets), "leaf.amounts")
    node = _leaf(hashlib.sha256(salt + account.encode()).digest(), amounts)
    for i, step in enumerate(_steps(proof.get("path"))):
        node = _step(node, step, len(assets), i)
    computed = _root(assets, node).hex()
    if computed != root.lower():
        raise ProofError(f"The path ends at root {computed}, not at {root.lower()}.")
    if proof.get("root") != computed or proof.get("totals") != list(node[1]):
        raise ProofError("The proof's own root or totals are not what its path gives.")
    epoch = proof.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise ProofError("epoch must be a positive integer.")
    return Proven(
        epoch,
        computed,
        account,
        dict(zip(assets, amounts, strict=True)),
        dict(zip(assets, node[1], strict=True)),
    )


Node = tuple[bytes, tuple[int, ...]]


def _pack(sums: tuple[int, ...]) -> bytes:
    return struct.pack(f">{len(sums)}Q", *sums)


def _leaf(commitment: bytes, amounts: tuple[int, ...]) -> Node:
    return hashlib.sha256(b"\x00" + commitment + _pack(amounts)).digest(), amounts


def _step(node: Node, step: Any, width: int, i: int) -> Node:
    step = _dict(step, f"path[{i}]")
    sibling = (
        _hex32(step.get("hash"), f"path[{i}].hash"),
        _sums(step.get("sums"), width, f"path[{i}].sums"),
    )
    side = step.get("side")
    if side not in ("left", "right"):
        raise ProofError(f"path[{i}].side must be left or right.")
    left, right = (sibling, node) if side == "left" else (node, sibling)
    sums = tuple(a + b for a, b in zip(left[1], right[1], strict=True))
    if any(total > MAX_SUM for total in sums):
        raise ProofError(f"path[{i}]: a sum overflows 64 bits.")
    body = b"\x01" + left[0] + _pack(left[1]) + right[0] + _pack(right[1])
    return hashlib.sha256(body).digest(), sums


def _root(assets: list[str], top: Node) -> bytes:
    names = b"".join(bytes([len(a)]) + a.encode("ascii") for a in assets)
    return hashlib.sha256(b"\x02" + names + top[0] + _pack(top[1])).digest()


def _dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ProofError(f"{what} must be an object.")
    return value


def _assets(value: Any) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ASSETS:
        raise ProofError(f"assets must be a list of 1 to {MAX_ASSETS} names.")
    if not all(isinstance(a, str) and ASSET.fullmatch(a) for a in value):
        raise ProofError("Each asset is 1 to 16 ASCII letters or digits.")
    return value


def _steps(value: Any) -> list:
    if not isinstance(value, list) or len(value) > MAX_STEPS:
        raise ProofError(f"path must be a list of at most {MAX_STEPS} steps.")
    return value


def _hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not HEX32.fullmatch(value):
        raise ProofError(f"{what} must be 64 lowercase hex digits.")
    return bytes.fromhex(value)


def _sums(value: Any, width: int, what: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) != width:
        raise ProofError(f"{what} must list {width} amounts, one per asset.")
    for amount in value:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ProofError(f"{what}: {amount!r} is not an integer.")
        if amount < 0:
            raise ProofError(f"{what}: {amount} is negative.")
        if amount > MAX_SUM:
            raise ProofError(f"{what}: {amount} overflows 64 bits.")
    return tuple(value)
