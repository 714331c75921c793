from celery import shared_task

from notifications import services


@shared_task(
    autoretry_for=(OSError,), retry_backoff=10, retry_backoff_max=600, max_retries=8
)  # an SMTP server that does not answer: try again later
def notification_send_task(pk: int) -> bool:
    return services.notification_send(pk=pk)


@shared_task(expires=90)
def notifications_sweep() -> int:
    from notifications import receivers

    return receivers.sweep()
