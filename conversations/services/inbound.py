"""Where an inbound message ends: the one function that gives it its final status.

Every inbound message ends `answered`, `handed_off`, `dropped` (with a reason) or `dead_lettered`;
finalize, a run closed without a reply, the rate limit, a refused send and a dead letter all end
their messages here, so the status, its reason, the run that ended it and the outcome counter move
together.
"""

from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from conversations.models import Message
from pyloto.observability import metrics

INBOUND_FINAL_STATUSES = frozenset(
    {Message.Status.ANSWERED, Message.Status.HANDED_OFF, Message.Status.DROPPED, Message.Status.DEAD_LETTERED}
)


def inbound_finish(
    *, messages: QuerySet[Message] | Iterable[int], status: str, reason: str = "", run_key: str | None = None
) -> int:
    """Give these inbound messages their final `status` (and why); returns how many it closed.

    `messages` is a queryset or message ids; outbound rows among them are never touched. `run_key`
    records the run that ended them (None keeps what they have).
    """
    if status not in INBOUND_FINAL_STATUSES:
        raise ValueError(f"{status!r} is not a final status of an inbound message")
    queryset = messages if isinstance(messages, QuerySet) else Message.objects.filter(pk__in=list(messages))
    fields: dict[str, object] = {"status": status, "status_reason": reason[:255], "updated_at": timezone.now()}
    if run_key is not None:
        fields["run_key"] = run_key
    closed = queryset.filter(direction=Message.Direction.INBOUND).update(**fields)
    metrics.MESSAGES.labels(outcome=status).inc(closed)
    return closed
