"""The federation's Hive account balances, read from the node for /reserves (docs/proofs.md,
"Reserves"). Hive holds them in one account, so its reserves are that account's balances."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chains.hive.rpc import HiveRPC, HiveRPCError
from chains.hive.transfers import NAI_SYMBOLS, PRECISION
from sidechains.models import FederationBalance
from sons.models import Sidechain

FIELDS = {"HIVE": "balance", "HBD": "hbd_balance"}


def hive_reserves_read(*, rpc: HiveRPC) -> dict[str, int]:
    """Read the federation account's liquid HIVE and HBD and keep them (one row per asset)."""
    name = settings.HIVE_FEDERATION_ACCOUNT
    account = next((a for a in rpc.get_accounts([name]) if a.get("name") == name), None)
    if account is None:
        raise HiveRPCError("database_api.find_accounts", f"no account {name}")
    balances = {symbol: _amount(account[field], symbol) for symbol, field in FIELDS.items()}
    now = timezone.now()
    with transaction.atomic():
        for symbol, amount in balances.items():
            FederationBalance.objects.update_or_create(
                chain=Sidechain.HIVE,
                asset=symbol,
                defaults={"account": name, "amount": amount, "read_at": now},
            )
    return balances


def _amount(value: Any, symbol: str) -> int:
    """A NAI amount ({"amount": "1000", "precision": 3, "nai": ...}) in base units."""
    try:
        if NAI_SYMBOLS.get(value["nai"]) != symbol or int(value["precision"]) != PRECISION:
            raise ValueError(f"not {symbol}: {value!r}")
        return int(value["amount"])
    except (KeyError, TypeError, ValueError) as e:
        raise HiveRPCError("database_api.find_accounts", f"unexpected balance: {e}") from e
