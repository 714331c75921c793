"""Reserves against liabilities, continuously, and the circuit breaker (docs/deposits.md,
"Reserves and the circuit breaker").

A beat task asks the node (gettxout, confirmed UTXO set) for every coin the federation holds
or held (credited deposits' coins under their deposit scripts, wallet coins), plus the wallet
output of each sent transaction once it is mined, and compares their sum with what the
federation owes: positive user pBTC balances at the rate in force plus the escrows of
withdrawals not yet sent. A negative balance left by a clawback is a receivable and is never
netted. The fee pool (quoted withdrawal fees less the network fees paid) is the federation's
own money, not a liability: it is recorded with each run as the part of the margin it explains,
and a pool below zero is a shortfall like any other. Each run is stored (ReservesCheck):
/healthz and the admin read the last one instead of recomputing. A shortfall beyond
BITCOIN_RESERVES_TOLERANCE trips the chain's circuit breaker: no new withdrawal batches, an
alert naming the cause, until an administrator resumes it with a recorded reason.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from audit.services import audit_record, audit_target
from chains.bitcoin.federation import script_keys
from chains.bitcoin.rpc import BitcoinRPC
from chains.bitcoin.script import ScriptError
from chains.bitcoin.transactions import output_count
from ledger.services import ledger_fee_pool, ledger_liabilities, ledger_receivables
from rates.assets import Asset, Pair
from rates.conversion import to_sidechain
from rates.models import ExchangeRate, rate_in_force
from sidechains.models import (
    Alert,
    CircuitBreaker,
    Coin,
    Deposit,
    ReservesCheck,
    ReservesCoin,
    SidechainTransaction,
    Withdrawal,
)
from sidechains.transitions import coin_transition
from sons.models import FederationVersion, Sidechain

log = logging.getLogger(__name__)

CHAIN = Sidechain.BITCOIN
COUNTED = (Coin.Status.AVAILABLE, Coin.Status.RESERVED, Coin.Status.MISSING)
UNSENT = (Withdrawal.Status.REQUESTED, Withdrawal.Status.HELD, Withdrawal.Status.BATCHED)


class BreakerError(Exception):
    """A resume the breaker's state does not allow; nothing changed."""


def reserves_check(*, rpc: BitcoinRPC) -> ReservesCheck:
    """One comparison, stored; trips the breaker on a shortfall beyond the tolerance."""
    height = rpc.get_block_count()
    reserves, missing, seen = _reserves(rpc, height)
    _publish(seen)
    pegged = ledger_liabilities()[Asset.PBTC]
    escrows = Withdrawal.objects.for_chain(CHAIN).filter(status__in=UNSENT)
    liabilities = _in_satoshi(pegged) + (escrows.aggregate(s=Sum("amount"))["s"] or 0)
    check = ReservesCheck.objects.create(
        chain=CHAIN,
        height=height,
        reserves=reserves,
        liabilities=liabilities,
        receivables=_in_satoshi(ledger_receivables()[Asset.PBTC]),
        fee_pool=_signed_in_satoshi(ledger_fee_pool()[Asset.PBTC]),
        missing="; ".join(missing)[:10_000],
    )
    accepted = (
        CircuitBreaker.objects.filter(chain=CHAIN).values_list("accepted_shortfall", flat=True)
    ).first() or 0
    if -check.margin > settings.BITCOIN_RESERVES_TOLERANCE + accepted:
        breaker_trip(chain=CHAIN, reason=_cause(check, missing))
    return check


def _in_satoshi(pegged: int) -> int:
    try:
        rate = rate_in_force(Pair.BTC_PBTC).rate
    except ExchangeRate.DoesNotExist:
        return pegged  # no rate yet: nothing was credited either
    return to_sidechain(pegged, rate, Pair.BTC_PBTC)


def _signed_in_satoshi(pegged: int) -> int:
    return _in_satoshi(pegged) if pegged >= 0 else -_in_satoshi(-pegged)


def _reserves(rpc: BitcoinRPC, tip: int) -> tuple[int, list[str], list[ReservesCoin]]:
    """Satoshi the node confirms unspent under the federation's coins, the coins it does not
    show (an available one is marked missing; a missing one it shows again whose deposit is
    credited is available again), and the coins it shows, as /reserves publishes them."""
    total, missing, seen = 0, [], []
    coins = Coin.objects.for_chain(CHAIN).filter(status__in=COUNTED).select_related("deposit")
    for coin in coins.order_by("pk"):
        found = rpc.get_tx_out(coin.txid, coin.vout, include_mempool=False)
        if found is not None:
            total += coin.amount
            script = bytes(coin.witness_script)
            seen.append(_seen(coin.txid, coin.vout, coin.amount, script, tip, found))
            _restore(coin)
        elif not _spent_by_own_tx(coin):
            missing.append(f"coin {coin.pk} ({coin.outpoint}, {coin.amount} sat, {coin.status})")
            if coin.status == Coin.Status.AVAILABLE:
                coin_transition(coin.pk, coin.status, Coin.Status.MISSING, "reserves: not on node")
    for stx in SidechainTransaction.objects.for_chain(CHAIN).filter(
        status=SidechainTransaction.Status.BROADCAST, change_amount__gt=0
    ):
        vout = output_count(bytes(stx.unsigned_tx)) - 1
        found = rpc.get_tx_out(stx.txid, vout, include_mempool=False)
        if found is not None:
            total += stx.change_amount  # mined, not settled yet: its wallet output
            script = bytes(stx.change_witness_script or b"")
            seen.append(_seen(stx.txid, vout, stx.change_amount, script, tip, found))
    return total, missing, seen


def _seen(
    txid: str, vout: int, amount: int, script: bytes, tip: int, found: dict[str, Any]
) -> ReservesCoin:
    depth = max(1, int(found.get("confirmations") or 1))
    return ReservesCoin(
        chain=CHAIN,
        txid=txid,
        vout=vout,
        amount=amount,
        witness_script=bytes(script),
        height=tip - depth + 1,
    )


@transaction.atomic
def _publish(seen: list[ReservesCoin]) -> None:
    """The coins /reserves lists become this check's, each with the federation version whose
    keys its script holds (anyone can rebuild the script from them)."""
    versions = {v.fingerprint: v for v in FederationVersion.objects.filter(sidechain=CHAIN)}
    for coin in seen:
        try:
            keys, _ = script_keys(bytes(coin.witness_script))
        except ScriptError:
            continue
        coin.version = versions.get(FederationVersion.fingerprint_of([k.hex() for k in keys]))
    ReservesCoin.objects.filter(chain=CHAIN).delete()
    ReservesCoin.objects.bulk_create(seen, ignore_conflicts=True)


def _spent_by_own_tx(coin: Coin) -> bool:
    """A reserved coin whose sent transaction was mined: its value is in that transaction's
    outputs (payouts no longer owed, the wallet output counted above)."""
    if coin.status != Coin.Status.RESERVED or coin.reserved_by_id is None:
        return False
    sent = SidechainTransaction.Status.BROADCAST
    return SidechainTransaction.objects.filter(pk=coin.reserved_by_id, status=sent).exists()


def _restore(coin: Coin) -> None:
    credited = coin.deposit is None or coin.deposit.status == Deposit.Status.CREDITED
    if coin.status == Coin.Status.MISSING and credited:
        coin_transition(coin.pk, coin.status, Coin.Status.AVAILABLE, "reserves: on the node again")


def _cause(check: ReservesCheck, missing: list[str]) -> str:
    clawed = Deposit.objects.for_chain(CHAIN).filter(status=Deposit.Status.CLAWED_BACK)
    lost = [f"deposit {d.pk} ({d.txid}:{d.vout}): {d.note}" for d in clawed.order_by("-pk")[:5]]
    return (
        f"Reserves {check.reserves} sat < liabilities {check.liabilities} sat at height "
        f"{check.height} (short {-check.margin} sat; receivables {check.receivables} sat not "
        f"netted; fee pool {check.fee_pool} sat). Coins gone: {'; '.join(missing) or 'none held'}. "
        f"Clawed back: {'; '.join(lost) or 'none'}."
    )


@transaction.atomic
def breaker_trip(*, chain: str, reason: str) -> bool:
    """Open the chain's breaker with the cause, and alert; False if it was open already."""
    breaker, _ = CircuitBreaker.objects.select_for_update().get_or_create(chain=chain)
    if breaker.tripped:
        return False
    breaker.tripped, breaker.reason, breaker.tripped_at = True, reason, timezone.now()
    breaker.save(update_fields=["tripped", "reason", "tripped_at"])
    if not Alert.objects.filter(kind=Alert.Kind.RESERVES_SHORTFALL, resolved_at=None).exists():
        Alert.objects.create(kind=Alert.Kind.RESERVES_SHORTFALL, message=reason)
    log.error("circuit breaker tripped on %s: %s", chain, reason)
    return True


@transaction.atomic
def breaker_resume(*, chain: str, user: User, reason: str) -> CircuitBreaker:
    """An administrator closes a tripped breaker, saying why (audit row, same transaction). The
    shortfall of the last check is accepted: only a larger one trips it again."""
    reason = reason.strip()
    if not reason:
        raise BreakerError("Say why the batches may resume.")
    breaker = CircuitBreaker.objects.select_for_update().filter(chain=chain).first()
    if breaker is None or not breaker.tripped:
        raise BreakerError(f"The {chain} circuit breaker is not tripped.")
    latest = ReservesCheck.objects.filter(chain=chain).first()
    breaker.tripped, breaker.resumed_at = False, timezone.now()
    breaker.resumed_by, breaker.resume_reason = user, reason
    breaker.accepted_shortfall = max(0, -latest.margin) if latest else 0
    breaker.save(
        update_fields=["tripped", "resumed_at", "resumed_by", "resume_reason", "accepted_shortfall"]
    )
    Alert.objects.filter(kind=Alert.Kind.RESERVES_SHORTFALL, resolved_at=None).update(
        resolved_at=timezone.now()
    )
    audit_record(
        actor=user,
        action="circuit_breaker.resume",
        target=audit_target(breaker),
        reason=reason,
        details={"tripped_at": str(breaker.tripped_at), "cause": breaker.reason[:500]},
    )
    return breaker
