"""`manage.py sync_templates`: read the business account's message templates from the Graph API now."""

from django.core.management.base import BaseCommand, CommandError

from conversations.services.templates import templates_sync
from pyloto.errors import PylotoError


class Command(BaseCommand):
    help = "Sync the message templates of WHATSAPP_BUSINESS_ACCOUNT_ID from the Graph API."

    def handle(self, *args, **options):
        try:
            result = templates_sync()
        except PylotoError as exc:
            raise CommandError(f"the Graph API refused the sync: {exc}") from exc
        if result.skipped:
            raise CommandError(f"nothing synced: {result.skipped} (set WHATSAPP_BUSINESS_ACCOUNT_ID)")
        self.stdout.write(
            f"{result.created} created, {result.updated} updated, {result.deleted} deleted, {result.invalid} invalid"
        )
