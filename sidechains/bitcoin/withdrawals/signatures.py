"""The signing request the SONs' signers fetch (docs/signing-requests.md), and their answers:
every signature verified against its input's BIP143 digest before it is stored, or a refusal
kept with its reasons. The signers' limits on a request are mirrored here (a test keeps them
equal): the builder chooses coins to stay inside them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import coincurve
from bitcoin.core import CTransaction
from django.conf import settings
from django.db import transaction

from chains.bitcoin.federation import script_keys, threshold
from chains.bitcoin.spend import signature_hash
from sidechains.bitcoin.withdrawals.errors import (
    SidechainTxClosed,
    SidechainTxNotFound,
    SignatureRejected,
)
from sidechains.models import SidechainTransaction, SignerRefusal, TxSignature, Withdrawal
from sons.models import SON, Sidechain

log = logging.getLogger(__name__)

# A previous transaction of at most a standard transaction's size, and the transaction with
# its previous transactions within MAX_REQUEST_BYTES (signer/request.py).
REQUEST_VERSION = 2
MAX_PREV_TX_BYTES = 100_000
MAX_REQUEST_BYTES = 5_000_000
PREV_TXS_BUDGET = MAX_REQUEST_BYTES - 100_000  # room for the (standard) transaction itself


def withdrawal_payout_id(withdrawal: Withdrawal) -> str:
    return f"w-{withdrawal.pk}"


def signing_request_for(sidechain_tx: SidechainTransaction) -> dict[str, Any]:
    """The request a signer reviews and signs (docs/signing-requests.md), exactly. No input
    amounts: each input's previous transaction, from which the signers read them."""
    coins = [i.coin for i in sidechain_tx.inputs.select_related("coin").order_by("index")]
    withdrawals = sidechain_tx.family_withdrawals().order_by("pk")
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
    } | _destination_version(sidechain_tx)


def _destination_version(sidechain_tx: SidechainTransaction) -> dict[str, Any]:
    """A rotation's transaction names the version whose wallet it pays: a signer whose operator
    did not accept that version refuses it (VERSION_NOT_ACCEPTED, docs/rotation.md)."""
    version = sidechain_tx.federation_version
    if version is None:
        return {}
    return {"federation": {"keys": list(version.keys), "threshold": version.threshold}}


def _refund_payouts(sidechain_tx: SidechainTransaction) -> list[dict[str, Any]]:
    """A refund transaction's payout (sidechains/bitcoin/refunds.py), listed like a withdrawal."""
    return [
        {"id": refund.payout_id, "address": refund.address, "amount": refund.amount}
        for refund in sidechain_tx.refunds.order_by("pk")
    ]


@dataclass(frozen=True)
class SubmitResult:
    accepted: int
    complete: bool


@transaction.atomic
def signatures_submit(*, son: SON, sidechain_tx_id: int, answer: dict[str, Any]) -> SubmitResult:
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


def _verified(
    stx: SidechainTransaction, son: SON, signatures: list[dict[str, Any]]
) -> list[tuple[int, str, bytes]]:
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
        if bytes.fromhex(key) not in script_keys(script)[0]:
            raise SignatureRejected(f"{son}'s key is not in the script of input {index}.")
        if not _valid(tx, index, script, coin.amount, bytes.fromhex(key), signature):
            raise SignatureRejected(f"The signature of input {index} does not verify.")
        verified.append((index, key, signature))
    if len({index for index, _, _ in verified}) != len(verified):
        raise SignatureRejected("An input is signed twice in one answer.")
    return verified


def _valid(
    tx: CTransaction, index: int, script: bytes, amount: int, key: bytes, signature: bytes
) -> bool:
    if len(signature) < 9 or signature[-1] != 1:  # SIGHASH_ALL only
        return False
    digest = signature_hash(tx, index, script, amount)
    try:
        return coincurve.PublicKey(key).verify(signature[:-1], digest, hasher=None)
    except (ValueError, TypeError):
        return False


def _is_complete(stx: SidechainTransaction) -> bool:
    return chosen_signatures(stx) is not None


def chosen_signatures(stx: SidechainTransaction) -> list[dict[bytes, TxSignature]] | None:
    """Per input, m signatures in key order by keys of its script (its own federation
    version's: a coin of an older version needs m of that version's keys); None while one is
    short. Every stored signature was verified against its SON's registered key."""
    signatures = list(stx.signatures.all())
    chosen = []
    for tx_input in stx.inputs.select_related("coin").order_by("index"):
        keys, _ = script_keys(bytes(tx_input.coin.witness_script))
        by_key = {
            bytes.fromhex(s.public_key): s for s in signatures if s.input_index == tx_input.index
        }
        usable = [k for k in keys if k in by_key]
        m = threshold(len(keys))
        if len(usable) < m:
            return None
        chosen.append({k: by_key[k] for k in usable[:m]})
    return chosen
