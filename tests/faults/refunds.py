"""The refunds of a fault run. During an outage two of the three SONs' signers are stopped: their
heartbeats stop, beat's liveness check marks them down (in_maintenance, as in production), and
deposits confirmed meanwhile go refund_pending (fewer than m SONs active). Witnesses approve the
refund proposals through proposal_approve, the service the witness page calls. The signers come
back and the refunds are signed, broadcast and confirmed under the kills."""

from __future__ import annotations

import random
import time

from django.db import connections

from proposals.models import Proposal, Witness
from proposals.services import ProposalError, proposal_approve

# An outage ends once this many more deposits went refund_pending, or after OUTAGE_MAX seconds.
REFUNDS_PER_OUTAGE = 2
OUTAGE_MAX = 40.0
SIGNERS = ("signer-1", "signer-2", "signer-3")


def refund_pending_so_far() -> int:
    """Deposits that ever went refund_pending (their audit events)."""
    with connections["default"].cursor() as c:
        c.execute(
            "SELECT count(DISTINCT deposit_id) FROM sidechains_depositevent"
            " WHERE new_status = 'refund_pending'"
        )
        return c.fetchone()[0]


def refunds_approve(witnesses: list[Witness]) -> int:
    """Each witness approves every open refund proposal it has not approved yet; the last
    approval needed passes and executes it. Returns the approvals given."""
    given = 0
    for witness in witnesses:
        pending = Proposal.objects.filter(
            kind=Proposal.Kind.REFUND_DEPOSIT, status=Proposal.Status.OPEN
        ).exclude(approvals__witness=witness)
        for proposal in pending.order_by("pk"):
            try:
                proposal_approve(proposal=proposal, witness=witness)
            except ProposalError:
                continue  # passed or approved meanwhile (a retry after a lost connection)
            given += 1
    return given


class Outage:
    """Two signers, chosen by the seed, stopped until deposits went refund_pending."""

    def __init__(self, rng: random.Random, supervised: dict) -> None:
        self.rng, self.supervised = rng, supervised
        self.parked: tuple[str, ...] = ()
        self.began = 0.0
        self.baseline = 0
        self.count = 0  # outages begun
        self.seconds = 0.0  # total time the signers were out

    def begin(self) -> None:
        self.parked = tuple(sorted(self.rng.sample(SIGNERS, 2)))
        for name in self.parked:
            self.supervised[name].kill()
        self.baseline = refund_pending_so_far()
        self.began = time.monotonic()
        self.count += 1

    def step(self) -> None:
        """Ends the outage when enough deposits went refund_pending or it lasted too long."""
        if not self.parked:
            return
        elapsed = time.monotonic() - self.began
        if elapsed < OUTAGE_MAX and refund_pending_so_far() < self.baseline + REFUNDS_PER_OUTAGE:
            return
        self.end()

    def end(self) -> None:
        for name in self.parked:
            self.supervised[name].start()
        self.seconds += time.monotonic() - self.began
        self.parked = ()
