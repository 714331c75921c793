"""Transfers between portal users, authorized by the sender's own Bitcoin key.

The portal prepares the exact message (sender, receiver, asset, amount, a nonce, an expiry)
and keeps it; the sender signs it in the "Bitcoin Signed Message" format with the key they
registered (their Bitcoin deposit key); the portal recovers the key from the signature and, if
it is the sender's, moves the balance. A message moves tokens once: the transfer row is locked
and moved prepared -> done with the ledger entry, whose natural key is the nonce.
"""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from chains.bitcoin.message import MessageSignatureError, message_signed_by
from ledger.models import Entry
from ledger.services import (
    LEDGER_ASSETS,
    InsufficientFunds,
    balances_of,
    ledger_account_for,
    ledger_transfer,
)
from mappings.models import SidechainAddress
from rates.assets import AmountError, amount_format, amount_parse
from solvency.models import Transfer
from sons.models import Sidechain

MAX_USERNAME = 150
HEADER = "SON portal transfer (sign exactly this text)"


class TransferError(Exception):
    """A transfer refused; str() says why. `code` names the case for the API and tests."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


def transfer_message(transfer: Transfer) -> str:
    """The text the sender signs: every term of the transfer, one per line, no trailing
    newline. The network and the nonce keep it from meaning anything elsewhere or twice."""
    return "\n".join(
        [
            HEADER,
            f"network: {settings.BITCOIN_NETWORK}",
            f"from: {transfer.sender.get_username()} (user {transfer.sender.pk})",
            f"to: {transfer.receiver.get_username()} (user {transfer.receiver.pk})",
            f"amount: {amount_format(transfer.amount, transfer.asset)}",
            f"base units: {transfer.amount}",
            f"nonce: {transfer.nonce}",
            f"expires: {transfer.expires_at.isoformat(timespec='seconds')}",
        ]
    )


def sender_key(user: AbstractBaseUser) -> str | None:
    """The Bitcoin key the user registered (hex, compressed), or None."""
    mapping = SidechainAddress.objects.for_user(user).active().for_chain(Sidechain.BITCOIN).first()
    return mapping.deposit_public_key if mapping and mapping.deposit_public_key else None


def transfer_prepare(
    *, sender: AbstractBaseUser, receiver: str, asset: str, amount: str, now=None
) -> Transfer:
    """Check the terms and keep the message to sign; nothing moves yet."""
    now = now or timezone.now()
    if asset not in LEDGER_ASSETS:
        raise TransferError(f"Send one of {', '.join(LEDGER_ASSETS)}.", code="asset")
    try:
        base_units = amount_parse(amount, asset)
    except AmountError as e:
        raise TransferError(str(e), code="amount") from None
    if base_units <= 0:
        raise TransferError("Send more than zero.", code="amount")
    to = _receiver(sender, receiver)
    key = sender_key(sender)
    if key is None:
        raise TransferError(
            "Register your Bitcoin key first (Addresses): transfers are signed with it.",
            code="no_key",
        )
    _check_balance(sender, asset, base_units)
    expires_at = now + timedelta(seconds=settings.TRANSFER_MESSAGE_LIFETIME)
    transfer = Transfer(
        sender=sender,
        receiver=to,
        asset=asset,
        amount=base_units,
        public_key=key,
        nonce=secrets.token_hex(16),
        created_at=now,
        expires_at=expires_at.replace(microsecond=0),
    )
    transfer.message = transfer_message(transfer)
    transfer.save()
    return transfer


def _receiver(sender: AbstractBaseUser, username: str):
    username = username.strip()[: MAX_USERNAME + 1]
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None or len(username) > MAX_USERNAME:
        raise TransferError(f"No portal user is called {username[:40]!r}.", code="receiver")
    if user.pk == sender.pk:
        raise TransferError("You cannot send to yourself.", code="receiver")
    return user


def _check_balance(user: AbstractBaseUser, asset: str, amount: int) -> None:
    held = balances_of(user)[asset]
    if held < amount:
        raise TransferError(
            f"You hold {amount_format(held, asset)}, not {amount_format(amount, asset)}.",
            code="balance",
        )


def transfer_execute(
    *, transfer_id: int, sender: AbstractBaseUser, signature: str, now: datetime | None = None
) -> Transfer:
    """Verify the sender's signature over the prepared message and move the tokens, once."""
    now = now or timezone.now()
    with transaction.atomic():
        transfer = (
            Transfer.objects.select_for_update()
            .select_related("sender", "receiver")
            .filter(pk=transfer_id, sender=sender)
            .first()
        )
        if transfer is None:
            raise TransferError("No such transfer of yours.", code="not_found")
        _check_signable(transfer, signature, now)
        try:
            entry = ledger_transfer(
                source=ledger_account_for(transfer.sender),
                destination=ledger_account_for(transfer.receiver),
                asset=transfer.asset,
                amount=transfer.amount,
                reason=Entry.Reason.TRANSFER,
                reference=f"transfer:{transfer.nonce}",
            )
        except InsufficientFunds:
            held = balances_of(transfer.sender)[transfer.asset]
            raise TransferError(
                f"You hold {amount_format(held, transfer.asset)}, not "
                f"{transfer.amount_display()}: nothing was sent.",
                code="balance",
            ) from None
        done = Transfer.objects.filter(pk=transfer.pk, status=Transfer.Status.PREPARED).update(
            status=Transfer.Status.DONE, signature=signature.strip(), done_at=now, entry=entry
        )
        if done != 1:  # cannot happen while the row is locked; never move twice
            raise TransferError("This transfer changed while it was locked.", code="conflict")
    transfer.refresh_from_db()
    return transfer


def _check_signable(transfer: Transfer, signature: str, now: datetime) -> None:
    if transfer.status == Transfer.Status.DONE:
        raise TransferError(
            "This message was already used: a signed transfer moves tokens once.",
            code="replayed",
        )
    if transfer.expired(now):
        raise TransferError(
            "This message expired: prepare the transfer again and sign the new message.",
            code="expired",
        )
    try:
        signed = message_signed_by(
            transfer.message, signature[:200], bytes.fromhex(transfer.public_key)
        )
    except MessageSignatureError as e:
        raise TransferError(str(e), code="bad_signature") from None
    if not signed:
        raise TransferError(
            "This signature is not by your registered Bitcoin key over this exact message.",
            code="wrong_key",
        )
