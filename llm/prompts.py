"""Prompt builders for the three LLM tasks: render the release's templates with the run's inputs.

Everything a builder needs travels in the run payload (JSON primitives assembled by the pipeline from
the database), so the LLM tasks stay pure: prompt in, validated JSON out. The one exception is the
institutional context (≈10 KB): the payload names its release (`release_token`) and the builder reads
the text from the process' Redis-synced release loader instead of carrying it through every task.
"""

from typing import Any

from conversations.states import STATE_DESCRIPTIONS, State
from institutional.selectors import release_for_token
from institutional.snapshot import PromptTemplate

# Bumped whenever the way prompts are assembled changes; recorded with each LLM call next to the
# template's own version, so accounting can compare prompt revisions.
BUILDER_VERSION = "b1"
JSON_INSTRUCTION = "Responda apenas com o JSON do esquema pedido."


def _history_text(history: list[dict[str, Any]]) -> str:
    if not history:
        return "(nenhuma transição ainda)"
    return "\n".join(f"- {h['from']} → {h['to']} ({h.get('by', '')}): {h.get('reason', '')}" for h in history)


def _messages_text(messages: list[dict[str, Any]]) -> str:
    lines = []
    for message in messages:
        who = "Cliente" if message["role"] == "customer" else "Assistente"
        marker = " [sem resposta]" if message.get("unanswered") else ""
        lines.append(f"{who}{marker}: {message['text']}")
    return "\n".join(lines) or "(sem texto)"


def _allowed_text(allowed: list[str]) -> str:
    return "\n".join(f"- {state}: {STATE_DESCRIPTIONS.get(State(state), '')}" for state in allowed)


def run_context(payload: dict[str, Any]) -> str:
    """The institutional context of the run's release, with the business-hours line the pipeline read."""
    context = release_for_token(payload["release_token"]).prompt_context()
    return f"{context}\n{payload['hours_line']}" if payload.get("hours_line") else context


def prompt_version(payload: dict[str, Any], task: str) -> str:
    return f"{payload['templates'][task]['version']}+{BUILDER_VERSION}"


def _render(payload: dict[str, Any], task: str, *, with_images: bool = False, **extra: str) -> list[dict[str, Any]]:
    template = payload["templates"][task]["text"]
    values = {
        "context": run_context(payload),
        "current_state": payload["current_state"],
        "history": _history_text(payload["history"]),
        "messages": _messages_text(payload["messages"]),
        **extra,
    }
    rendered = PromptTemplate(name=task, version="", text=template).render(**values)
    images = (payload.get("images") or []) if with_images else []
    if not images:
        return [{"role": "system", "content": rendered}, {"role": "user", "content": JSON_INSTRUCTION}]
    # A vision model sees the customer's images themselves (LLM_VISION_MODEL), after the instruction.
    parts: list[dict[str, Any]] = [{"type": "text", "text": JSON_INSTRUCTION}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in images]
    return [{"role": "system", "content": rendered}, {"role": "user", "content": parts}]


def build_decide_state(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return _render(payload, "decide_state", with_images=True, allowed_states=_allowed_text(payload["allowed_states"]))


def build_write_reply(payload: dict[str, Any], *, next_state: str) -> list[dict[str, Any]]:
    return _render(payload, "write_reply", with_images=True, next_state=next_state)


def build_choose_message_type(payload: dict[str, Any], *, next_state: str) -> list[dict[str, Any]]:
    return _render(payload, "choose_message_type", next_state=next_state)


HANDOFF_SUMMARY_VERSION = "hs1+" + BUILDER_VERSION
HANDOFF_SUMMARY_SYSTEM = (
    "Você resume, para a equipe de atendimento de uma empresa, uma conversa de WhatsApp que o assistente "
    "virtual passou para uma pessoa. Escreva em português do Brasil, de forma curta e factual, sem inventar "
    "nada que não esteja na conversa: o que o cliente quer, o que o assistente já respondeu e por que a "
    "conversa foi passada para uma pessoa."
)


def handoff_summary_messages(payload: dict[str, Any]) -> list[dict[str, str]]:
    """The summary prompt from the timeline the pipeline read (`messages` as in a run payload, `reason`)."""
    conversation = _messages_text(payload["messages"])
    reason = payload.get("reason") or "(sem motivo registrado)"
    user = f"Conversa:\n{conversation}\n\nMotivo registrado da transferência: {reason}\n\n{JSON_INSTRUCTION}"
    return [{"role": "system", "content": HANDOFF_SUMMARY_SYSTEM}, {"role": "user", "content": user}]
