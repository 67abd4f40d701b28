"""The committed state diagram matches the state machine in code."""

from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from conversations.states import State, mermaid_diagram

DOCS = Path(settings.BASE_DIR) / "docs"


def test_the_committed_diagram_is_the_one_the_command_generates():
    output = StringIO()
    call_command("state_diagram", stdout=output)
    committed = (DOCS / "state-machine.mmd").read_text()
    assert output.getvalue() == committed == mermaid_diagram(), (
        "docs/state-machine.mmd is out of date: python manage.py state_diagram > docs/state-machine.mmd"
    )


def test_the_design_doc_embeds_the_same_diagram_and_names_every_state():
    design = (DOCS / "state-machine.md").read_text()
    assert f"```mermaid\n{mermaid_diagram()}```" in design
    for state in State:
        assert f"`{state.value}`" in design


def test_the_diagram_shows_every_transition_with_its_guard():
    diagram = mermaid_diagram()
    assert "human_active --> contract_closed : close_contract (needs close_contract)" in diagram
    assert "proposal_sent --> contract_closed : close_contract (needs close_contract)" in diagram
    assert "triage --> answering : answer\n" in diagram
    assert diagram.startswith("stateDiagram-v2\n    [*] --> new\n")
