"""`manage.py state_diagram`: print the conversation state machine as Mermaid (docs/state-machine.mmd)."""

from django.core.management.base import BaseCommand

from conversations.states import mermaid_diagram


class Command(BaseCommand):
    help = "Print the conversation state machine as a Mermaid stateDiagram, generated from the model."

    def handle(self, *args, **options) -> None:
        self.stdout.write(mermaid_diagram(), ending="")
