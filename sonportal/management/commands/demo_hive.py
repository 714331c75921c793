"""The demo users' Hive wallets: a transfer to the federation account, as a user would send it.

It plays the part of a user's own Hive wallet on the Hive dev node, so the demo shows a Hive
deposit end to end. The private keys live in the file named by DEMO_HIVE_WALLET_FILE (bin/stack.py
makes it under .stack/demo). The transaction is built and signed with the dev node's own code
(devnode/hive/transactions.py), as a user's wallet library would: the portal itself never signs.

A user with no verified mapping for the account proves control with the same transfer: its memo
is the ownership claim's code (docs/mappings.md), and the deposit is credited to them.
"""

import json
import os
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chains.hive.rpc import HiveRPC, HiveRPCError, HiveRPCUnavailable
from devnode.hive import keys
from devnode.hive.protocol import Asset, Transfer, parse_time, transaction_to_json
from devnode.hive.transactions import build_transaction, sign_transaction, transaction_id
from mappings.hive_ownership import hive_claim_start
from mappings.models import SidechainAddress
from mappings.services import MappingError
from rates.assets import AmountError, amount_parse
from sidechains.models import HiveDeposit
from sons.models import Sidechain


class Command(BaseCommand):
    help = "Demo only: send HIVE from a demo user's Hive account to the federation account."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        deposit = sub.add_parser("deposit")
        deposit.add_argument("--user", required=True, help="the portal user credited")
        deposit.add_argument("--account", required=True, help="a Hive account in the wallet")
        deposit.add_argument("--hive", type=_amount, default=25_000, help="HIVE, e.g. 25.000")
        deposit.add_argument("--wait", type=float, default=120, help="seconds to await credit")
        deposit.add_argument(
            "--once", action="store_true", help="nothing if the user has a credited Hive deposit"
        )

    def handle(self, *args, action, user, account, hive, wait, once, **options):
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No portal user {user}.")
        if once and HiveDeposit.objects.for_user(owner).filter(status="credited").exists():
            self.stdout.write(f"{user} has a credited Hive deposit already.")
            return
        wif = _wallet().get(account)
        if wif is None:
            raise CommandError(f"The demo Hive wallet has no key for @{account}.")
        trx_id = hive_demo_deposit(user=owner, account=account, wif=wif, amount=hive)
        self.stdout.write(f"Sent {hive / 1000:.3f} HIVE from @{account}: {trx_id}")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            found = HiveDeposit.objects.filter(trx_id=trx_id).first()
            if found is not None and found.status != HiveDeposit.Status.RECEIVED:
                self.stdout.write(f"Hive deposit {found.pk}: {found.get_status_display()}.")
                return
            time.sleep(2)
        if wait:
            raise CommandError(f"{trx_id} was not credited within {wait:.0f} s.")


def _amount(text: str) -> int:
    try:
        return amount_parse(text, "HIVE")
    except AmountError as e:
        raise ValueError(str(e)) from e


def _wallet() -> dict[str, str]:
    path = Path(os.environ.get("DEMO_HIVE_WALLET_FILE", ".demo-hive-wallet.json"))
    try:
        return dict(json.loads(path.read_text()[:100_000]))
    except (OSError, ValueError) as e:
        raise CommandError(f"cannot read the demo Hive wallet {path}: {e}") from e


def hive_demo_deposit(*, user, account: str, wif: str, amount: int) -> str:
    """Send `amount` (0.001 HIVE) from @account to the federation account, signed with `wif`;
    the memo proves a new claim of the account, else names the user. Returns the trx_id."""
    try:
        memo = _memo(user, account)
        with HiveRPC(settings.HIVE_NODE_URL, timeout=10) as rpc:
            head = rpc.get_dynamic_global_properties()
            chain_id = str(rpc.get_config()["HIVE_CHAIN_ID"])
            op = Transfer(account, settings.HIVE_FEDERATION_ACCOUNT, Asset(amount, "HIVE"), memo)
            tx = build_transaction(
                [op], head_block_id=head["head_block_id"], head_block_time=parse_time(head["time"])
            )
            tx = sign_transaction(tx, [keys.private_key_from_wif(wif)], chain_id)
            rpc.broadcast_transaction(transaction_to_json(tx))
    except (HiveRPCError, HiveRPCUnavailable, MappingError) as e:
        raise CommandError(f"The Hive deposit failed: {e}") from e
    return transaction_id(tx)


def _memo(user, account: str) -> str:
    mapped = (
        SidechainAddress.objects.active()
        .for_user(user)
        .for_chain(Sidechain.HIVE)
        .filter(hive_account=account)
        .exists()
    )
    if mapped:
        return f"to:{user.username}"
    return hive_claim_start(user=user, hive_account=account).memo_code
