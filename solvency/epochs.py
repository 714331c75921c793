"""Liabilities epochs: snapshot, tree, publication, and inclusion proofs (docs/proofs.md).

The tree's leaves are cut in chunks of CHUNK (a power of two, aligned), so the tree over the
chunks' top nodes is the tree over all leaves: an epoch keeps its leaves' amounts and the chunk
tops, and a proof rebuilds one chunk (at most CHUNK leaves) instead of the whole tree.
"""

import hmac
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from audit.chain import GENESIS
from audit.services import audit_head_hash, audit_record, audit_target
from ledger.models import LedgerAccount
from ledger.services import LEDGER_ASSETS
from solvency import tree
from solvency.models import Epoch, EpochLeaf
from solvency.tree import CHUNK, Leaf, build_leaves, leaf_chunk_tops

PROOF_FORMAT = "son-portal-liabilities-proof/1"
# pg_advisory_xact_lock key: one epoch is built at a time ("EPOCH" in ASCII).
EPOCH_LOCK = 0x45504F4348


class EpochError(Exception):
    """An epoch or proof that cannot be made."""


def account_key(*, user_id: int | None, system: str) -> str:
    """How a leaf names its account (hashed with a salt, never shown as is): "user:<id>" for a
    person, "system:<name>" for a system account such as the withdrawal escrow."""
    return f"user:{user_id}" if user_id is not None else f"system:{system}"


def epoch_create(
    *, by: AbstractBaseUser | AnonymousUser | None = None, reason: str = "", now=None
) -> Epoch:
    """Snapshot every account's balances (negative ones as 0) into a new epoch's tree and
    publish it, with the audit record of who asked."""
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EPOCH_LOCK])
        last = Epoch.objects.order_by("-number").first()
        number = last.number + 1 if last else 1
        secret = epoch_secret(number, now)
        leaves = build_leaves(secret, snapshot())
        tops = leaf_chunk_tops(leaves)
        top = tree.top_of(tops, len(LEDGER_ASSETS))
        epoch = Epoch.objects.create(
            number=number,
            created_at=now,
            created_by=by if by is not None and by.is_authenticated else None,
            assets=list(LEDGER_ASSETS),
            totals=list(top.sums),
            root=tree.root_hash(LEDGER_ASSETS, top).hex(),
            prev_root=last.root if last else GENESIS,
            audit_head=audit_head_hash(),
            leaf_count=len(leaves),
            salt_key_id=salt_key_id(),
            chunk_tops=encode_nodes(tops),
        )
        copy_leaves(epoch.pk, leaves)
        audit_record(
            actor=by,
            action="epoch.created",
            target=audit_target(epoch),
            reason=reason,
            details={"number": epoch.number, "root": epoch.root},
        )
    return epoch


def _salt_key() -> bytes:
    key = settings.SOLVENCY_SALT_KEY
    if not key:
        raise EpochError("SOLVENCY_SALT_KEY is not set: no epoch's salts can be derived.")
    return key.encode()


def salt_key_id() -> str:
    """Names the salt key without revealing it: an epoch keeps the id of the key that made it."""
    return hmac.digest(_salt_key(), b"son-portal salt key id", "sha256")[:8].hex()


def epoch_secret(number: int, created_at: datetime) -> bytes:
    """The secret an epoch's salts are derived from (tree.salt_for): HMAC-SHA256 of the epoch's
    number and time under SOLVENCY_SALT_KEY, which is not in the database; derived again for
    every proof, never stored."""
    message = f"son-portal liabilities epoch {number} {created_at.isoformat()}"
    return hmac.digest(_salt_key(), message.encode(), "sha256")


def _secret_of(epoch: Epoch) -> bytes:
    if not epoch.salt_key_id or epoch.salt_key_id != salt_key_id():
        raise EpochError(
            f"{epoch}'s salts came from another salt key than SOLVENCY_SALT_KEY (or from a "
            "secret kept before the key existed): its proofs cannot be made."
        )
    return epoch_secret(epoch.number, epoch.created_at)


def epoch_create_if_due(*, now: datetime | None = None) -> Epoch | None:
    """The beat's epoch: a new one when the last is SOLVENCY_EPOCH_INTERVAL old (or none)."""
    now = now or timezone.now()
    last = Epoch.objects.order_by("-number").first()
    interval = timedelta(seconds=settings.SOLVENCY_EPOCH_INTERVAL)
    if last is not None and last.created_at + interval > now:
        return None
    return epoch_create(now=now)


def snapshot() -> Iterator[tuple[int, str, tuple[int, ...]]]:
    """Every ledger account but issuance that holds anything: (id, key, amounts in
    LEDGER_ASSETS order), negative balances as 0 (owed to the federation, not by it). One
    statement, so one consistent view of the ledger, read through a server-side cursor so a
    million rows never sit in memory at once. Call inside a transaction."""
    columns = ", ".join(
        "COALESCE(SUM(GREATEST(b.amount, 0)) FILTER (WHERE b.asset = %s), 0)::bigint"
        for _ in LEDGER_ASSETS
    )
    sql = (
        f"SELECT a.id, a.user_id, a.system, {columns} FROM ledger_balance b"
        " JOIN ledger_ledgeraccount a ON a.id = b.account_id WHERE a.system <> %s"
        " GROUP BY a.id HAVING SUM(GREATEST(b.amount, 0)) > 0"
    )
    connection.ensure_connection()
    with connection.connection.cursor(name="solvency_snapshot") as cursor:
        cursor.itersize = 20_000
        cursor.execute(sql, [*LEDGER_ASSETS, LedgerAccount.System.ISSUANCE])
        for row in cursor:
            yield row[0], account_key(user_id=row[1], system=row[2]), tuple(row[3:])


def copy_leaves(epoch_id: int, leaves: list[Leaf]) -> None:
    """COPY in text format, not INSERTs: a million leaves in seconds. Every value is an int
    the portal made, so nothing needs escaping."""
    sql = "COPY solvency_epochleaf (epoch_id, position, account_id, amounts) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        lines: list[str] = []
        for position, (_, account_id, amounts) in enumerate(leaves):
            lines.append(
                f"{epoch_id}\t{position}\t{account_id}\t{{{','.join(map(str, amounts))}}}\n"
            )
            if len(lines) == 10_000:
                copy.write("".join(lines))
                lines.clear()
        copy.write("".join(lines))


def encode_nodes(nodes: list[tree.Node]) -> bytes:
    return b"".join(node.hash + b"".join(s.to_bytes(8, "big") for s in node.sums) for node in nodes)


def decode_nodes(data: bytes, width: int) -> list[tree.Node]:
    size = 32 + 8 * width
    return [
        tree.Node(
            data[i : i + 32],
            tuple(int.from_bytes(data[j : j + 8], "big") for j in range(i + 32, i + size, 8)),
        )
        for i in range(0, len(data), size)
    ]


def proof_for(*, epoch: Epoch, account: LedgerAccount) -> dict | None:
    """The account's inclusion proof in the epoch (docs/proofs.md); None if it held nothing."""
    mine = EpochLeaf.objects.filter(epoch=epoch, account=account).first()
    if mine is None:
        return None
    chunk, index = divmod(mine.position, CHUNK)
    tops = decode_nodes(bytes(epoch.chunk_tops), len(epoch.assets))
    keys, nodes = _chunk(epoch, chunk, tops[chunk])
    steps = tree.path(tree.levels(nodes), index) + tree.path(tree.levels(tops), chunk)
    return _proof(epoch, keys[index], nodes[index], steps)


def epoch_proofs(epoch: Epoch) -> Iterator[dict]:
    """Every leaf's proof, chunk by chunk (what a published proof archive or a test needs)."""
    tops = decode_nodes(bytes(epoch.chunk_tops), len(epoch.assets))
    upper = tree.levels(tops)
    for chunk, top in enumerate(tops):
        keys, nodes = _chunk(epoch, chunk, top)
        lower = tree.levels(nodes)
        for index, node in enumerate(nodes):
            steps = tree.path(lower, index) + tree.path(upper, chunk)
            yield _proof(epoch, keys[index], node, steps)


def _proof(epoch: Epoch, key: str, leaf: tree.Node, steps: list[tuple[str, tree.Node]]) -> dict:
    return {
        "format": PROOF_FORMAT,
        **epoch.header(),
        "leaf": {
            "account": key,
            "salt": tree.salt_for(_secret_of(epoch), key).hex(),
            "amounts": list(leaf.sums),
        },
        "path": [
            {"side": side, "hash": node.hash.hex(), "sums": list(node.sums)} for side, node in steps
        ],
    }


def _chunk(epoch: Epoch, chunk: int, top: tree.Node) -> tuple[list[str], list[tree.Node]]:
    """The keys and leaf nodes of one chunk, checked against its published top node."""
    rows = (
        EpochLeaf.objects.filter(
            epoch=epoch, position__gte=chunk * CHUNK, position__lt=(chunk + 1) * CHUNK
        )
        .order_by("position")
        .values_list("account__user_id", "account__system", "amounts")
    )
    secret = _secret_of(epoch)
    keys, nodes = [], []
    for user_id, system, amounts in rows:
        key = account_key(user_id=user_id, system=system)
        keys.append(key)
        nodes.append(tree.leaf(tree.commitment(tree.salt_for(secret, key), key), amounts))
    if tree.top_of(nodes, len(epoch.assets)) != top:
        raise EpochError(f"the leaves of {epoch}'s chunk {chunk} do not give its top node")
    return keys, nodes
