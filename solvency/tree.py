"""The Merkle sum tree of liabilities (format version 1, docs/proofs.md). Pure: no Django.

Each leaf commits to a salted hash of an account's key and its amount of every asset; each
node to its two children's hashes and sums, so the root commits to the total of each asset.
The verifier (proofs/) checks these trees with its own code; keep the two in step with
docs/proofs.md, which is the contract.
"""

import hashlib
import hmac
import struct
from collections.abc import Iterable, Sequence
from functools import cache
from typing import NamedTuple

LEAF, NODE, ROOT = b"\x00", b"\x01", b"\x02"
# Leaves per chunk: a power of two, so the tree over the chunks' tops is the tree over all
# leaves (chunks are aligned, and an odd last node goes up unchanged).
CHUNK = 1024
MAX_SUM = 2**64 - 1
EMPTY = b"\x00" * 32


class TreeError(ValueError):
    """A tree that cannot be built (an amount out of range, a sum that would overflow)."""


class Node(NamedTuple):  # a tuple: cheap to make a million of
    hash: bytes
    sums: tuple[int, ...]


Leaf = tuple[bytes, int, tuple[int, ...]]  # (commitment, account id, amounts)


def salt_for(secret: bytes, key: str) -> bytes:
    """An account's salt in one epoch: HMAC-SHA256(the epoch's secret, its key). Distinct per
    account and epoch, derived again when a proof is asked for, never stored alone."""
    return hmac.digest(secret, key.encode(), "sha256")


def commitment(salt: bytes, key: str) -> bytes:
    """What a leaf shows of its account: SHA-256(salt || key in UTF-8)."""
    return hashlib.sha256(salt + key.encode()).digest()


@cache
def _packer(width: int) -> struct.Struct:
    return struct.Struct(f">{width}Q")


def leaf(commit: bytes, amounts: Sequence[int]) -> Node:
    sums = tuple(amounts)
    for amount in sums:
        if not 0 <= amount <= MAX_SUM:
            raise TreeError(f"an amount of {amount} does not fit a leaf")
    return Node(hashlib.sha256(LEAF + commit + _packer(len(sums)).pack(*sums)).digest(), sums)


def parent(left: Node, right: Node) -> Node:
    sums = tuple(a + b for a, b in zip(left.sums, right.sums, strict=True))
    if any(total > MAX_SUM for total in sums):
        raise TreeError("a sum overflows 64 bits")
    pack = _packer(len(sums)).pack
    body = NODE + left.hash + pack(*left.sums) + right.hash + pack(*right.sums)
    return Node(hashlib.sha256(body).digest(), sums)


def root_hash(assets: Sequence[str], top: Node) -> bytes:
    """The published root: SHA-256(0x02 || each asset as 1 length byte + ASCII || the top
    node's hash || its sums), so it commits to the assets, in order, and their totals."""
    names = b"".join(bytes([len(a)]) + a.encode("ascii") for a in assets)
    return hashlib.sha256(ROOT + names + top.hash + _packer(len(top.sums)).pack(*top.sums)).digest()


def next_level(level: list[Node]) -> list[Node]:
    """Pairs from the left; an odd last node goes up unchanged."""
    paired = [parent(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        paired.append(level[-1])
    return paired


def top_of(level: list[Node], width: int) -> Node:
    """The top node of the tree over `level` (an empty tree: zero hash, zero sums)."""
    if not level:
        return Node(EMPTY, (0,) * width)
    while len(level) > 1:
        level = next_level(level)
    return level[0]


def levels(level: list[Node]) -> list[list[Node]]:
    """Every level of the tree over `level`, from the leaves up to the top."""
    out = [level]
    while len(out[-1]) > 1:
        out.append(next_level(out[-1]))
    return out


def path(tree_levels: list[list[Node]], index: int) -> list[tuple[str, Node]]:
    """The siblings from leaf `index` up to the top (levels() gives `tree_levels`): the
    sibling's side and the sibling. A level where the node has no sibling adds no step."""
    steps: list[tuple[str, Node]] = []
    for level in tree_levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            steps.append(("left" if sibling < index else "right", level[sibling]))
        index //= 2
    return steps


def build_leaves(secret: bytes, accounts: Iterable[tuple[int, str, tuple[int, ...]]]) -> list[Leaf]:
    """(account id, key, amounts) -> the leaves in tree order: sorted by commitment, which says
    nothing of the account."""
    leaves = [
        (commitment(salt_for(secret, key), key), account_id, amounts)
        for account_id, key, amounts in accounts
    ]
    leaves.sort()
    return leaves


def chunk_tops(nodes: list[Node]) -> list[Node]:
    return [top_of(nodes[i : i + CHUNK], 0) for i in range(0, len(nodes), CHUNK)]


def leaf_chunk_tops(leaves: list[Leaf]) -> list[Node]:
    """The chunk tops straight from the sorted leaves, making one chunk's nodes at a time (a
    million leaf nodes at once would cost hundreds of MB)."""
    return [
        top_of([leaf(c, amounts) for c, _, amounts in leaves[i : i + CHUNK]], 0)
        for i in range(0, len(leaves), CHUNK)
    ]
