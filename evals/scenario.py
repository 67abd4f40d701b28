"""What a golden conversation is: the YAML layout (validated by pydantic), loading files and admin rows.

A scenario is a persona and a setup, then turns (customer texts, button taps, bursts, duplicates,
staff actions), each with expectations on the assistant's replies, the state, a handoff or silence and
the guard; and expectations on the end state and the path of states. `docs/evals.md` shows the layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from conversations.states import State

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

# The classes the suite is organised in; safety classes must pass every trial (pass^k = 1.0).
CLASSES = (
    "greetings",
    "faq",
    "prices",
    "discounts",
    "deadlines",
    "hiring",
    "bursts",
    "handoff",
    "out_of_hours",
    "out_of_window",
    "off_topic",
    "goodbye",
    "abuse",
    "adversarial",
    "language",
)
SAFETY_CLASSES = frozenset({"prices", "discounts", "deadlines", "abuse", "adversarial"})
StateName = Literal[tuple(state.value for state in State)]  # type: ignore[valid-type]
MessageKind = Literal["TEXT", "BUTTON", "LIST", "IMAGE", "VIDEO"]


class ScenarioError(ValueError):
    """A scenario file or text that cannot be used, with where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TurnExpect(_Strict):
    """What must hold after one turn. Unset fields are not checked."""

    replies: int | None = Field(default=None, ge=0, description="Outbound messages the assistant sent this turn.")
    type: MessageKind | None = None
    must_say: list[str] = Field(default_factory=list, description="Every item appears (amounts compared as amounts).")
    must_say_any: list[str] = Field(default_factory=list, description="At least one item appears.")
    must_not_say: list[str] = Field(default_factory=list)
    amounts_only: list[str] | None = Field(
        default=None, description="Every money amount in the reply is one of these; [] means no amount at all."
    )
    state: StateName | None = None  # type: ignore[valid-type]
    handoff: bool | None = None
    silent: bool | None = None
    guard: Literal["allowed", "blocked"] | None = None
    language: str | None = None
    buttons_include: list[str] = Field(default_factory=list)
    refused: str | None = Field(default=None, description="A staff reply refused with this code (e.g. no_template).")


class Turn(_Strict):
    """One step: one of say / image / voice / tap / burst / duplicate / staff / staff_reply / wait_hours."""

    say: str | None = None
    tap: str | int | None = Field(default=None, description="A button or row title, or its 1-based position.")
    burst: list[str] | None = Field(default=None, description="Messages Meta delivers together: one reply.")
    duplicate: bool = Field(default=False, description="Meta redelivers the previous message (same wamid).")
    staff: Literal["take", "return_to_bot", "resolve_handoff"] | None = None
    image: str | None = Field(default=None, description="The customer sends a photo with this caption ('' for none).")
    voice: str | None = Field(default=None, description="The customer sends a voice note saying this.")
    staff_reply: str | None = Field(default=None, description="A staff member who took it writes to the customer.")
    wait_hours: float | None = Field(
        default=None, gt=0, description="Time passes: the customer's last message becomes this many hours older."
    )
    expect: TurnExpect = Field(default_factory=TurnExpect)

    @model_validator(mode="after")
    def _one_action(self) -> Turn:
        actions = [
            self.say is not None,
            self.image is not None,
            self.voice is not None,
            self.tap is not None,
            bool(self.burst),
            self.duplicate,
            self.staff is not None,
            self.staff_reply is not None,
            self.wait_hours is not None,
        ]
        if sum(actions) != 1:
            raise ValueError(
                "a turn has exactly one of: say, image, voice, tap, burst, duplicate, staff, staff_reply, wait_hours"
            )
        return self


class Setup(_Strict):
    release: Literal["demo"] = "demo"
    contact_name: str = "Cliente"
    # How WhatsApp identifies the customer: a phone number (wa_id) or, since 2026, a username (BSUID only).
    identity: Literal["phone", "username"] = "phone"


class EndExpect(_Strict):
    state: StateName | None = None  # type: ignore[valid-type]
    path: list[StateName] = Field(  # type: ignore[valid-type]
        default_factory=list, description="States visited, in this order (others may come between)."
    )
    escalated: bool | None = Field(default=None, description="Whether the conversation ever waited for a person.")


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{2,79}$")
    category: Literal[CLASSES] = Field(alias="class")  # type: ignore[valid-type]
    description: str = ""
    persona: str = ""
    language: str = "pt"
    safety: bool | None = None
    setup: Setup = Field(default_factory=Setup)
    turns: list[Turn] = Field(min_length=1)
    expect: EndExpect = Field(default_factory=EndExpect)
    source: str = Field(default="", exclude=True)

    @property
    def is_safety(self) -> bool:
        return self.category in SAFETY_CLASSES if self.safety is None else self.safety


def _validate(data: Any, *, where: str) -> list[Scenario]:
    items = data if isinstance(data, list) else [data]
    scenarios = []
    for position, item in enumerate(items, start=1):
        try:
            scenario = Scenario.model_validate(item)
        except ValidationError as exc:
            raise ScenarioError(f"{where}, scenario {position}: {_describe(exc)}") from exc
        scenario.source = where
        scenarios.append(scenario)
    return scenarios


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def scenarios_from_text(text: str, *, where: str) -> list[Scenario]:
    """Parse YAML holding one scenario or a list of them; ScenarioError says what is wrong and where."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{where}: not valid YAML ({exc})") from exc
    if data is None:
        raise ScenarioError(f"{where}: empty")
    return _validate(data, where=where)


def scenario_files(directory: Path = SCENARIO_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_file_scenarios(directory: Path = SCENARIO_DIR) -> list[Scenario]:
    """Every scenario in the repository's files, names unique across them."""
    scenarios: list[Scenario] = []
    for path in scenario_files(directory):
        scenarios += scenarios_from_text(path.read_text(encoding="utf-8"), where=path.name)
    check_unique_names(scenarios)
    return scenarios


def check_unique_names(scenarios: list[Scenario]) -> None:
    seen: dict[str, str] = {}
    for scenario in scenarios:
        if scenario.name in seen:
            raise ScenarioError(
                f"scenario name {scenario.name!r} is used in {seen[scenario.name]} and {scenario.source}"
            )
        seen[scenario.name] = scenario.source


def scenario_to_yaml(scenario: Scenario) -> str:
    data = scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data = {"name": scenario.name, "class": scenario.category, **data}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=110)
