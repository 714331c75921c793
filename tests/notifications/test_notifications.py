"""Notifications: recorded once per event and person from the rows the pipelines write, mailed
by a real Celery worker over SMTP to the mail catcher, with a text and an HTML part."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import profile_of
from notifications import receivers
from notifications.models import Notification
from proposals.models import Proposal
from sidechains.bitcoin.deposits import deposit_credit
from sidechains.models import Alert, Deposit, DepositEvent
from sons.models import SON, SONStatusChange
from tests import fixtures
from tests.proposals.helpers import make_down_son, make_witnesses, raise_deregistration
from tests.sidechains.deposit_helpers import (
    make_bitcoin_mapping,
    make_deposit,
    make_federation,
    set_btc_rate,
)

Kind = Notification.Kind


@pytest.mark.django_db(transaction=True)
def test_a_credited_deposit_is_mailed_once_with_text_and_html(
    bitcoin, celery_worker, mail_catcher, user_carol
):
    make_federation(3)
    set_btc_rate("1")
    mapping = make_bitcoin_mapping(user_carol)
    deposit = make_deposit(mapping, bitcoin, amount=1_500_000, status=Deposit.Status.CONFIRMED)

    deposit_credit(deposit_id=deposit.pk)

    mail = mail_catcher.wait_for(to=user_carol.email, subject="Deposit credited")
    assert "0.015" in mail.subject
    assert deposit.txid in mail.text and deposit.txid in mail.html
    assert "/deposits/" in mail.text
    # The same event again (a retried transition, the sweep): nothing more is mailed.
    receivers.deposit_notify(DepositEvent.objects.get(deposit=deposit, new_status="credited"))
    assert Notification.objects.filter(user=user_carol, kind=Kind.DEPOSIT_CREDITED).count() == 1
    sent = Notification.objects.get(kind=Kind.DEPOSIT_CREDITED)
    assert sent.sent_at is not None
    assert len([m for m in mail_catcher.mails() if "credited" in m.subject]) == 1


def test_a_muted_kind_is_recorded_but_not_sent(db, bitcoin, user_carol):
    profile = profile_of(user_carol)
    profile.muted = [Kind.DEPOSIT_SEEN]
    profile.save()
    make_federation(3)
    deposit = make_deposit(make_bitcoin_mapping(user_carol), bitcoin)
    DepositEvent.objects.create(deposit=deposit, new_status=Deposit.Status.DETECTED)
    [notification] = Notification.objects.filter(user=user_carol)
    assert (notification.kind, notification.skipped) == (Kind.DEPOSIT_SEEN, True)


def test_witnesses_and_the_operator_hear_of_a_deregistration_proposal(db):
    make_witnesses(1, 1)
    son = make_down_son("son-1", silent_since=timezone.now() - timedelta(hours=13))
    proposal = raise_deregistration(son, timezone.now())
    opened = Notification.objects.filter(kind=Kind.PROPOSAL_OPENED)
    assert {n.user.username for n in opened} == {"witness_alice", "witness_bob"}
    [told] = Notification.objects.filter(kind=Kind.SON_DEREGISTRATION)
    assert told.user == son.owner
    assert str(proposal.pk) in told.key


def test_an_operator_hears_their_son_is_down_but_not_of_requested_maintenance(db):
    son, _ = fixtures.make_son("son-1")
    now = timezone.now()
    for old in (SON.Status.ACTIVE, SON.Status.REQUEST_MAINTENANCE):
        SONStatusChange.objects.create(
            son=son,
            old_status=old,
            new_status=SON.Status.IN_MAINTENANCE,
            reason="r",
            created_at=now,
        )
    [down] = Notification.objects.filter(kind=Kind.SON_DOWN)
    assert down.user == son.owner


def test_administrators_hear_of_every_alert(db, admin_user, view_only_staff, user_carol):
    alert = Alert.objects.create(kind=Alert.Kind.DEEP_REORG, message="fork below the kept hashes")
    told = Notification.objects.filter(kind=Kind.ALERT)
    assert [n.user for n in told] == [admin_user]
    assert told.get().key == f"alert:{alert.pk}"


def test_the_sweep_catches_bulk_created_deposits_and_expiring_proposals(db, bitcoin, settings):
    settings.WITNESS_CYCLE = 3600
    carol = fixtures.make_user("user_carol")
    make_federation(3)
    deposit = make_deposit(make_bitcoin_mapping(carol), bitcoin)
    DepositEvent.objects.bulk_create([DepositEvent(deposit=deposit, new_status="detected")])
    make_witnesses(1)
    now = timezone.now()
    Proposal.objects.create(
        kind=Proposal.Kind.DEREGISTER_SON,
        son=SON.objects.first(),
        created_at=now - timedelta(hours=2),
        expires_at=now + timedelta(minutes=30),
    )
    receivers.sweep()
    receivers.sweep()  # twice: still once each
    assert Notification.objects.filter(kind=Kind.DEPOSIT_SEEN, user=carol).count() == 1
    assert Notification.objects.filter(kind=Kind.PROPOSAL_EXPIRING).count() == 1


def test_the_sweep_sends_again_what_was_recorded_but_never_sent(db, user_carol):
    from notifications.services import notifications_unsent

    old = Notification.objects.create(user=user_carol, kind=Kind.ALERT, key="a:1", subject="s")
    fresh = Notification.objects.create(user=user_carol, kind=Kind.ALERT, key="a:2", subject="s")
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert notifications_unsent(timezone.now()) == [old.pk]  # not the one still on its way
    Notification.objects.filter(pk=old.pk).update(sent_at=timezone.now())
    assert notifications_unsent(timezone.now()) == []
    assert fresh.sent_at is None
