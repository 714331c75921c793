"""Creating notifications once per event and person, and sending them (docs/notifications.md)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.mail import mail_send
from accounts.models import profile_of
from notifications.models import Notification

log = logging.getLogger(__name__)
User = get_user_model()


def administrators():
    """Active staff of the administrators group and active staff superusers (the
    administrator role, sonportal.roles, which this layer cannot import)."""
    role = Q(is_superuser=True) | Q(groups__name="administrators")
    return User.objects.filter(is_active=True, is_staff=True).filter(role).distinct()


def notify(*, users, kind: str, key: str, subject: str, context: dict) -> list[Notification]:
    """Record the notification for each person once (a repeated call finds the rows and does
    nothing) and send the new ones after the transaction commits, unless turned off."""
    created = []
    for user in users:
        if not user.email:
            continue
        notification = _create_once(user, kind, key, subject, context)
        if notification is not None:
            created.append(notification)
    for notification in created:
        if not notification.skipped:
            # robust: a broker that does not answer must not fail the pipeline's step that
            # already committed; the sweep enqueues what was left unsent.
            transaction.on_commit(lambda pk=notification.pk: notification_enqueue(pk), robust=True)
    return created


def _create_once(user, kind: str, key: str, subject: str, context: dict) -> Notification | None:
    muted = kind in profile_of(user).muted
    try:
        with transaction.atomic():
            return Notification.objects.create(
                user=user, kind=kind, key=key[:100], subject=subject[:200], context=context,
                skipped=muted,
            )  # fmt: skip
    except IntegrityError:
        return None


def notification_enqueue(pk: int) -> None:
    from notifications.tasks import notification_send_task

    notification_send_task.delay(pk)


def notification_send(*, pk: int) -> bool:
    """Mail notification `pk` once: claim it (sent_at), then send; a failure releases the claim
    for the task's retry. True if this call sent it."""
    now = timezone.now()
    claimed = Notification.objects.filter(pk=pk, sent_at=None, skipped=False).update(
        sent_at=now, attempts=F("attempts") + 1
    )
    if claimed != 1:
        return False
    notification = Notification.objects.select_related("user").get(pk=pk)
    try:
        mail_send(
            to=[notification.user.email],
            subject=notification.subject,
            template="notifications/mail/notification",
            context={
                "user": notification.user,
                "n": notification,
                "base_url": settings.PORTAL_URL.rstrip("/"),
                **notification.context,
            },
        )
    except Exception as e:
        Notification.objects.filter(pk=pk).update(sent_at=None, last_error=str(e)[:500])
        raise
    return True


def notifications_unsent(now) -> list[int]:
    """Notifications recorded more than a minute ago and not sent (their task was lost or
    never enqueued), up to a day back."""
    due = Notification.objects.filter(
        sent_at=None,
        skipped=False,
        created_at__lt=now - timedelta(minutes=1),
        created_at__gte=now - timedelta(days=1),
    )
    return list(due.values_list("pk", flat=True)[:500])
