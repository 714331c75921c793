from celery import shared_task

from proposals import services


@shared_task(name="proposals.tasks.proposals_tick")
def proposals_tick() -> dict[str, int]:
    return services.proposals_tick()
