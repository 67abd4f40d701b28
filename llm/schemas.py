"""Pydantic output schemas of the three LLM tasks, used as strict json_schema structured outputs.

OpenAI's strict mode wants every property required and no free-form keys, so optional parts are
`X | None` and lists may be empty. WhatsApp's length limits are enforced when the reply is composed
(`pyloto.whatsapp.compose`), not here: a schema that rejects a 21-character button title would cost
a re-ask, while composing can trim or degrade to text deterministically.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from conversations.states import State

# The decision may only name a real state; whether it is allowed from the current one is the
# state machine's call (conversation_apply_decision), not the schema's.
StateName = Literal[tuple(state.value for state in State)]  # type: ignore[valid-type]  # built from State
MessageKind = Literal["TEXT", "BUTTON", "LIST", "IMAGE", "VIDEO"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StateDecision(_Strict):
    """Task 1: the next conversation state, proposed to the state machine."""

    target_state: StateName = Field(  # type: ignore[valid-type]  # a Literal built from State
        description="The next state; one of the allowed targets listed in the prompt."
    )
    reason: str = Field(description="One short sentence: why this state.")
    customer_wants_human: bool = Field(description="True when the customer asks to talk to a person.")


class ReplyDraft(_Strict):
    """Task 2: the words of the reply."""

    text: str = Field(description="The reply to the customer, in their language, at most 1000 characters.")


class ButtonOption(_Strict):
    id: str = Field(description="A short stable id for the button, e.g. 'servicos'.")
    title: str = Field(description="The button label, at most 20 characters.")


class ListRowOption(_Strict):
    id: str = Field(description="A short stable id for the row.")
    title: str = Field(description="Row title, at most 24 characters.")
    description: str = Field(description="Row description, at most 72 characters; may be empty.")


class MediaOption(_Strict):
    kind: Literal["image", "video"]
    url: str = Field(description="An https link that appears in the institutional context; never invent one.")
    caption: str = Field(description="Caption, at most 1024 characters; may be empty.")


class MessageTypeChoice(_Strict):
    """Task 3: how the reply is presented on WhatsApp."""

    message_type: MessageKind
    buttons: list[ButtonOption] = Field(description="For BUTTON: 1 to 3 reply buttons; otherwise empty.")
    list_button_label: str = Field(description="For LIST: the label of the button that opens the list; else empty.")
    list_rows: list[ListRowOption] = Field(description="For LIST: 1 to 10 rows; otherwise empty.")
    media: MediaOption | None = Field(description="For IMAGE or VIDEO: the media item; otherwise null.")
    reason: str = Field(description="One short sentence: why this message type.")


class PolicyVerdict(_Strict):
    """The policy judge: whether the final message breaks one of the published constraints."""

    verdict: Literal["allow", "block", "unsure"] = Field(
        description="allow: breaks no constraint; block: breaks one; unsure: cannot tell."
    )
    constraint: str = Field(description="The identifier of the constraint it breaks; empty when it breaks none.")
    reason: str = Field(description="One short sentence: why.")


class HandoffSummaryDraft(_Strict):
    """The handoff summary staff read before answering (not a task of the reply pipeline)."""

    customer_wants: str = Field(description="What the customer wants, in one or two sentences, in Portuguese.")
    bot_said: str = Field(description="What the assistant already told them, in one or two sentences.")
    why: str = Field(description="Why the conversation was handed to a person, in one sentence.")
