"""Changing where a user's money goes: the Bitcoin withdraw address or the Hive account.

The first registration on a chain applies at once. Any later registration that pays somewhere
else is a change: the user asks for it with their second factor's code, the portal mails a link,
and only following it (signed in) applies the change, which then cools down for
MAPPING_CHANGE_COOLDOWN seconds: withdrawals keep paying the previous address meanwhile
(SidechainAddressQuerySet.withdrawal_target). The old and the new destination are both named
in the mail that says it happened. docs/mappings.md.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.mail import mail_send
from accounts.second_factor import has_second_factor, second_factor_verify
from mappings import services
from mappings.models import MappingChange, SidechainAddress
from sons.models import Sidechain


class ChangeError(services.MappingError):
    pass


def destination_of(sidechain: str, fields: dict[str, str]) -> str:
    return fields["withdraw_address"] if sidechain == Sidechain.BITCOIN else fields["hive_account"]


def _row_destination(mapping: SidechainAddress) -> str:
    return (
        mapping.withdraw_address if mapping.sidechain == Sidechain.BITCOIN else mapping.hive_account
    )


def change_needs_confirmation(*, user: User, sidechain: str, fields: dict[str, str]) -> bool:
    """Whether registering `fields` would pay somewhere other than the user's latest row on the
    chain (removing a mapping and registering anew is a change too)."""
    latest = SidechainAddress.objects.for_user(user).for_chain(sidechain).first()
    if latest is None:
        return False
    canonical = _canonical(sidechain, fields)
    return _row_destination(latest) != destination_of(sidechain, canonical)


def _canonical(sidechain: str, fields: dict[str, str]) -> dict[str, str]:
    """The fields as the services store them, checked by the same rules (MappingError)."""
    if sidechain == Sidechain.BITCOIN:
        # The key's source as typed (normalised): an extended key derives at confirmation.
        spec, address = services.parse_bitcoin(
            fields["deposit_public_key"], fields["withdraw_address"]
        )
        return {"deposit_public_key": spec.source, "withdraw_address": address}
    return {"hive_account": services.parse_hive(fields["hive_account"])}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


NEEDS_FACTOR = (
    "Changing where your money goes needs a second factor: add one under Account settings, "
    "Two-factor authentication, then come back."
)


def second_factor_check(user: User, code: str) -> None:
    """The person's second factor (`code`: their authenticator app's current code or a
    recovery code), checked by the services themselves so that no caller can skip it."""
    if not has_second_factor(user):
        raise ChangeError(NEEDS_FACTOR)
    if not second_factor_verify(user=user, code=code):
        raise ChangeError("Enter the current code of your authenticator app.", "code")


@transaction.atomic
def mapping_change_request(
    *, user: User, sidechain: str, fields: dict[str, str], code: str, token: str, confirm_url: str
) -> MappingChange:
    """Check the person's second factor, record the change (superseding a pending one) and mail
    the link that confirms it."""
    second_factor_check(user, code)
    return change_record(
        user=user, sidechain=sidechain, fields=fields, token=token, confirm_url=confirm_url
    )


@transaction.atomic
def change_record(
    *, user: User, sidechain: str, fields: dict[str, str], token: str, confirm_url: str
) -> MappingChange:
    """Record the change and mail its link, for a change whose second factor was checked when
    it began: mapping_change_request, or a Hive account change proved by its claim, which
    hive_claim_start opened only with the second factor."""
    canonical = _canonical(sidechain, fields)
    now = timezone.now()
    MappingChange.objects.filter(
        user=user, sidechain=sidechain, status=MappingChange.Status.PENDING
    ).update(status=MappingChange.Status.SUPERSEDED)
    change = MappingChange.objects.create(
        user=user,
        sidechain=sidechain,
        fields=canonical,
        token_hash=_hash(token),
        created_at=now,
        expires_at=now + timedelta(seconds=settings.MAPPING_CHANGE_CONFIRM_WITHIN),
    )
    context = {"user": user, "change": change, "confirm_url": confirm_url}
    transaction.on_commit(
        lambda: mail_send(
            to=[user.email],
            subject="Confirm the change of your withdraw destination",
            template="mappings/mail/change_confirm",
            context=context,
        )
    )
    return change


def change_for_token(*, user: User, token: str) -> MappingChange | None:
    """The user's change with this link, whatever its state; None for anyone else's."""
    if not token or len(token) > 100:
        return None
    return MappingChange.objects.filter(user=user, token_hash=_hash(token)).first()


@transaction.atomic
def mapping_change_confirm(*, user: User, token: str) -> SidechainAddress:
    """Apply the change the link names, once; the same link again answers the same row."""
    change = (
        MappingChange.objects.select_for_update()
        .filter(user=user, token_hash=_hash(token) if token else "")
        .first()
    )
    if change is None:
        raise ChangeError("This confirmation link is not yours or does not exist.")
    if change.status == MappingChange.Status.CONFIRMED and change.mapping is not None:
        return change.mapping
    if change.status == MappingChange.Status.SUPERSEDED:
        raise ChangeError("A newer change replaced this one: use the link of the latest mail.")
    if change.expires_at <= timezone.now():
        raise ChangeError("This confirmation link has expired. Ask for the change again.")
    previous = SidechainAddress.objects.for_user(user).for_chain(change.sidechain).first()
    mapping = _apply(user, change)
    MappingChange.objects.filter(pk=change.pk).update(
        status=MappingChange.Status.CONFIRMED, confirmed_at=timezone.now(), mapping=mapping
    )
    _tell_changed(user, change, previous, mapping)
    return mapping


def _apply(user: User, change: MappingChange) -> SidechainAddress:
    if change.sidechain == Sidechain.BITCOIN:
        mapping, _ = services.mapping_set_bitcoin(user=user, cooldown=True, **change.fields)
    else:
        mapping, _ = services.mapping_set_hive(user=user, cooldown=True, **change.fields)
    return mapping


def _tell_changed(
    user: User,
    change: MappingChange,
    previous: SidechainAddress | None,
    mapping: SidechainAddress,
) -> None:
    context = {
        "user": user,
        "chain": Sidechain(change.sidechain).label,
        "old": _row_destination(previous) if previous is not None else "",
        "new": _row_destination(mapping),
        "cooldown_until": mapping.cooldown_until,
    }
    transaction.on_commit(
        lambda: mail_send(
            to=[user.email],
            subject="Your withdraw destination was changed",
            template="mappings/mail/changed",
            context=context,
        )
    )
