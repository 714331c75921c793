"""The fee rate the portal builds with (estimatesmartfee between a floor and a cap), and the fee
a user is quoted before requesting a withdrawal: the fee they are charged (docs/withdrawals.md,
"The fee quote").

A quote is a signed token (django.core.signing, bound to the user) carrying the fee and its
expiry, so a preview writes nothing; the request checks it and stores the fee and the expiry on
the withdrawal. The batch's real fee differs from the quotes it carries: the change output takes
the difference, and the ledger's fee pool records it at settlement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import coincurve
from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.utils import timezone

from chains.bitcoin.federation import deposit_witness_script
from chains.bitcoin.fees import (
    INPUT_BYTES,
    P2WSH_OUTPUT_BYTES,
    TX_OVERHEAD_BYTES,
    signed_vsize,
)
from chains.bitcoin.rpc import BitcoinRPC, BitcoinRPCError, BitcoinRPCUnavailable
from rates.assets import Asset, amount_format
from sidechains.bitcoin.withdrawals.errors import WithdrawalError
from sons.federation import federation_current
from sons.models import FederationVersion, Sidechain

FEE_TARGET_BLOCKS = 6
QUOTE_SALT = "sidechains.withdrawal-fee-quote"
MAX_QUOTE_CHARS = 300  # a token is ~90 characters; anything longer is not one of ours


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


def deposit_script_for_sizing() -> bytes:
    """A deposit witness script of the current federation, as long as any user's: the input
    sizes fees are estimated with."""
    keys = federation_keys() or [coincurve.PrivateKey().public_key.format()]
    user_key = coincurve.PrivateKey().public_key.format()
    return deposit_witness_script(keys, user_key, settings.BITCOIN_DEPOSIT_TIMELOCK)


def withdrawal_fee_estimate(*, rpc: BitcoinRPC) -> int:
    """Satoshi quoted for one withdrawal: its transaction alone (one deposit-script input, its
    payout as large as any output, the change) at today's rate, plus BITCOIN_WITHDRAWAL_FEE_MARGIN
    percent. Batches of several share a fee that is smaller per withdrawal; the fee pool keeps
    the difference and pays for the batches that cost more (many small coins, a fee bump)."""
    script = deposit_script_for_sizing()
    unsigned = TX_OVERHEAD_BYTES + INPUT_BYTES + 2 * P2WSH_OUTPUT_BYTES
    vsize = signed_vsize(unsigned, [script])
    fee = withdrawal_feerate(rpc=rpc) * vsize
    return math.ceil(fee * (100 + settings.BITCOIN_WITHDRAWAL_FEE_MARGIN) / 100)


class FeeQuoteExpired(WithdrawalError):
    """A quote past its expiry: the caller shows a fresh one and asks again."""


@dataclass(frozen=True)
class FeeQuote:
    fee: int  # satoshi
    expires_at: datetime
    token: str  # what the confirmation posts back

    @property
    def fee_text(self) -> str:
        return amount_format(self.fee, Asset.BTC)


def fee_quote_make(*, user: User, rpc: BitcoinRPC) -> FeeQuote:
    """A quote of the fee for a withdrawal of the user's, valid BITCOIN_WITHDRAWAL_QUOTE_VALIDITY
    seconds; BitcoinRPCError when the node cannot be asked."""
    fee = withdrawal_fee_estimate(rpc=rpc)
    expires = timezone.now().replace(microsecond=0) + timedelta(
        seconds=settings.BITCOIN_WITHDRAWAL_QUOTE_VALIDITY
    )
    payload = {"u": user.pk, "f": fee, "e": int(expires.timestamp())}
    token = signing.dumps(payload, salt=QUOTE_SALT)
    return FeeQuote(fee, expires, token)


def fee_quote_read(*, user: User, token: str) -> FeeQuote:
    """The quote `token` carries, if it is the user's and still valid; WithdrawalError if it is
    not a quote of ours, FeeQuoteExpired if it is too old."""
    if not isinstance(token, str) or not token or len(token) > MAX_QUOTE_CHARS:
        raise WithdrawalError("This is not a fee quote of the portal's: preview again.")
    try:
        payload = signing.loads(token, salt=QUOTE_SALT)
        owner, fee, expiry = payload["u"], payload["f"], payload["e"]
    except (signing.BadSignature, KeyError, TypeError):
        raise WithdrawalError("This is not a fee quote of the portal's: preview again.") from None
    if owner != user.pk or not isinstance(fee, int) or not isinstance(expiry, int) or fee < 0:
        raise WithdrawalError("This fee quote is not yours: preview again.")
    expires = datetime.fromtimestamp(expiry, tz=UTC)
    if expires <= timezone.now():
        raise FeeQuoteExpired(
            f"The fee quote expired at {expires:%H:%M:%S} UTC (a quote holds "
            f"{settings.BITCOIN_WITHDRAWAL_QUOTE_VALIDITY // 60} minutes): check the fresh "
            "quote and confirm again."
        )
    return FeeQuote(fee, expires, token)


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
