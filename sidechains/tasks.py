from celery import shared_task

from sidechains import services


@shared_task(name="sidechains.tasks.son_liveness")
def son_liveness() -> int:
    return len(services.son_mark_down_if_silent())
