"""Bitcoin withdrawals (DESIGN.md, "Withdrawal (BTC)"; docs/withdrawals.md).

    Withdrawal:  requested --batch--> batched --broadcast--> broadcast --confirmed--> settled
                 requested --batch: its address is refused now--> held (escrow kept)
                 requested/held --withdrawal_fail--> failed (escrow returned)
                 batched/broadcast --an input can never be spent by it--> failed (escrow returned)
    Transaction: awaiting_signatures --m signatures per input, sent--> broadcast --> confirmed
                 awaiting_signatures/broadcast --an input lost (reclaimed, spent)--> failed

The escrow moves with the request in one transaction; a batch (transaction, inputs, reserved
coins, batched withdrawals) commits as one before any signer can fetch it; the finished
transaction is stored before it is sent, so a restart sends the same bytes again.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from decimal import Decimal

import coincurve
from bitcoin.core import (
    CMutableTransaction,
    CMutableTxIn,
    COutPoint,
    CScriptWitness,
    CTransaction,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    b2lx,
    lx,
)
from bitcoin.core.script import CScript
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.services import audit_record, audit_target
from chains.bitcoin.addresses import AddressError, decode_address
from chains.bitcoin.federation import (
    federation_witness_script,
    p2wsh_script_pubkey,
    parse_deposit_script,
    parse_federation_script,
    threshold,
)
from chains.bitcoin.rpc import BitcoinRPC, BitcoinRPCError, BitcoinRPCUnavailable
from chains.bitcoin.script import ScriptError
from chains.bitcoin.spend import federation_witness, signature_hash
from ledger.models import Entry, LedgerAccount
from ledger.services import (
    balances_of,
    ledger_account_for,
    ledger_lock,
    ledger_transfer,
    system_account,
)
from mappings.destinations import federation_scripts, withdraw_destination
from mappings.models import SidechainAddress
from rates.assets import Asset, Pair, amount_format, max_amount
from rates.conversion import to_sidechain
from rates.models import ExchangeRate, rate_in_force
from sidechains.models import (
    Coin,
    Deposit,
    SidechainTransaction,
    SignerRefusal,
    TxInput,
    TxSignature,
    Withdrawal,
    WithdrawalEvent,
)
from sons.federation import federation_current, federation_public_keys
from sons.models import SON, Sidechain, SONStatistics

log = logging.getLogger(__name__)

DUST_LIMIT = 546  # the highest standard dust threshold, as the signers use
RBF_SEQUENCE = 0xFFFFFFFD
TX_VERSION = 2
FEE_TARGET_BLOCKS = 6
MAX_SIGNATURE_BYTES = 73  # DER + sighash byte, the upper bound the signers' estimate uses
# What sendrawtransaction says about a transaction the node already has.
ALREADY_KNOWN = -27
ALREADY_KNOWN_TEXT = ("txn-already-in-mempool", "already")
TYPICAL_BATCH = 10  # withdrawals per batch, for the fee shown before a request
# The signers' limits on a request (signer/request.py; a test keeps them equal): a previous
# transaction of at most a standard transaction's size, and the transaction with its previous
# transactions within MAX_REQUEST_BYTES. Coins are chosen to stay inside both.
REQUEST_VERSION = 2
MAX_PREV_TX_BYTES = 100_000
MAX_REQUEST_BYTES = 5_000_000
PREV_TXS_BUDGET = MAX_REQUEST_BYTES - 100_000  # room for the (standard) transaction itself


class WithdrawalError(Exception):
    """A withdrawal the portal refuses, or a step its state does not allow; nothing changed."""


class SignatureRejected(WithdrawalError):
    """A signer's answer the portal refuses; nothing of it was stored."""


class SidechainTxNotFound(WithdrawalError):
    pass


class SidechainTxClosed(WithdrawalError):
    """An answer for a transaction that no longer awaits signatures; nothing was stored."""


class WithdrawalAddressError(WithdrawalError):
    """The user has no withdraw address the portal may pay; nothing changed."""


# --- Requests -----------------------------------------------------------------------------


def withdrawal_mapping(user) -> SidechainAddress | None:
    return SidechainAddress.objects.active().for_user(user).for_chain(Sidechain.BITCOIN).first()


@dataclass(frozen=True)
class WithdrawalQuote:
    """What a withdrawal of amount_pegged pBTC would be, by every rule a request checks."""

    amount_pegged: int
    rate: Decimal
    amount: int  # satoshi, before the fee
    address: str
    balance: int  # the user's pBTC


def withdrawal_quote(*, user, amount_pegged: int, balance: int | None = None) -> WithdrawalQuote:
    """Every rule of a withdrawal request, in one place (the preview, the API and
    withdrawal_request call it); WithdrawalError with a message for the user. `balance` is the
    user's pBTC as read under the ledger's lock; by default it is read now."""
    _check_amount(amount_pegged)
    address = _destination(user)
    rate = _rate()
    amount = to_sidechain(amount_pegged, rate, Pair.BTC_PBTC)
    _check_value(amount_pegged, amount)
    if balance is None:
        balance = balances_of(user)[Asset.PBTC]
    if amount_pegged > balance:
        raise WithdrawalError(
            f"Your balance, {amount_format(balance, Asset.PBTC)}, is less than "
            f"{amount_format(amount_pegged, Asset.PBTC)}."
        )
    return WithdrawalQuote(amount_pegged, rate, amount, address, balance)


def _check_amount(amount_pegged: int) -> None:
    if isinstance(amount_pegged, bool) or not isinstance(amount_pegged, int) or amount_pegged <= 0:
        raise WithdrawalError("Enter an amount greater than zero.")
    if amount_pegged > max_amount(Asset.PBTC):
        largest = amount_format(max_amount(Asset.PBTC), Asset.PBTC)
        raise WithdrawalError(f"The largest withdrawal is {largest}.")


def _destination(user) -> str:
    """The user's registered withdraw address, if today's rules let the portal pay it."""
    mapping = withdrawal_mapping(user)
    if mapping is None:
        raise WithdrawalAddressError("Register a Bitcoin withdraw address (Addresses) first.")
    try:
        withdraw_destination(mapping.withdraw_address)
    except AddressError as e:
        raise WithdrawalAddressError(
            f"Your withdraw address cannot be paid: {e} Register another one (Addresses)."
        ) from None
    return mapping.withdraw_address


def _check_value(amount_pegged: int, amount: int) -> None:
    minimum = settings.BITCOIN_WITHDRAWAL_MINIMUM
    if amount < minimum:
        raise WithdrawalError(
            f"The minimum withdrawal is {amount_format(minimum, Asset.BTC)}; "
            f"{amount_format(amount_pegged, Asset.PBTC)} is worth "
            f"{amount_format(amount, Asset.BTC)}."
        )
    if amount > max_amount(Asset.BTC):  # a tiny rate: more than a bigint should ever hold
        raise WithdrawalError(
            f"{amount_format(amount_pegged, Asset.PBTC)} is worth more than "
            f"{amount_format(max_amount(Asset.BTC), Asset.BTC)}."
        )


def withdrawal_request(*, user, amount_pegged: int, request_id: str) -> Withdrawal:
    """Escrow `amount_pegged` pBTC of the user's and record a withdrawal to their registered
    withdraw address. Every rule (withdrawal_quote) passes before any row is written, the
    balance under the ledger's lock. A request_id seen before returns that first withdrawal."""
    earlier = _earlier(user, request_id)
    if earlier is not None:
        return earlier
    # Refuse what is refused anyway before taking the escrow account's lock, which every
    # request shares.
    withdrawal_quote(user=user, amount_pegged=amount_pegged)
    try:
        return _escrow(user, amount_pegged, request_id)
    except IntegrityError:
        earlier = _earlier(user, request_id)
        if earlier is None:
            raise
        return earlier  # a concurrent replay committed first


def _earlier(user, request_id: str) -> Withdrawal | None:
    return Withdrawal.objects.filter(user=user, request_id=request_id).first()


def _rate():
    try:
        return rate_in_force(Pair.BTC_PBTC).rate
    except ExchangeRate.DoesNotExist:
        raise WithdrawalError("There is no BTC/pBTC rate yet.") from None


@transaction.atomic
def _escrow(user, amount_pegged: int, request_id: str) -> Withdrawal:
    source = ledger_account_for(user)
    escrow = system_account(LedgerAccount.System.SON_ACCOUNT)
    held = ledger_lock(accounts=[source, escrow], asset=Asset.PBTC)
    earlier = _earlier(user, request_id)  # committed while this request waited for the lock
    if earlier is not None:
        return earlier
    quote = withdrawal_quote(user=user, amount_pegged=amount_pegged, balance=held[source.pk])
    withdrawal = Withdrawal.objects.create(
        user=user,
        amount_pegged=amount_pegged,
        rate=quote.rate,
        amount=quote.amount,
        address=quote.address,
        request_id=request_id,
    )
    ledger_transfer(
        source=source,
        destination=escrow,
        asset=Asset.PBTC,
        amount=amount_pegged,
        reason=Entry.Reason.WITHDRAWAL_ESCROW,
        reference=f"withdrawal:{withdrawal.pk}",
    )
    WithdrawalEvent.objects.create(
        withdrawal=withdrawal, new_status=Withdrawal.Status.REQUESTED, note="escrowed"
    )
    return withdrawal


@transaction.atomic
def withdrawal_fail(*, withdrawal: Withdrawal, reason: str, by=None) -> Withdrawal:
    """requested or held -> failed, returning the escrow to the user. A withdrawal already in
    a transaction cannot fail this way (the signers' journals hold its payout). `by`: the
    person who failed it (None: the portal); the audit log records who and why."""
    reason = reason[:200]
    moved = False
    for old in (Withdrawal.Status.REQUESTED, Withdrawal.Status.HELD):
        if _transition(
            withdrawal.pk,
            old,
            Withdrawal.Status.FAILED,
            reason,
            failure_reason=reason,
            failed_at=timezone.now(),
        ):
            moved = True
            break
    withdrawal.refresh_from_db()
    if not moved:
        if withdrawal.status == Withdrawal.Status.FAILED:
            return withdrawal
        raise WithdrawalError(f"Withdrawal {withdrawal.pk} is {withdrawal.status}: it cannot fail.")
    _return_escrow(withdrawal)
    audit_record(
        actor=by, action="withdrawal.failed", target=audit_target(withdrawal), reason=reason
    )
    return withdrawal


def withdrawal_hold(*, withdrawal: Withdrawal, reason: str) -> bool:
    """requested -> held for review, with the reason as its note: it is not paid, and keeps
    its escrow until an operator fails it (withdrawal_fail). False if it was not requested."""
    note = reason[:200]
    held = _transition(
        withdrawal.pk, Withdrawal.Status.REQUESTED, Withdrawal.Status.HELD, note, note=note
    )
    if held:
        log.warning("withdrawal %s held for review: %s", withdrawal.pk, reason)
    return held


def _transition(pk: int, old: str, new: str, event_note: str = "", **fields) -> bool:
    """The conditional UPDATE of a status change and its audit event (caller's transaction)."""
    n = Withdrawal.objects.filter(pk=pk, status=old).update(status=new, **fields)
    if n == 1:
        WithdrawalEvent.objects.create(
            withdrawal_id=pk, old_status=old, new_status=new, note=event_note[:200]
        )
    return n == 1


# --- Fees ---------------------------------------------------------------------------------


def withdrawal_feerate(*, rpc: BitcoinRPC) -> int:
    """sat/vB from estimatesmartfee, held between the floor and the cap; the floor when the
    node has no estimate (bcoin on regtest never has one)."""
    try:
        per_kvb = rpc.estimate_smart_fee(FEE_TARGET_BLOCKS)
    except BitcoinRPCUnavailable:
        raise
    except BitcoinRPCError:
        per_kvb = None
    rate = math.ceil(per_kvb / 1000) if per_kvb else 0
    floor, cap = settings.BITCOIN_WITHDRAWAL_FEERATE_FLOOR, settings.BITCOIN_WITHDRAWAL_FEERATE_CAP
    return min(max(rate, floor), cap)


def withdrawal_fee_estimate(*, rpc: BitcoinRPC) -> int:
    """Satoshi one withdrawal pays in a typical batch (TYPICAL_BATCH withdrawals to P2WPKH,
    one federation input each, change)."""
    keys = _federation_keys() or [coincurve.PrivateKey().public_key.format()]
    script = federation_witness_script(keys)
    per_output = 31  # P2WPKH output
    unsigned = 10 + TYPICAL_BATCH * (41 + per_output) + 43
    vsize = _vsize(unsigned, [script] * TYPICAL_BATCH)
    return math.ceil(withdrawal_feerate(rpc=rpc) * vsize / TYPICAL_BATCH)


def _vsize(unsigned_size: int, witness_scripts: list[bytes]) -> int:
    """Virtual size once signed, computed as the signers do (docs/signing-requests.md)."""
    witness = 2  # marker and flag
    for script in witness_scripts:
        keys, is_deposit = _script_keys(script)
        m = threshold(len(keys))
        witness += 1 + 1 + m * (1 + MAX_SIGNATURE_BYTES) + (2 if is_deposit else 0)
        witness += len(_compact_size(len(script))) + len(script)
    return (4 * unsigned_size + witness + 3) // 4


def _compact_size(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    return b"\xfd" + n.to_bytes(2, "little")


def _script_keys(script: bytes) -> tuple[tuple[bytes, ...], bool]:
    try:
        return parse_deposit_script(script).son_keys, True
    except ScriptError:
        return parse_federation_script(script), False


def _federation_keys() -> list[bytes]:
    """Today's federation keys, its version recorded (its wallet pays the change)."""
    version = federation_current(Sidechain.BITCOIN)
    return [] if version is None else [bytes.fromhex(key) for key in version.keys]


# --- The builder --------------------------------------------------------------------------


@dataclass
class _Plan:
    withdrawals: list[Withdrawal]
    coins: list[Coin]
    tx: CMutableTransaction
    fee: int
    fee_share: int
    vsize: int
    change: int


def withdrawals_batch(*, rpc: BitcoinRPC) -> SidechainTransaction | None:
    """Batch the oldest requested withdrawals into one unsigned transaction; None if there is
    nothing to batch or not enough coins. A withdrawal whose destination today's rules refuse
    is held for review instead, and the batch goes on without it."""
    keys = _federation_keys()
    if not keys:
        return None
    feerate = withdrawal_feerate(rpc=rpc)
    with transaction.atomic():
        withdrawals = list(
            Withdrawal.objects.batchable()
            .for_chain(Sidechain.BITCOIN)
            .select_for_update(skip_locked=True)
            .order_by("created_at", "pk")[: settings.BITCOIN_WITHDRAWAL_BATCH_SIZE]
        )
        withdrawals = _hold_undeliverable(withdrawals)
        if not withdrawals:
            return None
        coins = [
            coin
            for coin in Coin.objects.filter(
                chain=Sidechain.BITCOIN, status=Coin.Status.AVAILABLE
            ).select_for_update(skip_locked=True)
            if _spendable(coin, keys)
        ]
        coins.sort(key=lambda c: (-c.amount, c.pk))
        plan = _plan(withdrawals, coins, keys, feerate)
        if plan is None:
            return None
        return _persist(plan, keys, feerate)


def _hold_undeliverable(withdrawals: list[Withdrawal]) -> list[Withdrawal]:
    """The withdrawals the portal may pay; each other one is held for review (e.g. its address
    was registered before a rule that now refuses it, or a SON's key now pays to it)."""
    scripts = federation_scripts()
    payable = []
    for withdrawal in withdrawals:
        try:
            withdraw_destination(withdrawal.address, scripts=scripts)
        except AddressError as e:
            withdrawal_hold(withdrawal=withdrawal, reason=f"Its address is refused: {e}")
        else:
            payable.append(withdrawal)
    return payable


def _spendable(coin: Coin, keys: list[bytes]) -> bool:
    """Only coins of the current federation (the signers recognise no other scripts) whose
    previous transaction is kept and within the signers' limit (they take no amount on trust)."""
    if coin.prev_tx is None or len(coin.prev_tx) > MAX_PREV_TX_BYTES:
        return False
    try:
        return list(_script_keys(bytes(coin.witness_script))[0]) == keys
    except ScriptError:
        return False


def _plan(withdrawals, coins, keys, feerate) -> _Plan | None:
    change_spk = p2wsh_script_pubkey(federation_witness_script(keys))
    while withdrawals:
        plan = _select(withdrawals, coins, change_spk, feerate)
        if plan is None:
            _note(withdrawals, "waiting for federation coins to pay it")
            return None
        too_small = [w for w in withdrawals if w.amount - plan.fee_share < DUST_LIMIT]
        if not too_small:
            return plan
        _note(too_small, f"its share of the fee ({plan.fee_share} sat) leaves it below dust")
        withdrawals = [w for w in withdrawals if w not in too_small]
    return None


def _note(withdrawals: list[Withdrawal], note: str) -> None:
    log.info("withdrawals %s: %s", [w.pk for w in withdrawals], note)
    Withdrawal.objects.filter(pk__in=[w.pk for w in withdrawals]).update(note=note[:200])


def _select(withdrawals, coins, change_spk, feerate) -> _Plan | None:
    """Largest coins first until they pay every amount (payouts + fee) and leave either no
    change or change above dust."""
    owed = sum(w.amount for w in withdrawals)
    chosen: list[Coin] = []
    carried: set[str] = set()  # the previous transactions the signing request will carry
    room = PREV_TXS_BUDGET
    for coin in coins:
        if coin.txid not in carried:
            if len(coin.prev_tx) > room:
                continue  # over the signers' request size: it waits for another batch
            carried.add(coin.txid)
            room -= len(coin.prev_tx)
        chosen.append(coin)
        if sum(c.amount for c in chosen) < owed:
            continue
        plan = _priced(withdrawals, chosen, change_spk, feerate)
        if plan is not None:
            return plan
    if chosen and sum(c.amount for c in chosen) >= owed:
        # Every coin leaves change below dust: it goes to the fee instead.
        return _priced(withdrawals, chosen, change_spk, feerate, dust_to_fee=True)
    return None


def _priced(withdrawals, coins, change_spk, feerate, *, dust_to_fee=False) -> _Plan | None:
    """The payouts carry the fee (each its equal share), so the change is what the coins hold
    beyond the withdrawals' amounts."""
    with_change = _unsigned(withdrawals, coins, change_spk, 1, 0)
    vsize = _vsize(len(with_change.serialize()), [bytes(c.witness_script) for c in coins])
    fee_share = math.ceil(feerate * vsize / len(withdrawals))
    change = sum(c.amount for c in coins) - sum(w.amount for w in withdrawals)
    if 0 < change < DUST_LIMIT:
        if not dust_to_fee:
            return None
        change = 0
    tx = _unsigned(withdrawals, coins, change_spk, change, fee_share)
    fee = sum(c.amount for c in coins) - sum(o.nValue for o in tx.vout)
    return _Plan(list(withdrawals), list(coins), tx, fee, fee_share, vsize, change)


def _unsigned(withdrawals, coins, change_spk, change: int, fee_share: int) -> CMutableTransaction:
    inputs = [CMutableTxIn(COutPoint(lx(c.txid), c.vout), nSequence=RBF_SEQUENCE) for c in coins]
    outputs = [
        CTxOut(w.amount - fee_share, CScript(_script_pubkey(w.address))) for w in withdrawals
    ]
    if change:
        outputs.append(CTxOut(change, CScript(change_spk)))
    return CMutableTransaction(inputs, outputs, nLockTime=0, nVersion=TX_VERSION)


def _script_pubkey(address: str) -> bytes:
    # Withdrawals reach here checked (_hold_undeliverable); refunds (refunds.py) do not.
    return decode_address(address, settings.BITCOIN_NETWORK).script_pubkey


def _persist(plan: _Plan, keys: list[bytes], feerate: int) -> SidechainTransaction:
    stx = SidechainTransaction.objects.create(
        chain=Sidechain.BITCOIN,
        unsigned_tx=plan.tx.serialize(),
        txid=b2lx(plan.tx.GetTxid()),
        fee=plan.fee,
        vsize=plan.vsize,
        feerate=feerate,
        change_amount=plan.change,
        change_witness_script=federation_witness_script(keys) if plan.change else None,
    )
    TxInput.objects.bulk_create(
        TxInput(sidechain_tx=stx, index=i, coin=coin) for i, coin in enumerate(plan.coins)
    )
    reserved = Coin.objects.filter(
        pk__in=[c.pk for c in plan.coins], status=Coin.Status.AVAILABLE
    ).update(status=Coin.Status.RESERVED, reserved_by=stx)
    if reserved != len(plan.coins):  # cannot happen under our row locks
        raise WithdrawalError("A coin was taken while the batch was built.")
    note = f"in transaction {stx.pk} ({stx.txid})"
    for withdrawal in plan.withdrawals:
        moved = _transition(
            withdrawal.pk,
            Withdrawal.Status.REQUESTED,
            Withdrawal.Status.BATCHED,
            note,
            sidechain_tx=stx,
            fee_share=plan.fee_share,
            note=note,
        )
        if not moved:
            raise WithdrawalError(f"Withdrawal {withdrawal.pk} changed while it was batched.")
    return stx


# --- Signing requests and answers ---------------------------------------------------------


def withdrawal_payout_id(withdrawal: Withdrawal) -> str:
    return f"w-{withdrawal.pk}"


def signing_request_for(sidechain_tx: SidechainTransaction) -> dict:
    """The request a signer reviews and signs (docs/signing-requests.md), exactly. No input
    amounts: each input's previous transaction, from which the signers read them."""
    coins = [i.coin for i in sidechain_tx.inputs.select_related("coin").order_by("index")]
    withdrawals = family_withdrawals(sidechain_tx).order_by("pk")
    return {
        "id": str(sidechain_tx.pk),
        "version": REQUEST_VERSION,
        "chain": "bitcoin",
        "network": settings.BITCOIN_NETWORK,
        "tx": bytes(sidechain_tx.unsigned_tx).hex(),
        "inputs": [
            {
                "txid": coin.txid,
                "vout": coin.vout,
                "witness_script": bytes(coin.witness_script).hex(),
            }
            for coin in coins
        ],
        # Once per txid. A coin without one (never selected) is left out: the signers refuse
        # the request (PREV_TX_MISSING) rather than sign an amount on trust.
        "prev_txs": {
            coin.txid: bytes(coin.prev_tx).hex() for coin in coins if coin.prev_tx is not None
        },
        "withdrawals": [
            {"id": withdrawal_payout_id(w), "address": w.address, "amount": w.payout}
            for w in withdrawals
        ]
        + _refund_payouts(sidechain_tx),
        "fee_bump_of": str(sidechain_tx.fee_bump_of_id) if sidechain_tx.fee_bump_of_id else None,
    }


def _refund_payouts(sidechain_tx: SidechainTransaction) -> list[dict]:
    """A refund transaction's payout (sidechains/bitcoin/refunds.py), listed like a withdrawal."""
    return [
        {"id": refund.payout_id, "address": refund.address, "amount": refund.amount}
        for refund in sidechain_tx.refunds.order_by("pk")
    ]


def signing_requests_for_son(son: SON):
    """Transactions awaiting this SON's signatures: not finished, not signed or refused by it."""
    return (
        SidechainTransaction.objects.filter(
            status=SidechainTransaction.Status.AWAITING_SIGNATURES, signed_tx__isnull=True
        )
        .exclude(signatures__son=son)
        .exclude(refusals__son=son)
        .order_by("pk")
    )


@dataclass(frozen=True)
class SubmitResult:
    accepted: int
    complete: bool


@transaction.atomic
def signatures_submit(*, son: SON, sidechain_tx_id: int, answer: dict) -> SubmitResult:
    """Store a signer's answer (its shape checked by serializers.SigningAnswerInput): every
    signature verified against its input's BIP143 digest, or a refusal.

    Only a transaction awaiting signatures and not yet finished takes answers; its row stays
    locked meanwhile, so it cannot be finished, failed or replaced under the answer. Raises
    SidechainTxNotFound, SidechainTxClosed or SignatureRejected, having stored nothing.
    """
    stx = _awaiting_answers(sidechain_tx_id)
    request_id = answer.get("request_id")
    if request_id is not None and request_id != str(stx.pk):
        raise SignatureRejected(f"request_id {request_id!r} is not {stx.pk}.")
    if answer.get("refused"):
        return _refusal_store(stx, son, answer["reasons"])
    verified = _verified(stx, son, answer["signatures"])
    TxSignature.objects.bulk_create(
        [
            TxSignature(
                sidechain_tx=stx, son=son, input_index=i, public_key=key, signature=signature
            )
            for i, key, signature in verified
        ],
        ignore_conflicts=True,  # a repeated answer: the unique constraint keeps the first
    )
    return SubmitResult(len(verified), _is_complete(stx))


def _awaiting_answers(sidechain_tx_id: int) -> SidechainTransaction:
    """The transaction, locked, if it still takes answers (the caller's transaction)."""
    stx = SidechainTransaction.objects.select_for_update().filter(pk=sidechain_tx_id).first()
    if stx is None:
        raise SidechainTxNotFound(f"No sidechain transaction {sidechain_tx_id}.")
    if stx.status != SidechainTransaction.Status.AWAITING_SIGNATURES:
        raise SidechainTxClosed(
            f"Transaction {stx.pk} is {stx.get_status_display()}: it takes no more answers."
        )
    if stx.signed_tx is not None:
        raise SidechainTxClosed(
            f"Transaction {stx.pk} already has its signatures: it takes no more answers."
        )
    return stx


def _refusal_store(stx: SidechainTransaction, son: SON, reasons: list[str]) -> SubmitResult:
    """A SON's refusal, once (a repeated refusal changes nothing); reasons are short codes."""
    if not stx.refusals.filter(son=son).exists():
        SignerRefusal.objects.create(sidechain_tx=stx, son=son, reasons=reasons)
        log.warning("SON %s refused transaction %s: %s", son, stx.pk, ", ".join(reasons))
    return SubmitResult(0, _is_complete(stx))


def _verified(stx: SidechainTransaction, son: SON, signatures) -> list[tuple[int, str, bytes]]:
    registered = son.public_key(Sidechain.BITCOIN)
    if registered is None:
        raise SignatureRejected(f"SON {son} has no registered Bitcoin key.")
    tx = CTransaction.deserialize(bytes(stx.unsigned_tx))
    coins = {i.index: i.coin for i in stx.inputs.select_related("coin")}
    verified = []
    for item in signatures:
        index, key, signature = item["input"], item["pubkey"], bytes.fromhex(item["signature"])
        if key != registered:
            raise SignatureRejected(
                f"Input {index} is signed with key {key}, not {son}'s registered key."
            )
        coin = coins.get(index)
        if coin is None:
            raise SignatureRejected(f"Transaction {stx.pk} has no input {index}.")
        script = bytes(coin.witness_script)
        if bytes.fromhex(key) not in _script_keys(script)[0]:
            raise SignatureRejected(f"{son}'s key is not in the script of input {index}.")
        if not _valid(tx, index, script, coin.amount, bytes.fromhex(key), signature):
            raise SignatureRejected(f"The signature of input {index} does not verify.")
        verified.append((index, key, signature))
    if len({index for index, _, _ in verified}) != len(verified):
        raise SignatureRejected("An input is signed twice in one answer.")
    return verified


def _valid(tx, index: int, script: bytes, amount: int, key: bytes, signature: bytes) -> bool:
    if len(signature) < 9 or signature[-1] != 1:  # SIGHASH_ALL only
        return False
    digest = signature_hash(tx, index, script, amount)
    try:
        return coincurve.PublicKey(key).verify(signature[:-1], digest, hasher=None)
    except (ValueError, TypeError):
        return False


def _is_complete(stx: SidechainTransaction) -> bool:
    return _chosen_signatures(stx) is not None


def _chosen_signatures(stx: SidechainTransaction) -> list[dict[bytes, TxSignature]] | None:
    """Per input, m signatures in key order by keys of its script; None while one is short."""
    federation = {bytes.fromhex(k) for k in federation_public_keys(Sidechain.BITCOIN)}
    signatures = list(stx.signatures.all())
    chosen = []
    for tx_input in stx.inputs.select_related("coin").order_by("index"):
        keys, _ = _script_keys(bytes(tx_input.coin.witness_script))
        by_key = {
            bytes.fromhex(s.public_key): s for s in signatures if s.input_index == tx_input.index
        }
        usable = [k for k in keys if k in by_key and k in federation]
        m = threshold(len(keys))
        if len(usable) < m:
            return None
        chosen.append({k: by_key[k] for k in usable[:m]})
    return chosen


# --- Finishing and sending ----------------------------------------------------------------


def sidechain_tx_broadcast(*, sidechain_tx_id: int, rpc: BitcoinRPC) -> SidechainTransaction:
    """Finish (once, stored) and send a fully signed transaction; "already known" is sent.

    Any other node error is kept in last_error and the transaction stays as it is, so the
    next call (the tracker's beat) sends it again.
    """
    stx = _finalized(sidechain_tx_id)
    if stx.status != SidechainTransaction.Status.AWAITING_SIGNATURES or stx.signed_tx is None:
        return stx
    try:
        rpc.send_raw_transaction(bytes(stx.signed_tx))
    except BitcoinRPCUnavailable:
        raise
    except BitcoinRPCError as e:
        if not _already_known(e):
            log.warning("sending transaction %s failed: %s", stx.pk, e)
            SidechainTransaction.objects.filter(pk=stx.pk).update(last_error=str(e)[:2000])
            stx.refresh_from_db()
            return stx
    _mark_broadcast(stx)
    stx.refresh_from_db()
    return stx


def _already_known(error: BitcoinRPCError) -> bool:
    return error.code == ALREADY_KNOWN or any(t in error.message for t in ALREADY_KNOWN_TEXT)


@transaction.atomic
def _finalized(sidechain_tx_id: int) -> SidechainTransaction:
    stx = SidechainTransaction.objects.select_for_update().get(pk=sidechain_tx_id)
    if stx.signed_tx is not None or stx.status != SidechainTransaction.Status.AWAITING_SIGNATURES:
        return stx
    chosen = _chosen_signatures(stx)
    if chosen is None:
        return stx
    tx = CMutableTransaction.from_tx(CTransaction.deserialize(bytes(stx.unsigned_tx)))
    witnesses = []
    for tx_input, signatures in zip(
        stx.inputs.select_related("coin").order_by("index"), chosen, strict=True
    ):
        stack = federation_witness(
            bytes(tx_input.coin.witness_script),
            {key: bytes(s.signature) for key, s in signatures.items()},
        )
        witnesses.append(CTxInWitness(CScriptWitness(stack)))
    tx.wit = CTxWitness(witnesses)
    if b2lx(tx.GetTxid()) != stx.txid:  # a witness never changes the txid; guard the invariant
        raise WithdrawalError(f"Transaction {stx.pk} changed its txid when signed.")
    stx.signed_tx = tx.serialize()
    stx.signers = sorted({s.son_id for per_input in chosen for s in per_input.values()})
    stx.save(update_fields=["signed_tx", "signers"])
    return stx


@transaction.atomic
def _mark_broadcast(stx: SidechainTransaction) -> None:
    n = SidechainTransaction.objects.filter(
        pk=stx.pk, status=SidechainTransaction.Status.AWAITING_SIGNATURES
    ).update(
        status=SidechainTransaction.Status.BROADCAST, broadcast_at=timezone.now(), last_error=""
    )
    if n != 1:
        return
    for pk in stx.withdrawals.values_list("pk", flat=True):
        _transition(pk, Withdrawal.Status.BATCHED, Withdrawal.Status.BROADCAST, f"sent {stx.txid}")


# --- Tracking -----------------------------------------------------------------------------


def withdrawals_track(*, rpc: BitcoinRPC) -> int:
    """Send finished transactions not yet sent; settle the ones deep enough; send again the
    ones the node lost and bump the fee of the ones left unconfirmed too long. Returns how
    many transactions changed status."""
    changed = 0
    open_txs = SidechainTransaction.objects.filter(status__in=OPEN_TX_STATUSES).order_by("pk")
    for pk in open_txs.values_list("pk", flat=True):
        changed += sidechain_tx_fail_if_unspendable(sidechain_tx_id=pk, rpc=rpc)
    unsent = SidechainTransaction.objects.filter(
        status=SidechainTransaction.Status.AWAITING_SIGNATURES
    ).order_by("pk")
    for pk in unsent.values_list("pk", flat=True):
        stx = sidechain_tx_broadcast(sidechain_tx_id=pk, rpc=rpc)
        changed += stx.status == SidechainTransaction.Status.BROADCAST
    sent = SidechainTransaction.objects.filter(status=SidechainTransaction.Status.BROADCAST)
    for stx in sent.order_by("pk"):
        depth = tx_confirmations(rpc, stx.txid)
        if depth >= settings.BITCOIN_WITHDRAWAL_CONFIRMATIONS:
            height = rpc.get_block_count() - depth + 1
            changed += sidechain_tx_confirm(sidechain_tx_id=stx.pk, height=height)
        elif depth == 0:
            _unconfirmed(stx, rpc)
    return changed


OPEN_TX_STATUSES = (
    SidechainTransaction.Status.AWAITING_SIGNATURES,
    SidechainTransaction.Status.BROADCAST,
)
RECLAIMED = "reclaimed by its depositor"
SPENT_ELSEWHERE = "spent by the portal's transaction"


def coin_unspendable_reason(coin: Coin, family: list[int]) -> str | None:
    """Why a transaction of the fee-bump family `family` can never spend `coin`, or None.

    Only provable cases: the coin's deposit was reclaimed by its user with their own key (the
    listener saw the spend in a block: the deposit reclaimed, or its credited coin lost), or
    another confirmed transaction of the portal's (not of this family) spent it.
    """
    coin_name = f"coin {coin.pk} ({coin.txid}:{coin.vout})"
    if coin.status == Coin.Status.LOST:
        return f"{coin_name} was spent outside the portal: {RECLAIMED}"
    if coin.deposit_id is not None and coin.deposit.status == Deposit.Status.RECLAIMED:
        return f"{coin_name} was {RECLAIMED}: {coin.deposit.note}"
    if (
        coin.status == Coin.Status.SPENT
        and coin.spent_by_id is not None
        and coin.spent_by_id not in family
        and coin.spent_by.status == SidechainTransaction.Status.CONFIRMED
    ):
        spent_by = coin.spent_by
        return f"{coin_name} was {SPENT_ELSEWHERE} {spent_by.pk} ({spent_by.txid})"
    return None


def sidechain_tx_fail_if_unspendable(*, sidechain_tx_id: int, rpc: BitcoinRPC) -> bool:
    """Fail a transaction (and its fee-bump family) that can never be mined because one of its
    input coins is gone (coin_unspendable_reason), returning its withdrawals' escrow. True if
    it failed now; False if every input can still be spent, or it was done before.

    A transaction the node holds (mempool or chain) is never failed: the escrow could be
    paid out twice."""
    stx = SidechainTransaction.objects.filter(pk=sidechain_tx_id).first()
    if stx is None or stx.status not in OPEN_TX_STATUSES:
        return False
    family = family_ids(stx)
    reason = _lost_input(stx, family)
    if reason is None:
        return False
    members = SidechainTransaction.objects.filter(pk__in=family, status__in=OPEN_TX_STATUSES)
    for member in members:
        if member.signed_tx is not None and (
            tx_confirmations(rpc, member.txid) > 0 or _in_mempool(rpc, member.txid)
        ):
            log.error("transaction %s: %s, but the node holds %s", stx.pk, reason, member.txid)
            return False
    return _fail_family(stx.pk, family, reason)


def _lost_input(stx: SidechainTransaction, family: list[int]) -> str | None:
    inputs = stx.inputs.select_related("coin__deposit", "coin__spent_by").order_by("index")
    for tx_input in inputs:
        reason = coin_unspendable_reason(tx_input.coin, family)
        if reason is not None:
            return f"input {tx_input.index}: {reason}"
    return None


@transaction.atomic
def _fail_family(stx_pk: int, family: list[int], reason: str) -> bool:
    """One transaction: the family's open members failed, their other coins released, their
    withdrawals failed with the reason and their escrow returned."""
    locked = list(
        SidechainTransaction.objects.select_for_update()
        .filter(pk__in=family, status__in=OPEN_TX_STATUSES)
        .order_by("pk")
    )
    if not any(member.pk == stx_pk for member in locked):
        return False  # failed (or confirmed) by a concurrent run
    stx = next(member for member in locked if member.pk == stx_pk)
    reason = _lost_input(stx, family)  # again, under the lock
    if reason is None:
        return False
    last_error = f"failed: {reason}"[:2000]
    SidechainTransaction.objects.filter(
        pk__in=[m.pk for m in locked], status__in=OPEN_TX_STATUSES
    ).update(status=SidechainTransaction.Status.FAILED, last_error=last_error)
    reserved = Coin.objects.select_for_update(of=("self",)).filter(
        reserved_by__in=family, status=Coin.Status.RESERVED
    )
    for coin in reserved.select_related("deposit", "spent_by"):
        if coin_unspendable_reason(coin, family) is None:
            Coin.objects.filter(pk=coin.pk, status=Coin.Status.RESERVED).update(
                status=Coin.Status.AVAILABLE, reserved_by=None
            )
        # An unspendable coin stays reserved by the failed transaction: never batched again.
    why = RECLAIMED if RECLAIMED in reason else "spent by another transaction"
    failure = f"Its transaction {stx.txid} can never be mined: a coin it spends was {why}."
    withdrawals = Withdrawal.objects.filter(sidechain_tx__in=family).order_by("pk")
    for withdrawal in withdrawals.select_related("user"):
        for old in (Withdrawal.Status.BATCHED, Withdrawal.Status.BROADCAST):
            if _transition(
                withdrawal.pk,
                old,
                Withdrawal.Status.FAILED,
                failure,
                failure_reason=failure,
                failed_at=timezone.now(),
                note=failure,
            ):
                _return_escrow(withdrawal)
                break
    log.warning("transaction %s failed: %s", stx_pk, reason)
    return True


def _return_escrow(withdrawal: Withdrawal) -> None:
    ledger_transfer(
        source=system_account(LedgerAccount.System.SON_ACCOUNT),
        destination=ledger_account_for(withdrawal.user),
        asset=Asset.PBTC,
        amount=withdrawal.amount_pegged,
        reason=Entry.Reason.WITHDRAWAL_RETURN,
        reference=f"withdrawal:{withdrawal.pk}",
    )


def _unconfirmed(stx: SidechainTransaction, rpc: BitcoinRPC) -> None:
    """The latest sent transaction of its family: sent again if the node lost it; bumped if
    it waited too long. An older one, replaced in the mempool by a sent bump, is left alone."""
    if stx.fee_bumps.filter(status=SidechainTransaction.Status.BROADCAST).exists():
        return
    age = (timezone.now() - stx.broadcast_at).total_seconds() if stx.broadcast_at else 0
    if age >= settings.BITCOIN_WITHDRAWAL_REBROADCAST_AFTER:
        sidechain_tx_rebroadcast(sidechain_tx=stx, rpc=rpc)
    if age >= settings.BITCOIN_WITHDRAWAL_BUMP_AFTER and not stx.fee_bumps.exists():
        sidechain_tx_bump(sidechain_tx_id=stx.pk, rpc=rpc)


def sidechain_tx_rebroadcast(*, sidechain_tx: SidechainTransaction, rpc: BitcoinRPC) -> bool:
    """Send the stored signed bytes again if the node's mempool does not hold them (a node
    restart, an eviction). True if sent."""
    if sidechain_tx.signed_tx is None or _in_mempool(rpc, sidechain_tx.txid):
        return False
    try:
        rpc.send_raw_transaction(bytes(sidechain_tx.signed_tx))
    except BitcoinRPCUnavailable:
        raise
    except BitcoinRPCError as e:
        if not _already_known(e):
            log.warning("sending transaction %s again failed: %s", sidechain_tx.pk, e)
            SidechainTransaction.objects.filter(pk=sidechain_tx.pk).update(last_error=str(e)[:2000])
            return False
    log.info("sent transaction %s (%s) again", sidechain_tx.pk, sidechain_tx.txid)
    return True


def _in_mempool(rpc: BitcoinRPC, txid: str) -> bool:
    try:
        rpc.call("getmempoolentry", txid)
    except BitcoinRPCUnavailable:
        raise
    except BitcoinRPCError:
        return False
    return True


def sidechain_tx_bump(*, sidechain_tx_id: int, rpc: BitcoinRPC) -> SidechainTransaction | None:
    """A replacement of a sent, unconfirmed transaction: the same inputs and payouts, a higher
    fee taken from the change, fee_bump_of set; the signers sign it as a fee bump. None when
    it cannot be bumped (no change left above dust, the rate already at the cap)."""
    floor = withdrawal_feerate(rpc=rpc)
    with transaction.atomic():
        old = SidechainTransaction.objects.select_for_update().get(pk=sidechain_tx_id)
        if old.status != SidechainTransaction.Status.BROADCAST or old.fee_bumps.exists():
            return None
        feerate = min(max(floor, old.feerate + max(1, old.feerate // 2)), _bump_cap())
        extra = feerate * old.vsize - old.fee
        change = old.change_amount - extra
        if extra <= 0 or not old.change_amount or change < DUST_LIMIT:
            reason = f"no fee bump: {extra} sat more would leave change {change} sat"
            SidechainTransaction.objects.filter(pk=old.pk).update(last_error=reason)
            return None
        return _persist_bump(old, feerate, change)


def _bump_cap() -> int:
    return settings.BITCOIN_WITHDRAWAL_FEERATE_CAP


def _persist_bump(old: SidechainTransaction, feerate: int, change: int) -> SidechainTransaction:
    tx = CMutableTransaction.from_tx(CTransaction.deserialize(bytes(old.unsigned_tx)))
    tx.vout[-1].nValue = change  # the change is the last output; the payouts stay as they are
    bump = SidechainTransaction.objects.create(
        chain=old.chain,
        unsigned_tx=tx.serialize(),
        txid=b2lx(tx.GetTxid()),
        fee=old.fee + old.change_amount - change,
        vsize=old.vsize,
        feerate=feerate,
        change_amount=change,
        change_witness_script=old.change_witness_script,
        fee_bump_of=old,
    )
    TxInput.objects.bulk_create(
        TxInput(sidechain_tx=bump, index=i.index, coin_id=i.coin_id) for i in old.inputs.all()
    )
    note = f"fee bumped: transaction {bump.pk} ({bump.txid}) at {feerate} sat/vB"
    family_withdrawals(old).update(note=note)
    log.info("transaction %s: %s", old.pk, note)
    return bump


def family_root(stx: SidechainTransaction) -> SidechainTransaction:
    while stx.fee_bump_of_id is not None:
        stx = stx.fee_bump_of
    return stx


def family_ids(stx: SidechainTransaction) -> list[int]:
    """The transaction a fee bump family started from, and every bump of it."""
    ids, frontier = [], [family_root(stx).pk]
    while frontier:
        ids += frontier
        frontier = list(
            SidechainTransaction.objects.filter(fee_bump_of__in=frontier).values_list(
                "pk", flat=True
            )
        )
    return ids


def family_withdrawals(stx: SidechainTransaction):
    """The withdrawals a transaction pays: those of its family (kept on the first one until a
    bump confirms)."""
    return Withdrawal.objects.filter(sidechain_tx__in=family_ids(stx))


def tx_confirmations(rpc: BitcoinRPC, txid: str) -> int:
    """Confirmations of a transaction (0 in the mempool or unknown)."""
    try:
        answer = rpc.call("getrawtransaction", txid, 1)
    except BitcoinRPCUnavailable:
        raise
    except BitcoinRPCError:
        return 0
    return int(answer.get("confirmations") or 0)


@transaction.atomic
def sidechain_tx_confirm(*, sidechain_tx_id: int, height: int) -> bool:
    """broadcast -> confirmed: coins spent, change a new coin, withdrawals settled and their
    escrow burned, the signers' statistics counted. False if it was done before."""
    n = SidechainTransaction.objects.filter(
        pk=sidechain_tx_id, status=SidechainTransaction.Status.BROADCAST
    ).update(status=SidechainTransaction.Status.CONFIRMED, confirmed_height=height)
    if n != 1:
        return False
    stx = SidechainTransaction.objects.get(pk=sidechain_tx_id)
    Coin.objects.filter(tx_inputs__sidechain_tx=stx).update(status=Coin.Status.SPENT, spent_by=stx)
    _replace_family(stx)
    withdrawals = family_withdrawals(stx)
    if stx.fee_bump_of_id is not None:
        withdrawals.update(sidechain_tx=stx)  # the transaction that paid them
    if stx.change_amount:
        Coin.objects.create(
            chain=stx.chain,
            txid=stx.txid,
            vout=stx.withdrawals.count(),  # change is the last output
            amount=stx.change_amount,
            witness_script=bytes(stx.change_witness_script),
            prev_tx=bytes(stx.unsigned_tx),  # what its txid hashes: no witness in it
            kind=Coin.Kind.CHANGE,
        )
    for withdrawal in stx.withdrawals.all():
        _settle(withdrawal, stx)
    SONStatistics.objects.filter(son_id__in=stx.signers, sidechain=Sidechain.BITCOIN).update(
        txs_signed=F("txs_signed") + 1
    )
    return True


def _replace_family(confirmed: SidechainTransaction) -> None:
    """The other members of a confirmed transaction's fee-bump family can never confirm: the
    ones it replaced are `replaced`, bumps of it that lost are `failed`."""
    others = SidechainTransaction.objects.filter(pk__in=family_ids(confirmed)).exclude(
        pk=confirmed.pk
    )
    others = others.exclude(status=SidechainTransaction.Status.CONFIRMED)
    older = others.filter(pk__lt=confirmed.pk)
    older.update(status=SidechainTransaction.Status.REPLACED)
    others.filter(pk__gt=confirmed.pk).update(
        status=SidechainTransaction.Status.FAILED,
        last_error=f"transaction {confirmed.pk} ({confirmed.txid}) confirmed instead",
    )


def _settle(withdrawal: Withdrawal, stx: SidechainTransaction) -> None:
    note = f"{stx.txid} confirmed at height {stx.confirmed_height}"
    if not _transition(
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
