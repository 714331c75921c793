from celery import shared_task

from solvency.epochs import epoch_create_if_due


@shared_task
def solvency_epoch() -> int | None:
    epoch = epoch_create_if_due()
    return epoch.number if epoch else None
