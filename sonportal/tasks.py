from celery import shared_task

PING_TASK = "sonportal.tasks.ping"
HEALTH_TASK = "sonportal.tasks.health_check"


@shared_task(name=PING_TASK)
def ping(nonce: str) -> str:
    """Echo for /healthz: a round trip through the broker and a worker."""
    return nonce


@shared_task(bind=True, name=HEALTH_TASK)
def health_check(self) -> None:
    """Run the health checks and store them for /healthz and the status panel."""
    from sonportal.health import health_record  # health imports this module's PING_TASK

    health_record(ran_on=self.request.hostname or "a worker")
