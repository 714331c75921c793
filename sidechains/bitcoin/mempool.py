"""Deposits seen in the node's mempool, before any block holds them (docs/deposits.md,
"Seen in the mempool").

Each round asks the node for its mempool's txids (getrawmempool), reads only the transactions
not read before (getrawtransaction; the txids read are remembered in the cache for a day), keeps
the outputs paying a registered deposit script as MempoolDeposit rows, and forgets the rows
whose transaction left the mempool. Nothing here is money: a Deposit exists only once the
listener finds the output in a block, and crediting waits for its confirmations as always.
"""

from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from chains.bitcoin.blocks import BlockParseError, parse_transaction
from chains.bitcoin.rpc import BitcoinRPC, BitcoinRPCError
from sidechains.bitcoin.deposits import confirmations_required
from sidechains.bitcoin.listener import could_be_deposit, deposit_outputs
from sidechains.models import Deposit, MempoolDeposit
from sons.models import Sidechain

# Transactions read per round at most: a flood of new transactions is read over several rounds.
READ_PER_ROUND = 500
SEEN_FOR = 24 * 3600
# Txids looked up in the cache at once.
SEEN_LOOKUP = 5_000
# Bitcoin's target block interval, for the estimate the deposits page shows.
BLOCK_INTERVAL = timedelta(minutes=10)


def _seen_key(txid: str) -> str:
    return f"mempool-seen:{txid}"


def mempool_scan(*, rpc: BitcoinRPC, read_per_round: int = READ_PER_ROUND) -> int:
    """One round; returns how many deposit outputs were newly seen."""
    in_mempool = [str(t) for t in rpc.call("getrawmempool")]
    # A mainnet mempool holds hundreds of thousands of transactions: never one SQL parameter
    # or one cache key list per transaction. The rows are few; the set is compared in Python.
    present = set(in_mempool)
    gone = [
        pk for pk, txid in MempoolDeposit.objects.values_list("pk", "txid") if txid not in present
    ]
    if gone:
        MempoolDeposit.objects.filter(pk__in=gone).delete()
    fresh: list[str] = []
    for start in range(0, len(in_mempool), SEEN_LOOKUP):
        chunk = in_mempool[start : start + SEEN_LOOKUP]
        seen = cache.get_many([_seen_key(t) for t in chunk])
        fresh += [t for t in chunk if _seen_key(t) not in seen]
        if len(fresh) >= read_per_round:
            break
    fresh = fresh[:read_per_round]
    found = 0
    for txid in fresh:
        found += _read(rpc, txid)
    cache.set_many({_seen_key(t): 1 for t in fresh}, timeout=SEEN_FOR)
    return found


def _read(rpc: BitcoinRPC, txid: str) -> int:
    try:
        raw = rpc.get_raw_transaction(txid)
        outputs = parse_transaction(raw, keep=could_be_deposit)
    except BitcoinRPCError:  # mined or dropped since the list was made
        return 0
    except BlockParseError:
        return 0
    new = 0
    for output, mapping_id, user_id in deposit_outputs(outputs):
        if Deposit.objects.filter(chain=Sidechain.BITCOIN, txid=txid, vout=output.vout).exists():
            continue  # already in a block the listener read
        try:
            with transaction.atomic():
                MempoolDeposit.objects.create(
                    txid=txid,
                    vout=output.vout,
                    amount=output.value,
                    mapping_id=mapping_id,
                    user_id=user_id,
                    confirmations_required=confirmations_required(output.value),
                    seen_at=timezone.now(),
                )
            new += 1
        except IntegrityError:
            pass  # another worker's round saw it first
    return new


def mempool_deposits_for(user: Any) -> list[MempoolDeposit]:
    """The user's outputs in the mempool that no block the listener read holds yet."""
    rows = MempoolDeposit.objects.filter(user=user)[:20]
    recorded = set(
        Deposit.objects.filter(
            chain=Sidechain.BITCOIN, txid__in=[r.txid for r in rows]
        ).values_list("txid", "vout")
    )
    return [r for r in rows if (r.txid, r.vout) not in recorded]


def credit_estimate(confirmations: int) -> timedelta:
    """Roughly when a deposit in the mempool is credited: a block to hold it, then the rest of
    the confirmations it needs, at Bitcoin's ten minutes a block (a guess: blocks come when
    they come, and a low fee waits for more than one)."""
    return BLOCK_INTERVAL * max(confirmations, 1)
