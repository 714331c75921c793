from django.conf import settings
from django.contrib.auth.models import User
from django.db import models


class Profile(models.Model):
    """A person's own settings: their time zone and the notifications they turned off."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    # Kinds of notification (notifications.models.Notification.Kind) the person does not want.
    muted = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"


def profile_of(user: "User") -> Profile:
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile
