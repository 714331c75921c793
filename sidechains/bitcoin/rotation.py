"""The Bitcoin side of a federation rotation (docs/rotation.md), one step per beat.

    accepted, m of its SONs' signers accept it (and m of the active version's SONs)
      -> test fund:   the smallest coin of the active version paid whole to the new wallet
      -> test return: the new set spends that test coin back to its own wallet
      -> activate:    the new version active, the old one retiring; users' deposit
                      addresses re-derived under it (the old ones stay watched and credited)
      -> sweeps:      every coin of older versions moved to the active wallet, in batches
      -> retire:      a retiring version holding no coin and paid by no open transaction

Every step's transaction is written (with its inputs reserved and a RotationStep naming it)
in one database transaction before any signer can fetch it; a step is taken again only when
its transaction's whole fee-bump family failed. The transactions go through the withdrawals'
machinery: signing requests naming the destination version (signers accept it only if their
operator did), the tracker's broadcast, rebroadcast, fee bumps, failure and settlement (the
output becomes a coin of the destination version).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum

from chains.bitcoin.federation import p2wsh_script_pubkey, script_keys
from chains.bitcoin.fees import DUST_LIMIT
from chains.bitcoin.rpc import BitcoinRPC
from chains.bitcoin.script import ScriptError
from chains.bitcoin.transactions import txid_of
from mappings.services import mappings_follow_federation
from sidechains.bitcoin.rotation_abandon import rotation_reoffer_abandoned
from sidechains.bitcoin.sweeps import SweepError, sweep_transaction, within_budget
from sidechains.bitcoin.withdrawals.builder import coins_gone, is_spendable, near_reclaim
from sidechains.bitcoin.withdrawals.fees import withdrawal_feerate
from sidechains.bitcoin.withdrawals.tracker import sidechain_tx_bump
from sidechains.models import Coin, RotationStep, SidechainTransaction, TxInput
from sidechains.models.transactions import CoinQuerySet
from sidechains.transitions import coin_transition, sidechain_tx_created
from sons.federation import (
    federation_current,
    federation_version_activate,
    federation_version_consents,
    federation_version_ready,
    federation_version_retire,
)
from sons.models import FederationVersion, Sidechain

log = logging.getLogger(__name__)

STX = SidechainTransaction.Status
Kind = SidechainTransaction.Kind
Step = RotationStep.Step
VS = FederationVersion.Status
OLDER = (VS.RETIRING, VS.RETIRED)  # versions whose coins go to the active one


def rotation_process(*, rpc: BitcoinRPC) -> int:
    """One beat of the move; returns how many steps were taken."""
    done = rotation_reoffer_abandoned(rpc=rpc)  # before the builders would take new coins
    accepted = FederationVersion.objects.filter(sidechain=Sidechain.BITCOIN, status=VS.ACCEPTED)
    newest = accepted.order_by("-pk").first()
    if newest is not None and federation_version_ready(newest):
        done += test_spend_step(newest, rpc=rpc)
    done += mappings_follow_federation()  # users' deposit addresses under the active version
    done += rotation_sweep_build(rpc=rpc) is not None
    done += rotation_bump_stale(rpc=rpc)
    return done + versions_retire()


def rotation_bump_stale(*, rpc: BitcoinRPC) -> int:
    """Fee-bump (RBF, the withdrawals' sidechain_tx_bump) each sent test spend or rotation sweep
    still unmined BITCOIN_ROTATION_BUMP_AFTER_BLOCKS blocks after it was sent: its latest
    member only, so each bump waits as long again. A sweep's deposit coins also raise its rate
    as their deadline nears (sweeps_escalate); wallet coins have no deadline, this is their
    only bump besides the tracker's time-based one. Returns how many were bumped."""
    tip = rpc.get_block_count()
    stale = SidechainTransaction.objects.for_chain(Sidechain.BITCOIN).filter(
        kind__in=(Kind.ROTATION_TEST, Kind.ROTATION_SWEEP),
        status=STX.BROADCAST,
        fee_bumps__isnull=True,
        mined_height__isnull=True,
        broadcast_height__lte=tip - settings.BITCOIN_ROTATION_BUMP_AFTER_BLOCKS,
    )
    bumped = 0
    for pk in stale.order_by("pk").values_list("pk", flat=True):
        bumped += sidechain_tx_bump(sidechain_tx_id=pk, rpc=rpc) is not None
    return bumped


def family_state(stx: SidechainTransaction) -> tuple[str, SidechainTransaction | None]:
    """(confirmed | open | failed, the confirmed member) of its fee-bump family."""
    family = SidechainTransaction.objects.filter(pk__in=stx.family_ids())
    confirmed = family.filter(status=STX.CONFIRMED).first()
    if confirmed is not None:
        return "confirmed", confirmed
    if family.filter(status__in=SidechainTransaction.OPEN_STATUSES).exists():
        return "open", None
    return "failed", None


def _last_step(version: FederationVersion, step: str) -> RotationStep | None:
    return RotationStep.objects.filter(version=version, step=step).order_by("-pk").first()


def test_spend_step(version: FederationVersion, *, rpc: BitcoinRPC) -> int:
    """The next step of the version's test spend, or its activation once the test coin came
    back; 0 while a step's transaction is on its way."""
    fund = _last_step(version, Step.TEST_FUND)
    fund_state, funded = (
        family_state(fund.sidechain_tx) if fund and fund.sidechain_tx else ("", None)
    )
    if fund_state in ("", "failed"):
        return _test_fund_build(version, rpc=rpc) is not None
    if funded is None:
        return 0
    back = _last_step(version, Step.TEST_RETURN)
    back_state, _ = family_state(back.sidechain_tx) if back and back.sidechain_tx else ("", None)
    if back_state in ("", "failed"):
        return _test_return_build(version, funded, rpc=rpc) is not None
    if back_state != "confirmed":
        return 0
    return _activate(version)


def _locked(version: FederationVersion) -> FederationVersion:
    """The version's row, locked for the caller's transaction: one beat takes a step at a time."""
    return FederationVersion.objects.select_for_update().get(pk=version.pk)


def _test_fund_build(version: FederationVersion, *, rpc: BitcoinRPC) -> SidechainTransaction | None:
    active = federation_current(Sidechain.BITCOIN)
    if active is None or not federation_version_consents(active, version):
        return None
    feerate, tip = withdrawal_feerate(rpc=rpc), rpc.get_block_count()
    with transaction.atomic():
        if _locked(version).status != VS.ACCEPTED or _open_step(version, Step.TEST_FUND):
            return None
        candidates = sorted(_coins_of(active, tip), key=lambda c: (c.amount, c.pk))
        for coin in candidates:
            _, fee, _ = sweep_transaction([coin], _wallet_spk(version), feerate)
            if coin.amount - 2 * fee < DUST_LIMIT:  # the return pays about the same fee
                continue
            if coins_gone(rpc, [coin]):
                continue
            note = f"test coin: {coin.outpoint} ({coin.amount} sat) to the new wallet"
            return _persist([coin], version, feerate, Kind.ROTATION_TEST, Step.TEST_FUND, note)
    log.warning("rotation to %s: no coin of the active version can pay a test spend", version)
    return None


def _test_return_build(
    version: FederationVersion, funded: SidechainTransaction, *, rpc: BitcoinRPC
) -> SidechainTransaction | None:
    feerate = withdrawal_feerate(rpc=rpc)
    with transaction.atomic():
        if _locked(version).status != VS.ACCEPTED or _open_step(version, Step.TEST_RETURN):
            return None
        coin = (
            Coin.objects.select_for_update()
            .filter(chain=Sidechain.BITCOIN, txid=funded.txid, vout=0)
            .filter(status=Coin.Status.AVAILABLE)
            .first()
        )
        if coin is None or coins_gone(rpc, [coin]):
            return None
        note = f"the new set spends the test coin {coin.outpoint} back to its wallet"
        return _persist([coin], version, feerate, Kind.ROTATION_TEST, Step.TEST_RETURN, note)


def _open_step(version: FederationVersion, step: str) -> bool:
    """A transaction of this step is open or confirmed already (taken under the version's lock)."""
    last = _last_step(version, step)
    if last is None or last.sidechain_tx is None:
        return False
    return family_state(last.sidechain_tx)[0] != "failed"


def _activate(version: FederationVersion) -> int:
    with transaction.atomic():
        if _locked(version).status != VS.ACCEPTED:
            return 0
        before = federation_current(Sidechain.BITCOIN)
        federation_version_activate(version=version)
        note = f"active; {before} retiring" if before else "active"
        RotationStep.objects.get_or_create(
            version=version, step=Step.ACTIVATED, defaults={"note": note}
        )
    log.info("federation version %s activated after its test spend", version)
    return 1


def rotation_sweep_build(*, rpc: BitcoinRPC) -> SidechainTransaction | None:
    """One sweep of an older version's available coins (oldest version first, up to
    BITCOIN_ROTATION_BATCH_SIZE coins) into the active wallet; None when one is open already,
    or there is nothing (worth) sweeping."""
    active = federation_current(Sidechain.BITCOIN)
    rotation_sweeps = SidechainTransaction.objects.filter(kind=Kind.ROTATION_SWEEP)
    if (
        active is None
        or rotation_sweeps.filter(status__in=SidechainTransaction.OPEN_STATUSES).exists()
    ):
        return None
    older = FederationVersion.objects.filter(sidechain=Sidechain.BITCOIN, status__in=OLDER)
    feerate, tip = withdrawal_feerate(rpc=rpc), rpc.get_block_count()
    for version in older.order_by("pk"):
        if not federation_version_consents(version, active):
            continue  # its SONs' signers would refuse: the rotation page shows who
        with transaction.atomic():
            coins = within_budget(_coins_of(version, tip)[: settings.BITCOIN_ROTATION_BATCH_SIZE])
            gone = coins_gone(rpc, coins)
            coins = [coin for coin in coins if coin not in gone]
            if not coins:
                continue
            total = sum(c.amount for c in coins)
            note = f"{len(coins)} coin(s), {total} sat of {version.short_fingerprint()}"
            stx = _persist(coins, active, feerate, Kind.ROTATION_SWEEP, Step.SWEEP, note, version)
            if stx is not None:
                return stx
    return None


def _coins_of(version: FederationVersion, tip: int) -> list[Coin]:
    """Available coins under the version's scripts (wallet and deposit), locked, oldest first;
    never a deposit coin near its reclaim height."""
    keys = [bytes.fromhex(key) for key in version.keys]
    available = _candidates(version, Coin.objects.available()).order_by("pk")
    locked = available.select_for_update(skip_locked=True, of=("self",))
    return [
        c
        for c in locked.select_related("deposit__mapping")
        if is_spendable(c, keys) and not near_reclaim(c, tip)
    ]


def _candidates(version: FederationVersion, coins: CoinQuerySet) -> CoinQuerySet:
    """Coins that may be the version's: under its wallet script (every change coin is), or a
    deposit coin (each user's deposit script differs; few stay unswept): the caller checks."""
    wallet = Q(witness_script=version.wallet_script)
    return coins.for_chain(Sidechain.BITCOIN).filter(wallet | Q(kind=Coin.Kind.DEPOSIT))


def _wallet_spk(version: FederationVersion) -> bytes:
    assert version.wallet_script is not None  # every Bitcoin version has one
    return p2wsh_script_pubkey(bytes(version.wallet_script))


def _persist(
    coins: Sequence[Coin],
    destination: FederationVersion,
    feerate: int,
    kind: str,
    step: str,
    note: str,
    source: FederationVersion | None = None,
) -> SidechainTransaction | None:
    """The transaction moving `coins` whole into the destination's wallet, its inputs reserved,
    and its step recorded (under `source` for a sweep, else the destination)."""
    tx, fee, vsize = sweep_transaction(coins, _wallet_spk(destination), feerate)
    output = sum(c.amount for c in coins) - fee
    if output < DUST_LIMIT:
        log.warning("no %s: %s coin(s) cannot pay its fee of %s sat", kind, len(coins), fee)
        return None
    stx = SidechainTransaction.objects.create(
        chain=Sidechain.BITCOIN,
        kind=kind,
        unsigned_tx=tx.serialize(),
        txid=txid_of(tx),
        fee=fee,
        vsize=vsize,
        feerate=feerate,
        change_amount=output,  # a coin of the destination version once it confirms
        change_witness_script=destination.wallet_script,
        federation_version=destination,
    )
    sidechain_tx_created(stx, f"{note}, at {feerate} sat/vB")
    TxInput.objects.bulk_create(
        TxInput(sidechain_tx=stx, index=i, coin=coin) for i, coin in enumerate(coins)
    )
    _reserve(coins, stx, note)
    RotationStep.objects.create(
        version=source or destination, step=step, sidechain_tx=stx, note=note
    )
    log.info("rotation %s %s: %s, %s sat fee", step, stx.pk, note, fee)
    return stx


def _reserve(coins: Sequence[Coin], stx: SidechainTransaction, note: str) -> None:
    for coin in coins:
        reserved = coin_transition(
            coin.pk, Coin.Status.AVAILABLE, Coin.Status.RESERVED, note, reserved_by=stx
        )
        if not reserved:  # cannot happen under our row locks
            raise SweepError(f"Coin {coin.pk} was taken while the rotation step was built.")


def version_of(coin: Coin) -> list[str]:
    """The sorted hex keys of the federation version whose script holds the coin ([] if none)."""
    try:
        return sorted(key.hex() for key in script_keys(bytes(coin.witness_script))[0])
    except ScriptError:
        return []


def version_holdings(version: FederationVersion) -> tuple[int, int]:
    """(coins, satoshi) the federation still holds under the version's scripts: its wallet
    coins counted by the database, then the deposit coins under other scripts (few stay
    unswept) read one by one for the version's keys."""
    held = Coin.objects.held().for_chain(Sidechain.BITCOIN)
    wallet = held.filter(witness_script=version.wallet_script).aggregate(
        n=Count("pk"), s=Sum("amount")
    )
    deposits = (
        held.filter(kind=Coin.Kind.DEPOSIT)
        .exclude(witness_script=version.wallet_script)
        .only("amount", "witness_script")
    )
    mine = [c for c in deposits if version_of(c) == sorted(version.keys)]
    return wallet["n"] + len(mine), (wallet["s"] or 0) + sum(c.amount for c in mine)


def versions_retire() -> int:
    """Each retiring version that holds no coin and that no open transaction pays becomes
    retired; returns how many did."""
    retired = 0
    for version in FederationVersion.objects.filter(
        sidechain=Sidechain.BITCOIN, status=VS.RETIRING
    ):
        with transaction.atomic():
            version = _locked(version)
            paying = SidechainTransaction.objects.filter(
                chain=Sidechain.BITCOIN,
                status__in=SidechainTransaction.OPEN_STATUSES,
                change_witness_script=version.wallet_script,
            )
            if version_holdings(version)[0] or paying.exists():
                continue
            if federation_version_retire(version=version):
                RotationStep.objects.get_or_create(
                    version=version, step=Step.RETIRED, defaults={"note": "no coin left"}
                )
                log.info("federation version %s retired: it holds no coin", version)
                retired += 1
    return retired
