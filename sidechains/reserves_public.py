"""What /reserves and GET /api/v1/reserves publish (docs/proofs.md, "Reserves"): per
sidechain the federation's coins or balances against the pegged tokens' supply, the margin,
the circuit breaker; and the latest liabilities epoch with its Bitcoin anchor.

Everything is read from rows the beat keeps (the last reserves check, the last Hive read), never
from a node during a request; the coin list is paged, with its count and total."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet, Sum

from chains.bitcoin.federation import p2wsh_script_pubkey
from ledger.services import ledger_supply
from rates.assets import Asset, Pair
from rates.conversion import to_sidechain
from rates.models import ExchangeRate, rate_in_force
from sidechains.models import CircuitBreaker, FederationBalance, ReservesCheck, ReservesCoin
from solvency.models import Epoch
from sons.models import FederationVersion, Sidechain

MAX_COINS = 500
HIVE_PAIRS = (Pair.HIVE_PHIVE, Pair.HBD_PHBD)


def reserves_report(*, offset: int = 0, limit: int = 100) -> dict[str, Any]:
    """The whole public report, with the coins from `offset`, at most `limit` (<= MAX_COINS)."""
    limit = max(0, min(limit, MAX_COINS))
    return {
        "bitcoin": bitcoin_reserves(offset=max(0, offset), limit=limit),
        "hive": hive_reserves(),
        "epoch": latest_epoch(),
    }


def bitcoin_reserves(*, offset: int, limit: int) -> dict[str, Any]:
    check = ReservesCheck.objects.filter(chain=Sidechain.BITCOIN).first()
    coins = ReservesCoin.objects.filter(chain=Sidechain.BITCOIN)
    summary = coins.aggregate(count=Count("pk"), total=Sum("amount"))
    tip = check.height if check else None
    rows = published_coins()
    return {
        "checked_at": check.checked_at if check else None,
        "height": tip,
        "reserves": check.reserves if check else 0,
        "liabilities": check.liabilities if check else 0,
        "receivables": check.receivables if check else 0,
        "margin": check.margin if check else 0,
        "supply": {Asset.PBTC.value: ledger_supply()[Asset.PBTC]},
        "circuit_breaker": breaker_state(Sidechain.BITCOIN),
        "versions": [_version(v) for v in _versions()],
        "coins": {
            "count": summary["count"],
            "total": summary["total"] or 0,
            "offset": offset,
            "limit": limit,
            "results": [coin_row(c, tip) for c in rows[offset : offset + limit]],
        },
    }


def _versions() -> list[FederationVersion]:
    versions = FederationVersion.objects.filter(
        sidechain=Sidechain.BITCOIN, wallet_script__isnull=False
    ).exclude(status=FederationVersion.Status.PROPOSED)
    return list(versions.order_by("created_at", "pk"))


def _version(version: FederationVersion) -> dict[str, Any]:
    return {
        "fingerprint": version.fingerprint,
        "status": version.status,
        "keys": list(version.keys),
        "threshold": version.threshold,
        "wallet_script": bytes(version.wallet_script or b"").hex(),
    }


def published_coins() -> QuerySet[ReservesCoin]:
    coins = ReservesCoin.objects.filter(chain=Sidechain.BITCOIN).select_related("version")
    return coins.order_by("height", "txid", "vout")


def coin_row(coin: ReservesCoin, tip: int | None) -> dict[str, Any]:
    script = bytes(coin.witness_script)
    return {
        "outpoint": f"{coin.txid}:{coin.vout}",
        "txid": coin.txid,
        "vout": coin.vout,
        "amount": coin.amount,
        "witness_script": script.hex(),
        "script_pubkey": p2wsh_script_pubkey(script).hex(),
        "version": coin.version.fingerprint if coin.version else None,
        "height": coin.height,
        "depth": tip - coin.height + 1 if tip is not None else None,
    }


def hive_reserves() -> dict[str, Any]:
    """The federation account's balances as last read, against pHIVE and pHBD's supply."""
    read = {b.asset: b for b in FederationBalance.objects.filter(chain=Sidechain.HIVE)}
    supply = ledger_supply()
    assets = []
    for pair in HIVE_PAIRS:
        held = read.get(pair.sidechain_asset.value)
        owed = _in_sidechain_units(supply[pair.pegged_asset], pair)
        balance = held.amount if held else 0
        assets.append(
            {
                "asset": pair.sidechain_asset.value,
                "balance": balance,
                "pegged": pair.pegged_asset.value,
                "supply": supply[pair.pegged_asset],
                "owed": owed,
                "margin": balance - owed,
            }
        )
    first = next(iter(read.values()), None)
    return {
        "account": first.account if first else settings.HIVE_FEDERATION_ACCOUNT,
        "read_at": first.read_at if first else None,
        "assets": assets,
        "circuit_breaker": breaker_state(Sidechain.HIVE),
    }


def _in_sidechain_units(pegged: int, pair: Pair) -> int:
    try:
        rate = rate_in_force(pair).rate
    except ExchangeRate.DoesNotExist:
        return pegged
    return to_sidechain(pegged, rate, pair)


def breaker_state(chain: str) -> dict[str, Any]:
    breaker = CircuitBreaker.objects.filter(chain=chain).first()
    tripped = bool(breaker and breaker.tripped)
    return {"tripped": tripped, "since": breaker.tripped_at if tripped and breaker else None}


def latest_epoch() -> dict[str, Any] | None:
    epoch = Epoch.objects.defer("chunk_tops").first()
    if epoch is None:
        return None
    return {
        "epoch": epoch.number,
        "created_at": epoch.created_at,
        "root": epoch.root,
        "totals": dict(epoch.totals_by_asset()),
        "anchor_txid": epoch.anchor_txid or None,
        "anchor_height": epoch.anchor_height,
    }
