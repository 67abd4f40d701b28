"""`manage.py run_timeline`: where one run spent its time, from webhook to reply sent."""

from django.core.management.base import BaseCommand, CommandError

from conversations.models import Message
from conversations.selectors import run_timeline


class Command(BaseCommand):
    help = "Print one run's timeline (by run key, by an inbound wamid, or the latest run of a conversation)."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--run", help="The run key (lease token), as in the logs.")
        which.add_argument("--wamid", help="An inbound message's WhatsApp id.")
        which.add_argument("--conversation", type=int, help="The conversation id: its latest answered run.")

    def handle(self, *args, run=None, wamid=None, conversation=None, **options):
        run_key = run or self._run_key(wamid=wamid, conversation=conversation)
        events = run_timeline(run_key=run_key)
        if not events:
            raise CommandError(f"no events for run {run_key!r}")
        start = events[0].at
        self.stdout.write(f"run {run_key}")
        for event in events:
            offset_ms = (event.at - start).total_seconds() * 1000
            self.stdout.write(f"{event.at:%H:%M:%S.%f}  +{offset_ms:8.0f} ms  {event.what:<28} {event.detail}")

    @staticmethod
    def _run_key(*, wamid: str | None, conversation: int | None) -> str:
        messages = Message.objects.exclude(run_key="")
        if wamid:
            messages = messages.filter(wamid=wamid)
        else:
            messages = messages.filter(conversation_id=conversation, direction=Message.Direction.OUTBOUND)
        run_key = messages.order_by("-created_at").values_list("run_key", flat=True).first()
        if not run_key:
            raise CommandError("no answered run found")
        return run_key
