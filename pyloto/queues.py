"""The Celery queues, named once; every task states which one it runs on."""

from enum import StrEnum
from typing import Any


class Queue(StrEnum):
    # Database work on prefork workers: run orchestration, finalize, sweeper.
    PIPELINE = "pipeline"
    # Reading what the webhook stored (contacts, conversations, messages, statuses): short DB work on
    # the delivery worker's threads, so a stream of webhooks never takes the processes the runs need.
    INGEST = "ingest"
    # Pure, DB-free LLM calls on a high-concurrency I/O pool (threads): prompt in, JSON out.
    LLM = "llm"
    # Outbound WhatsApp Cloud API calls (send, mark-as-read); I/O bound, retried on transient errors.
    DELIVERY = "delivery"
    # The beat's loss guards (the sweeper, session expiry). Consumed by the pipeline AND the delivery
    # workers, so they run while either is alive: they exist for when a worker is dead.
    MAINTENANCE = "maintenance"


def route_by_declared_queue(
    name: str, args: tuple, kwargs: dict, options: dict, task: Any = None, **_: Any
) -> dict | None:
    """Celery router: a task declares `route_queue=Queue.X` in its decorator and is sent there.

    Celery 5.7 deprecates the `queue` and `priority` task attributes (ignored from 6.0) in favour of
    `task_routes`; this router keeps both declared next to the task (`route_priority`, Redis serves 0
    first) while routing through `task_routes`. A priority set on a signature still wins.
    """
    queue = getattr(task, "route_queue", None)
    if not queue:
        return None
    priority = getattr(task, "route_priority", None)
    return {"queue": str(queue)} if priority is None else {"queue": str(queue), "priority": priority}
