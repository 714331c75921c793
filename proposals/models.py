from django.conf import settings
from django.db import models
from django.db.models import Q, Sum


class WitnessQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True)

    def total_weight(self) -> int:
        return self.aggregate(total=Sum("weight"))["total"] or 0


class Witness(models.Model):
    """A governance member. Proposals pass at more than half of the active witnesses' weight."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="witness"
    )
    weight = models.PositiveIntegerField(default=1)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WitnessQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "witnesses"
        ordering = ["user__username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gt=0), name="proposals_witness_weight_positive"
            )
        ]

    def __str__(self) -> str:
        return self.user.get_username()
