from celery import shared_task

from sons import services


@shared_task(name="sons.tasks.son_liveness")
def son_liveness() -> int:
    return len(services.son_liveness_check())
