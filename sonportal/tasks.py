from celery import shared_task

PING_TASK = "sonportal.tasks.ping"


@shared_task(name=PING_TASK)
def ping(nonce: str) -> str:
    """Echo for /healthz: a round trip through the broker and a worker."""
    return nonce
