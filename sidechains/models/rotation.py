"""The steps of a federation rotation on Bitcoin, as they happen (docs/rotation.md): the test
spend (funded, returned), the activation, each sweep of an older version's coins, the
retirement. The rotation page reads them; nothing is decided from them alone."""

from __future__ import annotations

from django.db import models

from sons.models import FederationVersion


class RotationStep(models.Model):
    class Step(models.TextChoices):
        TEST_FUND = "test_fund", "test coin paid to the new wallet"
        TEST_RETURN = "test_return", "test coin spent back by the new set"
        ACTIVATED = "activated", "version activated"
        SWEEP = "sweep", "sweep of older coins"
        RETIRED = "retired", "version retired"

    version = models.ForeignKey(FederationVersion, on_delete=models.PROTECT, related_name="+")
    step = models.CharField(max_length=16, choices=Step)
    sidechain_tx = models.ForeignKey(
        "sidechains.SidechainTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rotation_steps",
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "step"],
                condition=models.Q(step__in=["activated", "retired"]),
                name="sidechains_rotationstep_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version}: {self.step}"
