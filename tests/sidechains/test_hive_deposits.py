"""Hive deposits against the dev node: irreversible blocks only, routing, holds, crediting."""

import re
import threading

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditRecord
from ledger.services import balances_of
from mappings import hive_ownership
from mappings.services import mapping_set_hive
from sidechains.hive import deposits, listener
from sidechains.models import ChainCursor, HiveDeposit
from sons.models import SON
from tests import fixtures
from tests.sidechains import hive_helpers as h

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def node():
    node = h.start_node()
    yield node
    node.stop()


@pytest.fixture
def hive(node, settings):
    settings.HIVE_NODE_URL = node.url
    settings.HIVE_FEDERATION_ACCOUNT = h.FEDERATION
    settings.HIVE_START_BLOCK = -1
    for i in (1, 2, 3):
        fixtures.make_son(f"son-{i}")
    h.set_hive_rates()
    with node.rpc() as rpc:
        listener.listener_scan(rpc=rpc)  # the cursor starts at today's irreversible block
    return node


def scan(node) -> int:
    with node.rpc() as rpc:
        return listener.listener_scan(rpc=rpc, max_blocks=10_000)


def mapped_sender(node, user) -> str:
    name = h.new_sender(node)
    mapping_set_hive(user=user, hive_account=name)  # as after a proof of control
    return name


def test_it_credits_a_mapped_sender_only_once_irreversible(hive, user_carol):
    sender = mapped_sender(hive, user_carol)
    trx_id = h.send(hive, sender, h.transfer_op(sender, 1500))
    hive.generate_blocks(1)  # in a block, not yet irreversible
    scan(hive)
    assert HiveDeposit.objects.count() == 0
    hive.generate_blocks(h.LAG)
    assert scan(hive) >= 1
    deposit = HiveDeposit.objects.get()
    assert (deposit.trx_id, deposit.op_index, deposit.amount) == (trx_id, 0, 1500)
    assert deposit.route == "sender" and deposit.user == user_carol
    assert deposits.hive_deposits_process() == 1
    deposit.refresh_from_db()
    assert deposit.status == "credited" and deposit.credited_amount == 1500
    assert balances_of(user_carol).get("pHIVE", 0) == 1500
    assert deposits.hive_deposits_process() == 0
    assert balances_of(user_carol).get("pHIVE", 0) == 1500


def test_it_routes_by_memo_and_credits_hbd(hive, user_carol):
    sender = h.new_sender(hive)
    h.send(hive, sender, h.transfer_op(sender, 2000, "HBD", memo=" to:user_carol "))
    h.make_irreversible(hive)
    scan(hive)
    deposits.hive_deposits_process()
    deposit = HiveDeposit.objects.get()
    assert (deposit.route, deposit.asset, deposit.status) == ("memo", "HBD", "credited")
    assert balances_of(user_carol).get("pHBD", 0) == 2000


def test_two_transfers_in_one_transaction_are_two_deposits(hive, user_carol):
    sender = mapped_sender(hive, user_carol)
    other = h.new_sender(hive)
    ops = [
        h.transfer_op(sender, 100),
        h.transfer_op(sender, 5, to=other),  # not to the federation: ignored
        h.transfer_op(sender, 200),
    ]
    trx_id = h.send(hive, sender, *ops)
    h.make_irreversible(hive)
    scan(hive)
    rows = list(
        HiveDeposit.objects.order_by("op_index").values_list("trx_id", "op_index", "amount")
    )
    assert rows == [(trx_id, 0, 100), (trx_id, 2, 200)]


@pytest.mark.parametrize(
    ("memo", "hold"),
    [
        ("#encrypted-gibberish", "encrypted_memo"),
        ("", "unknown_sender"),
        ("hello", "unknown_sender"),
        ("to:nobody-here", "unknown_account"),
    ],
)
def test_it_holds_what_it_cannot_route_and_credits_nothing(hive, user_carol, memo, hold):
    sender = h.new_sender(hive)
    h.send(hive, sender, h.transfer_op(sender, 300, memo=memo))
    h.make_irreversible(hive)
    scan(hive)
    deposits.hive_deposits_process()
    deposit = HiveDeposit.objects.get()
    assert (deposit.status, deposit.hold, deposit.user) == ("held", hold, None)
    assert deposit.events.get().new_status == "held"


def test_an_encrypted_memo_from_a_mapped_sender_is_held_too(hive, user_carol):
    sender = mapped_sender(hive, user_carol)
    h.send(hive, sender, h.transfer_op(sender, 300, memo="#secret"))
    h.make_irreversible(hive)
    scan(hive)
    assert HiveDeposit.objects.get().hold == "encrypted_memo"


def test_a_transfer_with_a_claims_memo_code_verifies_it_and_is_credited(hive, user_carol):
    sender = h.new_sender(hive)
    claim = hive_ownership.hive_claim_start(user=user_carol, hive_account=sender)
    h.send(hive, sender, h.transfer_op(sender, 1, memo=claim.memo_code))
    h.make_irreversible(hive)
    scan(hive)
    deposits.hive_deposits_process()
    claim.refresh_from_db()
    assert claim.method == "transfer"
    assert HiveDeposit.objects.get().status == "credited"
    assert balances_of(user_carol).get("pHIVE", 0) == 1


def test_it_sets_deposits_aside_for_refund_when_a_third_of_sons_are_down(hive, user_carol):
    # m = 2 of 3: one SON down still credits, two down is more than a third.
    SON.objects.filter(name__in=["son-1", "son-2"]).update(status=SON.Status.IN_MAINTENANCE)
    sender = mapped_sender(hive, user_carol)
    h.send(hive, sender, h.transfer_op(sender, 700))
    h.make_irreversible(hive)
    scan(hive)
    deposits.hive_deposits_process()
    assert HiveDeposit.objects.get().status == "refund_pending"
    assert balances_of(user_carol).get("pHIVE", 0) == 0


def test_it_back_fills_after_downtime_without_skipping_or_repeating(hive, user_carol):
    sender = mapped_sender(hive, user_carol)
    for amount in (11, 12, 13):
        h.send(hive, sender, h.transfer_op(sender, amount))
        hive.generate_blocks(5)
    h.make_irreversible(hive)
    start = ChainCursor.objects.get(chain="hive").height
    with hive.rpc() as rpc:
        assert listener.listener_step(rpc=rpc, max_blocks=4) == 4
        assert ChainCursor.objects.get(chain="hive").height == start + 4
        irreversible = rpc.get_dynamic_global_properties()["last_irreversible_block_num"]
    scan(hive)
    assert ChainCursor.objects.get(chain="hive").height == irreversible
    assert sorted(HiveDeposit.objects.values_list("amount", flat=True)) == [11, 12, 13]
    ChainCursor.objects.filter(chain="hive").update(height=start)  # a rescan
    scan(hive)
    assert HiveDeposit.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_second_scanner_waits_for_the_lock_holder(node, settings):
    settings.HIVE_NODE_URL = node.url
    settings.HIVE_START_BLOCK = -1
    node.generate_blocks(3)
    held, release = threading.Event(), threading.Event()

    def hold_lock():
        from django.db import connection as conn
        from django.db import transaction

        with transaction.atomic(), conn.cursor() as c:
            c.execute("SELECT pg_advisory_xact_lock(%s)", [listener.SCAN_LOCK])
            held.set()
            release.wait(10)
        conn.close()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    held.wait(10)
    try:
        with node.rpc() as rpc:
            assert listener.listener_step(rpc=rpc) == 0
        assert not ChainCursor.objects.filter(chain="hive").exists()
    finally:
        release.set()
        thread.join()
    with node.rpc() as rpc:
        listener.listener_step(rpc=rpc)
    assert ChainCursor.objects.filter(chain="hive").exists()
    assert connection.connection is not None


def held_deposit(node, memo: str = "#secret", amount: int = 400) -> HiveDeposit:
    sender = h.new_sender(node)
    h.send(node, sender, h.transfer_op(sender, amount, memo=memo))
    h.make_irreversible(node)
    scan(node)
    return HiveDeposit.objects.get(sender=sender)


def test_an_administrator_credits_a_held_deposit_to_a_user(hive, user_carol, admin_user, client):
    deposit = held_deposit(hive)
    client.force_login(admin_user)
    url = reverse("admin:sidechains_hivedeposit_credit", args=[deposit.pk])
    bad = client.post(url, {"username": "nobody", "reason": "ticket 12"})
    assert "no active portal user" in bad.content.decode()
    answer = client.post(url, {"username": "user_carol", "reason": "ticket 12"})
    assert answer.status_code == 302
    deposit.refresh_from_db()
    assert (deposit.status, deposit.user, deposit.route) == ("credited", user_carol, "")
    assert balances_of(user_carol)["pHIVE"] == 400
    assert AuditRecord.objects.get(action="hive_deposit.credit").reason == "ticket 12"
    again = client.post(url, {"username": "user_carol", "reason": "twice"})
    assert "is credited" in again.content.decode()
    assert balances_of(user_carol)["pHIVE"] == 400


def test_an_administrator_refunds_a_held_deposit_to_its_sender(hive, admin_user, client):
    deposit = held_deposit(hive, memo="")
    client.force_login(admin_user)
    changelist = reverse("admin:sidechains_hivedeposit_changelist")
    body = {"action": "refund_to_sender", "_selected_action": [deposit.pk]}
    client.post(changelist, {**body, "confirm_with_reason": "1", "reason": "unknown sender"})
    deposit.refresh_from_db()
    assert deposit.status == "refund_pending"


def test_a_held_deposit_of_another_asset_is_not_ordered_as_a_refund(hive, admin_user, client):
    # The dev node, like hived, carries only HIVE and HBD in transfers: the row stands for what
    # the listener holds when a node reports anything else.
    deposit = HiveDeposit.objects.create(
        trx_id="ab" * 20,
        op_index=0,
        block_num=1,
        block_time=timezone.now(),
        sender="someone",
        asset="@@000000037",
        amount=5,
        status="held",
        hold="other_asset",
        detected_at=timezone.now(),
    )
    client.force_login(admin_user)
    changelist = reverse("admin:sidechains_hivedeposit_changelist")
    body = {"action": "refund_to_sender", "_selected_action": [deposit.pk]}
    answer = client.post(
        changelist, {**body, "confirm_with_reason": "1", "reason": "x"}, follow=True
    )
    assert "neither HIVE nor HBD" in answer.content.decode()
    deposit.refresh_from_db()
    assert deposit.status == "held"
    assert not AuditRecord.objects.filter(action="hive_deposit.refund").exists()


def test_staff_without_the_review_permission_can_do_neither(hive, view_only_staff, client):
    deposit = held_deposit(hive)
    client.force_login(view_only_staff)
    url = reverse("admin:sidechains_hivedeposit_credit", args=[deposit.pk])
    assert client.post(url, {"username": "viewer", "reason": "x"}).status_code == 403
    changelist = reverse("admin:sidechains_hivedeposit_changelist")
    body = {"action": "refund_to_sender", "_selected_action": [deposit.pk]}
    client.post(changelist, {**body, "confirm_with_reason": "1", "reason": "x"})
    deposit.refresh_from_db()
    assert deposit.status == "held"


def test_the_deposits_page_shows_the_memo_and_only_the_users_hive_deposits(
    hive, user_carol, client
):
    sender = mapped_sender(hive, user_carol)
    h.send(hive, sender, h.transfer_op(sender, 1234))
    held_deposit(hive)  # someone else's, held
    h.make_irreversible(hive)
    scan(hive)
    deposits.hive_deposits_process()
    client.force_login(user_carol)
    page = client.get(reverse("sidechains-deposits")).content.decode()
    assert 'data-copy="to:user_carol"' in page
    assert h.FEDERATION in page
    assert "1.234 HIVE" in page and "1.234 pHIVE" in page
    assert len(re.findall(r'data-testid="hive-deposit-\d+"', page)) == 1
    part = client.get(reverse("sidechains-deposits") + "?part=hive", HTTP_HX_REQUEST="true")
    assert len(re.findall(r'data-testid="hive-deposit-\d+"', part.content.decode())) == 1
    assert "<html" not in part.content.decode()
