"""The conversation state machine's vocabulary: states, who may move between them, and the diagram."""

from __future__ import annotations

from functools import cache

from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _


class State(models.TextChoices):
    NEW = "new", _("New")
    TRIAGE = "triage", _("Triage")
    ANSWERING = "answering", _("Answering from institutional knowledge")
    QUALIFYING = "qualifying", _("Qualifying a lead")
    HANDOFF_REQUESTED = "handoff_requested", _("Waiting for a human")
    HUMAN_ACTIVE = "human_active", _("With a human")
    PROPOSAL_SENT = "proposal_sent", _("Proposal sent by a human")
    CONTRACT_CLOSED = "contract_closed", _("Contract closed by a human")
    RESOLVED = "resolved", _("Resolved")
    EXPIRED = "expired", _("Expired")


# What each state means, phrased for the decision prompt and the docs.
STATE_DESCRIPTIONS: dict[State, str] = {
    State.NEW: "The conversation has just started; nothing has been decided yet.",
    State.TRIAGE: "Working out what the customer wants (greeting, vague or mixed request).",
    State.ANSWERING: "Answering questions from the institutional knowledge (services, FAQ, hours, policies).",
    State.QUALIFYING: (
        "The customer shows buying interest or asked for a price: collecting the details a salesperson "
        "needs (need, volume, deadline, company). The assistant never quotes or commits to a price."
    ),
    State.HANDOFF_REQUESTED: "The customer asked for a person, or the assistant escalated; waiting in the staff queue.",
    State.HUMAN_ACTIVE: "A staff member took the conversation and answers it themselves.",
    State.PROPOSAL_SENT: "A staff member sent a priced proposal; a person owns the negotiation.",
    State.CONTRACT_CLOSED: "A staff member closed a contract with the customer.",
    State.RESOLVED: "The customer's need was met or they said goodbye.",
    State.EXPIRED: "Nobody wrote for the session's time to live (24 h by default).",
}

# The assistant talks in these states (and decides the next one).
BOT_ACTIVE: frozenset[State] = frozenset({State.NEW, State.TRIAGE, State.ANSWERING, State.QUALIFYING})
# A person owns the conversation: the assistant sends nothing.
BOT_SILENT: frozenset[State] = frozenset({State.HANDOFF_REQUESTED, State.HUMAN_ACTIVE, State.PROPOSAL_SENT})
# The session is over; the next message starts a new conversation.
TERMINAL: frozenset[State] = frozenset({State.CONTRACT_CLOSED, State.RESOLVED, State.EXPIRED})
# States only a person can lead a conversation into; no bot transition reaches them.
HUMAN_ONLY: frozenset[State] = frozenset({State.HUMAN_ACTIVE, State.PROPOSAL_SENT, State.CONTRACT_CLOSED})


class Perm:
    """The django-fsm permissions guarding transitions; the bot user holds none of them."""

    HANDLE = "conversations.handle_conversation"
    COMMIT_PRICE = "conversations.commit_price"
    CLOSE_CONTRACT = "conversations.close_contract"
    EXPIRE = "conversations.expire_conversation"


# Transitions (Conversation method names) that carry a permission only people hold.
HUMAN_ONLY_TRANSITIONS: frozenset[str] = frozenset(
    {"take", "return_to_bot", "resolve_handoff", "send_proposal", "close_contract"}
)
# The transition only the system actor (the session sweeper) makes.
SYSTEM_ONLY_TRANSITIONS: frozenset[str] = frozenset({"expire"})


def is_bot_silent(state: str) -> bool:
    """True when a person owns the conversation and the assistant must not send anything."""
    return state in BOT_SILENT


def is_terminal(state: str) -> bool:
    return state in TERMINAL


@cache
def _transition_table() -> tuple[tuple[str, str, str, str], ...]:
    """(source, target, method name, permission or "") for every declared transition, sorted."""
    from conversations.models import Conversation

    field = Conversation._meta.get_field("state")
    rows = set()
    for transition in field.get_all_transitions(Conversation):
        permission = transition.permission if isinstance(transition.permission, str) else ""
        rows.add((str(transition.source), str(transition.target), transition.name, permission))
    # Lifecycle order (the order of State), so the diagram and the docs read top to bottom.
    order = {state.value: index for index, state in enumerate(State)}
    return tuple(sorted(rows, key=lambda row: (order[row[0]], order[row[1]], row[2])))


# How a person reads the bot's and the system's transitions (the staff ones carry their label on the model).
_AUTOMATIC_LABELS = {
    "start_triage": _("Start triage"),
    "answer": _("Answer"),
    "qualify": _("Qualify"),
    "request_handoff": _("Hand over to a person"),
    "resolve": _("Resolve"),
    "expire": _("Expire"),
}


def transition_label(name: str) -> str:
    """A transition's human label (the admin button's), e.g. "take" → "Assumir"; the name when unknown."""
    from conversations.models import Conversation

    for transition in Conversation._meta.get_field("state").get_all_transitions(Conversation):
        if transition.name == name and transition.custom.get("label"):
            return str(transition.custom["label"])
    return str(_AUTOMATIC_LABELS.get(name, name))


def transition_table() -> list[tuple[str, str, str, str]]:
    """Every declared transition as (source, target, method name, permission or "")."""
    return list(_transition_table())


def allowed_bot_targets(state: str) -> list[str]:
    """What the decision LLM may choose from `state`: staying put, plus every permission-free target.

    Bot-silent and terminal states offer nothing: the pipeline does not ask the LLM there.
    """
    if state not in BOT_ACTIVE:
        return []
    targets = [
        target for source, target, _name, permission in _transition_table() if source == state and not permission
    ]
    return [State(state).value, *dict.fromkeys(target for target in targets if target != state)]


def mermaid_diagram() -> str:
    """The state machine as a Mermaid `stateDiagram-v2`, generated from the model's transitions.

    Edges guarded by a permission are labelled with it, so the human-only ones stand out.
    """
    lines = ["stateDiagram-v2", f"    [*] --> {State.NEW.value}"]
    # The diagram lives in the (English) docs: labels in the source language, whatever is active.
    with translation.override(None):
        lines.extend(f"    {state.value} : {state.label}" for state in State)
    for source, target, name, permission in _transition_table():
        guard = f" (needs {permission.split('.', 1)[1]})" if permission else ""
        lines.append(f"    {source} --> {target} : {name}{guard}")
    for state in (state for state in State if state in TERMINAL):
        lines.append(f"    {state.value} --> [*]")
    return "\n".join(lines) + "\n"
