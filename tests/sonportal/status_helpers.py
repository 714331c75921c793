"""Something for every on-call figure of the admin status panel."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from sidechains.models import Alert, ChainCursor, ReservesCheck, SidechainTransaction, Withdrawal
from sons.models import Sidechain
from tests import fixtures
from tests.proposals.helpers import make_witnesses
from tests.sidechains.deposit_helpers import make_bitcoin_mapping, make_federation, mine
from tests.sonportal.test_query_counts import raise_proposals

ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def add_batched_withdrawals(user, n: int, *, waiting: timedelta) -> SidechainTransaction:
    """n withdrawals of 0.001 BTC in one batch that has waited `waiting` for signatures."""
    tx = SidechainTransaction.objects.create(
        unsigned_tx=b"\x01" * 100, txid="ab" * 32, fee=1_000, vsize=500, feerate=2
    )
    SidechainTransaction.objects.filter(pk=tx.pk).update(created_at=timezone.now() - waiting)
    Withdrawal.objects.bulk_create(
        Withdrawal(
            user=user,
            amount_pegged=100_000,
            rate=Decimal(1),
            amount=100_000,
            address=ADDRESS,
            request_id=f"batched-{i}",
            status=Withdrawal.Status.BATCHED,
            sidechain_tx=tx,
        )
        for i in range(n)
    )
    return tx


def oncall_world(rpc) -> dict:
    """One open alert, three withdrawals waiting 30 min for signatures, two refund-pending
    deposits with their refund proposals (and two deregistrations), a listener three blocks
    behind the node, and reserves 0.01 BTC above liabilities."""
    make_federation(3)
    carol = fixtures.make_user("user_carol")
    make_bitcoin_mapping(carol)
    raise_proposals(2, start=0, witnesses=make_witnesses(1, 1, 1))
    add_batched_withdrawals(carol, 3, waiting=timedelta(minutes=30))
    Alert.objects.create(kind=Alert.Kind.DEEP_REORG, message="a reorg deeper than kept")
    mine(rpc, 4)
    tip = rpc.get_block_count()
    ChainCursor.objects.update_or_create(
        chain=Sidechain.BITCOIN, defaults={"height": tip - 3, "recent": []}
    )
    ReservesCheck.objects.create(
        chain=Sidechain.BITCOIN, height=tip, reserves=5_000_000, liabilities=4_000_000
    )
    return {"tip": tip}
