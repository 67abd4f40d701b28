"""`manage.py dead_letters`: list open dead letters, or replay them (one, or all of a stage)."""

from django.core.management.base import BaseCommand, CommandError

from conversations.models import DeadLetter
from pyloto.pipeline.dispatch import dead_letter_replay


class Command(BaseCommand):
    help = "List unresolved dead letters; --replay ID [ID ...] or --replay-all [--stage S] to try them again."

    def add_arguments(self, parser):
        parser.add_argument("--replay", nargs="+", type=int, metavar="ID", help="Replay these dead letters.")
        parser.add_argument("--replay-all", action="store_true", help="Replay every unresolved dead letter.")
        parser.add_argument("--stage", choices=DeadLetter.Stage.values, help="Only this stage.")
        parser.add_argument("--all", action="store_true", help="List resolved ones too.")

    def handle(self, *args, replay=None, replay_all=False, stage=None, all=False, **options):
        queryset = DeadLetter.objects.order_by("created_at")
        if stage:
            queryset = queryset.filter(stage=stage)
        if replay or replay_all:
            ids = replay or list(queryset.filter(resolved_at__isnull=True).values_list("pk", flat=True))
            missing = set(ids) - set(DeadLetter.objects.filter(pk__in=ids).values_list("pk", flat=True))
            if missing:
                raise CommandError(f"no dead letter with id {sorted(missing)}")
            for dead_letter_id in ids:
                self.stdout.write(f"{dead_letter_id}: {dead_letter_replay(dead_letter_id=dead_letter_id)}")
            return
        if not all:
            queryset = queryset.filter(resolved_at__isnull=True)
        rows = list(queryset)
        for dl in rows:
            resolved = f" resolved {dl.resolved_at:%Y-%m-%d %H:%M}" if dl.resolved_at else ""
            self.stdout.write(
                f"{dl.pk}\t{dl.created_at:%Y-%m-%d %H:%M:%S}\t{dl.stage}\tconversation {dl.conversation_id}\t"
                f"{dl.error_code or '-'}\t{dl.error[:80]}{resolved}"
            )
        self.stdout.write(f"{len(rows)} dead letter(s)")
