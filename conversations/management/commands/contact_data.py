"""`manage.py contact_data export|erase --contact ID --reason "…" --by NAME`: the LGPD requests of one contact.

The same services as the admin's actions, audited the same way (who, why). Export writes JSON to
stdout or to `--output FILE`.
"""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from conversations.services.privacy import PrivacyRequestError, contact_erase, contact_export


class Command(BaseCommand):
    help = "Export (JSON) or erase (anonymise) everything held about one contact, audited with who and why."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["export", "erase"])
        parser.add_argument("--contact", type=int, required=True, help="The contact's id (admin: Contacts).")
        parser.add_argument("--reason", required=True, help="Why: kept in the LGPD audit.")
        parser.add_argument("--by", required=True, help="Who asks: a username, or the operator's name.")
        parser.add_argument("--output", help="export: write the JSON here instead of stdout.")

    def handle(self, *args, **options) -> None:
        user = get_user_model().objects.filter(username=options["by"]).first()
        who = {"user": user, "actor_label": options["by"]}
        try:
            if options["action"] == "export":
                data = contact_export(contact_id=options["contact"], reason=options["reason"], **who)
                text = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
                if options["output"]:
                    with open(options["output"], "w", encoding="utf-8") as handle:
                        handle.write(text)
                    self.stdout.write(f"exported contact {options['contact']} to {options['output']}")
                else:
                    self.stdout.write(text)
            else:
                result = contact_erase(contact_id=options["contact"], reason=options["reason"], **who)
                self.stdout.write(
                    f"erased contact {result.contact_id}: {result.conversations} conversations, "
                    f"{result.messages} messages anonymised"
                )
        except PrivacyRequestError as error:
            raise CommandError(str(error)) from error
