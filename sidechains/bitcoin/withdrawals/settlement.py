"""A withdrawal transaction deep enough on the chain: its coins spent, its change a new coin,
the rest of its fee-bump family closed, its withdrawals settled and their escrow burned, the
difference between the fees they were charged and the network fee recorded in the fee pool, and
its signers' statistics counted; all in one database transaction, exactly once."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from chains.bitcoin.transactions import output_count
from ledger.models import Entry, LedgerAccount
from ledger.services import ledger_transfer, system_account
from rates.assets import Asset, Pair
from rates.conversion import to_pegged
from rates.models import ExchangeRate, rate_in_force
from sidechains.bitcoin.anchor import epoch_anchor_confirmed
from sidechains.bitcoin.withdrawals.errors import WithdrawalError
from sidechains.models import Coin, SidechainTransaction, Withdrawal
from sidechains.transitions import (
    coin_created,
    coin_transition,
    sidechain_tx_transition,
    withdrawal_transition,
)
from sons.models import Sidechain, SONStatistics

STX = SidechainTransaction.Status
# Transactions that move the federation's own coins: nobody is charged their network fee, the
# fee pool pays it (a refund's fee comes out of the refunded coin; a batch's, out of its quotes).
FEDERATION_COSTS = (
    SidechainTransaction.Kind.SWEEP,
    SidechainTransaction.Kind.ROTATION_TEST,
    SidechainTransaction.Kind.ROTATION_SWEEP,
)


@transaction.atomic
def sidechain_tx_confirm(*, sidechain_tx_id: int, height: int) -> bool:
    """broadcast -> confirmed at `height`, and everything that follows; False if it was done
    before."""
    note = f"confirmed at height {height}"
    if not sidechain_tx_transition(
        sidechain_tx_id, STX.BROADCAST, STX.CONFIRMED, note, confirmed_height=height
    ):
        return False
    stx = SidechainTransaction.objects.get(pk=sidechain_tx_id)
    _spend_coins(stx)
    _close_family(stx)
    if stx.fee_bump_of_id is not None:
        stx.family_withdrawals().update(sidechain_tx=stx)  # the transaction that paid them
    if stx.change_amount:
        _keep_change(stx)
    epoch_anchor_confirmed(stx)
    withdrawals = list(stx.withdrawals.order_by("pk"))
    for withdrawal, network_share in zip(
        withdrawals, network_shares(stx.fee, len(withdrawals)), strict=True
    ):
        _settle(withdrawal, stx)
        _fee_pool(withdrawal, network_share)
    if stx.kind in FEDERATION_COSTS:
        _federation_fee(stx)
    SONStatistics.objects.filter(son_id__in=stx.signers, sidechain=Sidechain.BITCOIN).update(
        txs_signed=F("txs_signed") + 1
    )
    return True


def _spend_coins(stx: SidechainTransaction) -> None:
    for coin in Coin.objects.filter(tx_inputs__sidechain_tx=stx).exclude(status=Coin.Status.SPENT):
        coin_transition(
            coin.pk, coin.status, Coin.Status.SPENT, f"spent by {stx.txid}", spent_by=stx
        )


def _keep_change(stx: SidechainTransaction) -> None:
    assert stx.change_witness_script is not None  # set with the change (builder._persist)
    coin = Coin.objects.create(
        chain=stx.chain,
        txid=stx.txid,
        vout=output_count(bytes(stx.unsigned_tx)) - 1,  # the change is the last output
        amount=stx.change_amount,
        witness_script=bytes(stx.change_witness_script),
        prev_tx=bytes(stx.unsigned_tx),  # what its txid hashes: no witness in it
        kind=Coin.Kind.CHANGE,
    )
    coin_created(coin, f"change of transaction {stx.pk}")


def _close_family(confirmed: SidechainTransaction) -> None:
    """The other members of a confirmed transaction's fee-bump family can never confirm: the
    ones it replaced are `replaced`, bumps of it that lost are `failed`."""
    others = SidechainTransaction.objects.filter(pk__in=confirmed.family_ids())
    others = others.exclude(pk=confirmed.pk).exclude(status=STX.CONFIRMED)
    instead = f"transaction {confirmed.pk} ({confirmed.txid}) confirmed instead"
    for other in others:
        if other.pk < confirmed.pk:
            sidechain_tx_transition(other.pk, other.status, STX.REPLACED, instead)
        else:
            sidechain_tx_transition(other.pk, other.status, STX.FAILED, instead, last_error=instead)


def _settle(withdrawal: Withdrawal, stx: SidechainTransaction) -> None:
    note = f"{stx.txid} confirmed at height {stx.confirmed_height}"
    if not withdrawal_transition(
        withdrawal.pk,
        Withdrawal.Status.BROADCAST,
        Withdrawal.Status.SETTLED,
        note,
        settled_at=timezone.now(),
        note=note,
    ):
        raise WithdrawalError(f"Withdrawal {withdrawal.pk} is not broadcast.")
    ledger_transfer(
        source=system_account(LedgerAccount.System.SON_ACCOUNT),
        destination=system_account(LedgerAccount.System.ISSUANCE),
        asset=Asset.PBTC,
        amount=withdrawal.amount_pegged,
        reason=Entry.Reason.WITHDRAWAL_BURN,
        reference=f"withdrawal:{withdrawal.pk}",
    )


def network_shares(fee: int, n: int) -> list[int]:
    """The transaction's real fee split over its n withdrawals: equal shares, the remainder a
    satoshi each to the first ones, so the shares add up to the fee exactly."""
    if n == 0:
        return []
    share, rest = divmod(fee, n)
    return [share + (1 if i < rest else 0) for i in range(n)]


def _fee_pool(withdrawal: Withdrawal, network_share: int) -> None:
    """The fee the withdrawal was charged less its share of the network fee goes to the fee
    pool (issuance -> fee-pool: the satoshi the federation kept back it), or a shortfall comes
    from it (fee-pool -> issuance), in pBTC at the withdrawal's rate, rounded down."""
    Withdrawal.objects.filter(pk=withdrawal.pk).update(network_fee_share=network_share)
    difference = withdrawal.fee_share - network_share
    amount = to_pegged(abs(difference), withdrawal.rate, Pair.BTC_PBTC)
    if amount == 0:
        return
    issuance = system_account(LedgerAccount.System.ISSUANCE)
    pool = system_account(LedgerAccount.System.FEE_POOL)
    source, destination = (issuance, pool) if difference > 0 else (pool, issuance)
    ledger_transfer(
        source=source,
        destination=destination,
        asset=Asset.PBTC,
        amount=amount,
        reason=Entry.Reason.WITHDRAWAL_FEE,
        reference=f"withdrawal:{withdrawal.pk}",
    )


def _federation_fee(stx: SidechainTransaction) -> None:
    """The network fee of a sweep or a rotation step left the reserves: the fee pool pays it
    (fee-pool -> issuance, in pBTC at the rate in force, rounded down like the withdrawals'
    differences), once per confirmed transaction; the pool may go below zero."""
    if stx.fee <= 0:
        return
    try:
        rate = rate_in_force(Pair.BTC_PBTC).rate
    except ExchangeRate.DoesNotExist:
        return  # no rate: nothing was ever credited, so there is no pool to charge
    amount = to_pegged(stx.fee, rate, Pair.BTC_PBTC)
    if amount == 0:
        return
    ledger_transfer(
        source=system_account(LedgerAccount.System.FEE_POOL),
        destination=system_account(LedgerAccount.System.ISSUANCE),
        asset=Asset.PBTC,
        amount=amount,
        reason=Entry.Reason.FEDERATION_FEE,
        reference=f"sidechain-tx:{stx.pk}",
    )
