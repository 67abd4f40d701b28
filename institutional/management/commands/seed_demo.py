"""`manage.py seed_demo`: load the demo institutional content (idempotently) and publish it."""

from django.core.management.base import BaseCommand

from institutional.services import demo_content_seed, product_team_group_sync


class Command(BaseCommand):
    help = (
        "Create the demo institutional drafts that are missing (all of them again with --reset), make sure "
        "the 'Product team' group exists, and publish a release when the drafts differ from the live one."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="Overwrite edited demo drafts with the demo content again."
        )

    def handle(self, *args, reset: bool = False, **options) -> None:
        product_team_group_sync()
        release = demo_content_seed(reset=reset)
        if release is None:
            self.stdout.write("Institutional content unchanged; nothing published.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Published institutional release {release.number}."))
