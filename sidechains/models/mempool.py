from django.conf import settings
from django.db import models

from mappings.models import SidechainAddress


class MempoolDeposit(models.Model):
    """An output paying a deposit script, seen in the node's mempool: in no block yet, so
    nothing is recorded as a Deposit and nothing is owed. It only lets the depositor see it
    coming ("seen, 0 of N confirmations"); sidechains/bitcoin/mempool.py adds the rows and
    forgets those that left the mempool (mined: the listener records the Deposit; or dropped)."""

    txid = models.CharField(max_length=64)
    vout = models.PositiveIntegerField()
    amount = models.BigIntegerField(help_text="Satoshi.")
    mapping = models.ForeignKey(SidechainAddress, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mempool_deposits"
    )
    confirmations_required = models.PositiveSmallIntegerField()
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["txid", "vout"], name="sidechains_mempooldeposit_once")
        ]

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout} (mempool)"
