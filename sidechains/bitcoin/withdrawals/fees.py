"""The fee rate the portal builds with (estimatesmartfee between a floor and a cap), and the fee
a user is shown before requesting a withdrawal."""

from __future__ import annotations

import math

import coincurve
from django.conf import settings

from chains.bitcoin.federation import federation_witness_script
from chains.bitcoin.fees import (
    INPUT_BYTES,
    P2WPKH_OUTPUT_BYTES,
    P2WSH_OUTPUT_BYTES,
    TX_OVERHEAD_BYTES,
    signed_vsize,
)
from chains.bitcoin.rpc import BitcoinRPC, BitcoinRPCError, BitcoinRPCUnavailable
from sons.federation import federation_current
from sons.models import FederationVersion, Sidechain

FEE_TARGET_BLOCKS = 6
TYPICAL_BATCH = 10  # withdrawals per batch, for the fee shown before a request


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
    keys = federation_keys() or [coincurve.PrivateKey().public_key.format()]
    script = federation_witness_script(keys)
    outputs = TYPICAL_BATCH * P2WPKH_OUTPUT_BYTES + P2WSH_OUTPUT_BYTES
    unsigned = TX_OVERHEAD_BYTES + TYPICAL_BATCH * INPUT_BYTES + outputs
    vsize = signed_vsize(unsigned, [script] * TYPICAL_BATCH)
    return math.ceil(withdrawal_feerate(rpc=rpc) * vsize / TYPICAL_BATCH)


def federation_keys() -> list[bytes]:
    """Today's federation keys, sorted, its version recorded (its wallet pays the change)."""
    version = federation_current(Sidechain.BITCOIN)
    return [] if version is None else [bytes.fromhex(key) for key in version.keys]


def older_federation_keys() -> list[list[bytes]]:
    """The keys of each version a rotation replaced (retiring, or retired but paid by a late
    deposit), oldest first: their coins may pay withdrawals too (docs/rotation.md)."""
    older = FederationVersion.objects.filter(
        sidechain=Sidechain.BITCOIN,
        status__in=(FederationVersion.Status.RETIRING, FederationVersion.Status.RETIRED),
    ).order_by("pk")
    return [[bytes.fromhex(key) for key in version.keys] for version in older]
