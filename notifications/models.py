from django.conf import settings
from django.db import models


class Notification(models.Model):
    """One mail about one event to one person. The unique (user, kind, key) makes a second
    attempt to notify the same event collide instead of mailing twice; sent_at is claimed by a
    conditional UPDATE before the mail leaves."""

    class Kind(models.TextChoices):
        DEPOSIT_SEEN = "deposit_seen", "A deposit of mine is seen on the chain"
        DEPOSIT_CREDITED = "deposit_credited", "A deposit of mine is credited"
        WITHDRAWAL_BROADCAST = "withdrawal_broadcast", "A withdrawal of mine is broadcast"
        WITHDRAWAL_SETTLED = "withdrawal_settled", "A withdrawal of mine is settled"
        WITHDRAWAL_FAILED = "withdrawal_failed", "A withdrawal of mine failed (escrow returned)"
        PROPOSAL_OPENED = "proposal_opened", "A proposal is opened (witnesses)"
        PROPOSAL_EXPIRING = "proposal_expiring", "A proposal is about to expire (witnesses)"
        SON_DOWN = "son_down", "My SON is marked down (SON operators)"
        SON_DEREGISTRATION = "son_deregistration", "My SON's deregistration is proposed"
        ALERT = "alert", "An alert is raised (administrators)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=Kind)
    key = models.CharField(max_length=100, help_text="The event: e.g. the deposit's id.")
    subject = models.CharField(max_length=200)
    context = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    skipped = models.BooleanField(default=False, help_text="Turned off by the person.")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "key"], name="notifications_notification_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind} {self.key}"
