"""The portal's own rows: the last run of the health checks (docs/runbook.md, "Status panel")."""

from django.db import models

# The key of the one stored report.
LATEST = "latest"


class HealthReport(models.Model):
    """The health checks and the on-call figures as beat's task last ran them. /healthz and the
    admin status panel read this row instead of checking every component per request; a row
    older than HEALTH_STALE_AFTER is shown as stale, and the report then says down."""

    key = models.CharField(max_length=16, unique=True, default=LATEST)
    checked_at = models.DateTimeField()
    checks = models.JSONField(help_text="[{name, ok, detail, error}, ...] as the checks found.")
    oncall = models.JSONField(
        default=list, help_text="[{key, label, value, attention}, ...] for the person on call."
    )
    ran_on = models.CharField(max_length=200, blank=True, help_text="The worker that ran them.")

    def __str__(self) -> str:
        return f"health checks at {self.checked_at:%Y-%m-%d %H:%M:%S}"
