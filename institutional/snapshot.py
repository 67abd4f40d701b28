"""The frozen, DB-free shape of a release: what the runtime reads and how it becomes prompt text."""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Bumped when the JSON layout of a snapshot changes, so old releases can still be read.
SNAPSHOT_SCHEMA = 1
# A snapshot built from the editable drafts has no release number yet.
DRAFT_NUMBER = -1
# Number of the built-in snapshot served when nothing was ever published.
BUILTIN_NUMBER = 0
DEFAULT_BUDGET_CHARS = 6000

TEMPLATE_NAMES = ("decide_state", "write_reply", "choose_message_type")

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """One of the three system prompts, as `string.Template` text with `$name` variables."""

    name: str
    version: str
    text: str

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(string.Template(self.text).get_identifiers())

    def render(self, **values: Any) -> str:
        """Substitute every `$name`; a missing value raises KeyError rather than leaking `$name`."""
        return string.Template(self.text).substitute({key: str(value) for key, value in values.items()})


@dataclass(frozen=True, slots=True)
class CompanyProfileData:
    name: str = ""
    description: str = ""
    services: tuple[str, ...] = ()
    service_hours: str = ""
    channels: tuple[str, ...] = ()
    tone_of_voice: str = ""
    default_language: str = "pt-BR"
    # (language, description) pairs: what the company does, for customers who write in another language.
    description_translations: tuple[tuple[str, str], ...] = ()

    def description_in(self, language: str) -> str | None:
        """The description in `language` (a two-letter code), or None when it was never translated."""
        if language == language_code(self.default_language):
            return self.description
        return next((text for code, text in self.description_translations if code == language), None)


def language_code(tag: str) -> str:
    """The two-letter language of a tag such as "pt-BR" (what language detection returns)."""
    return (tag or "").split("-", 1)[0].casefold()


@dataclass(frozen=True, slots=True)
class FaqTranslationEntry:
    language: str
    question: str
    answer: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: int
    question: str
    answer: str
    keywords: tuple[str, ...] = ()
    priority: int = 0
    translations: tuple[FaqTranslationEntry, ...] = ()

    def in_language(self, language: str, default_language: str) -> FaqTranslationEntry | None:
        """This FAQ in `language`: itself in the release's default language, a translation, or None."""
        if language == language_code(default_language):
            return FaqTranslationEntry(
                language=language, question=self.question, answer=self.answer, keywords=self.keywords
            )
        return next((item for item in self.translations if item.language == language), None)


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    id: int
    title: str
    body: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class ConstraintRule:
    """A rule in words for the prompt plus the check the output guard runs."""

    slug: str
    title: str
    description: str
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    severity: str = "high"
    action: str = "replace"
    safe_replacement: str = ""
    id: int | None = None
    # Also block money amounts, percentages and deadlines that appear nowhere in the release's content.
    amounts_in_context: bool = False


VARIANT_MODES = ("off", "shadow", "live")
# Contacts fall in one of this many buckets; live variants take consecutive ranges of them.
VARIANT_BUCKETS = 100


@dataclass(frozen=True, slots=True)
class PromptVariantEntry:
    """A named set of replacement prompts with its mode and traffic share."""

    name: str
    mode: str
    traffic_percent: int
    templates: Mapping[str, PromptTemplate]


def contact_bucket(contact_key: str) -> int:
    """A stable bucket 0-99 for a contact: the same contact lands in the same variant across releases."""
    digest = hashlib.sha256(f"prompt-variant:{contact_key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % VARIANT_BUCKETS


@dataclass(frozen=True)
class ReleaseSnapshot:
    """Everything the assistant knows and must never say, frozen as one numbered release."""

    number: int
    profile: CompanyProfileData
    faqs: tuple[FaqEntry, ...]
    policies: tuple[PolicyEntry, ...]
    constraints: tuple[ConstraintRule, ...]
    templates: Mapping[str, PromptTemplate]
    content_hash: str = ""
    variants: tuple[PromptVariantEntry, ...] = ()
    _context_memo: dict[int, str] = field(default_factory=dict, compare=False, repr=False, hash=False)

    # --- JSON round trip --------------------------------------------------------------------------
    def content(self) -> dict[str, Any]:
        """The JSON document a Release row stores (no number: the number belongs to the row)."""
        profile = self.profile
        return {
            "schema": SNAPSHOT_SCHEMA,
            "profile": {
                "name": profile.name,
                "description": profile.description,
                "services": list(profile.services),
                "service_hours": profile.service_hours,
                "channels": list(profile.channels),
                "tone_of_voice": profile.tone_of_voice,
                "default_language": profile.default_language,
                # Optional keys are written only when set, so releases without translations keep their hash.
                **(
                    {"description_translations": [list(pair) for pair in profile.description_translations]}
                    if profile.description_translations
                    else {}
                ),
            },
            "faqs": [
                {
                    "id": faq.id,
                    "question": faq.question,
                    "answer": faq.answer,
                    "keywords": list(faq.keywords),
                    "priority": faq.priority,
                    **(
                        {
                            "translations": [
                                {
                                    "language": item.language,
                                    "question": item.question,
                                    "answer": item.answer,
                                    "keywords": list(item.keywords),
                                }
                                for item in faq.translations
                            ]
                        }
                        if faq.translations
                        else {}
                    ),
                }
                for faq in self.faqs
            ],
            "policies": [
                {"id": policy.id, "title": policy.title, "body": policy.body, "priority": policy.priority}
                for policy in self.policies
            ],
            "constraints": [
                {
                    "id": rule.id,
                    "slug": rule.slug,
                    "title": rule.title,
                    "description": rule.description,
                    "phrases": list(rule.phrases),
                    "patterns": list(rule.patterns),
                    "severity": rule.severity,
                    "action": rule.action,
                    "safe_replacement": rule.safe_replacement,
                    "amounts_in_context": rule.amounts_in_context,
                }
                for rule in self.constraints
            ],
            "templates": {
                name: {"name": template.name, "version": template.version, "text": template.text}
                for name, template in sorted(self.templates.items())
            },
            # Written only when there are variants, so releases without them keep their hash.
            **(
                {
                    "variants": [
                        {
                            "name": variant.name,
                            "mode": variant.mode,
                            "traffic_percent": variant.traffic_percent,
                            "templates": {
                                name: {"name": t.name, "version": t.version, "text": t.text}
                                for name, t in sorted(variant.templates.items())
                            },
                        }
                        for variant in self.variants
                    ]
                }
                if self.variants
                else {}
            ),
        }

    @classmethod
    def from_content(cls, *, number: int, content: Mapping[str, Any]) -> ReleaseSnapshot:
        profile = content.get("profile") or {}
        snapshot = cls(
            number=number,
            profile=CompanyProfileData(
                name=profile.get("name", ""),
                description=profile.get("description", ""),
                services=tuple(profile.get("services", ())),
                service_hours=profile.get("service_hours", ""),
                channels=tuple(profile.get("channels", ())),
                tone_of_voice=profile.get("tone_of_voice", ""),
                default_language=profile.get("default_language", "pt-BR"),
                description_translations=tuple(
                    (str(code), str(text)) for code, text in profile.get("description_translations", ())
                ),
            ),
            faqs=tuple(
                FaqEntry(
                    id=item["id"],
                    question=item["question"],
                    answer=item["answer"],
                    keywords=tuple(item.get("keywords", ())),
                    priority=item.get("priority", 0),
                    translations=tuple(
                        FaqTranslationEntry(
                            language=t["language"],
                            question=t["question"],
                            answer=t["answer"],
                            keywords=tuple(t.get("keywords", ())),
                        )
                        for t in item.get("translations", ())
                    ),
                )
                for item in content.get("faqs", ())
            ),
            policies=tuple(
                PolicyEntry(id=item["id"], title=item["title"], body=item["body"], priority=item.get("priority", 0))
                for item in content.get("policies", ())
            ),
            constraints=tuple(
                ConstraintRule(
                    id=item.get("id"),
                    slug=item["slug"],
                    title=item.get("title", item["slug"]),
                    description=item.get("description", ""),
                    phrases=tuple(item.get("phrases", ())),
                    patterns=tuple(item.get("patterns", ())),
                    severity=item.get("severity", "high"),
                    action=item.get("action", "replace"),
                    safe_replacement=item.get("safe_replacement", ""),
                    amounts_in_context=bool(item.get("amounts_in_context", False)),
                )
                for item in content.get("constraints", ())
            ),
            templates={
                name: PromptTemplate(name=item["name"], version=item["version"], text=item["text"])
                for name, item in (content.get("templates") or {}).items()
            },
            variants=tuple(
                PromptVariantEntry(
                    name=item["name"],
                    mode=item["mode"],
                    traffic_percent=int(item["traffic_percent"]),
                    templates={
                        name: PromptTemplate(name=t["name"], version=t["version"], text=t["text"])
                        for name, t in item["templates"].items()
                    },
                )
                for item in content.get("variants", ())
            ),
        )
        return snapshot.with_hash()

    def with_hash(self) -> ReleaseSnapshot:
        return ReleaseSnapshot(
            number=self.number,
            profile=self.profile,
            faqs=self.faqs,
            policies=self.policies,
            constraints=self.constraints,
            templates=self.templates,
            content_hash=content_hash(self.content()),
            variants=self.variants,
        )

    # --- Prompt variants --------------------------------------------------------------------------
    def variant(self, name: str) -> PromptVariantEntry | None:
        return next((variant for variant in self.variants if variant.name == name), None)

    def live_variant_for(self, contact_key: str) -> PromptVariantEntry | None:
        """The live variant this contact gets (sticky), or None for the base prompts."""
        bucket, start = contact_bucket(contact_key), 0
        for variant in sorted(self.variants, key=lambda v: v.name):
            if variant.mode != "live":
                continue
            if start <= bucket < start + variant.traffic_percent:
                return variant
            start += variant.traffic_percent
        return None

    def shadow_variants_for(self, run_key: str) -> list[PromptVariantEntry]:
        """The shadow variants that also run on this run (each on its share of runs)."""
        return [
            variant
            for variant in self.variants
            if variant.mode == "shadow" and contact_bucket(f"{variant.name}:{run_key}") < variant.traffic_percent
        ]

    def templates_for(self, variant: PromptVariantEntry | None) -> dict[str, PromptTemplate]:
        """The three prompts with the variant's replacements applied."""
        return {**self.templates, **(variant.templates if variant else {})}

    # --- Prompt text ------------------------------------------------------------------------------
    def prompt_context(self, budget_chars: int = DEFAULT_BUDGET_CHARS) -> str:
        """The institutional context as the LLM sees it, never longer than `budget_chars`.

        The profile and the constraints always go in; policies then FAQs follow by priority (highest
        first, ties by title/question then id) and are dropped from the lowest priority up until the
        text fits, so the same content and budget always give the same text.
        """
        memo = self._context_memo.get(budget_chars)
        if memo is None:
            memo = build_prompt_context(self, budget_chars)
            self._context_memo[budget_chars] = memo
        return memo

    def context_report(self, budget_chars: int = DEFAULT_BUDGET_CHARS) -> ContextReport:
        return build_context_report(self, budget_chars)


def fact_units(snapshot: ReleaseSnapshot, *, with_translations: bool = False) -> list[str]:
    """Each fact the release states on its own (a service line, a policy, an FAQ with its answer).

    `with_translations` adds the FAQ and description translations: a reply in English quoting the
    English FAQ's "10 business days" quotes a published fact about the same thing.
    """
    profile = snapshot.profile
    parts = [profile.description, *profile.services, profile.service_hours]
    parts.extend(f"{policy.title}\n{policy.body}" for policy in snapshot.policies)
    parts.extend(f"{faq.question}\n{faq.answer}" for faq in snapshot.faqs)
    if with_translations:
        parts.extend(text for _code, text in profile.description_translations)
        parts.extend(f"{item.question}\n{item.answer}" for faq in snapshot.faqs for item in faq.translations)
    return [part for part in parts if part]


def facts_text(snapshot: ReleaseSnapshot) -> str:
    """Every fact the release states (profile, policies, FAQs): what amounts in a reply must come from."""
    return "\n".join(fact_units(snapshot))


def content_hash(content: Mapping[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def ordered_faqs(faqs: tuple[FaqEntry, ...]) -> list[FaqEntry]:
    return sorted(faqs, key=lambda faq: (-faq.priority, faq.question.casefold(), faq.id))


def ordered_policies(policies: tuple[PolicyEntry, ...]) -> list[PolicyEntry]:
    return sorted(policies, key=lambda policy: (-policy.priority, policy.title.casefold(), policy.id))


def _profile_block(profile: CompanyProfileData) -> str:
    lines = ["# Empresa"]
    if profile.name:
        lines.append(f"Nome: {profile.name}")
    if profile.description:
        lines.append(f"O que faz: {profile.description}")
    if profile.services:
        lines.append("Serviços e produtos:")
        lines.extend(f"- {service}" for service in profile.services)
    if profile.service_hours:
        lines.append(f"Horário de atendimento: {profile.service_hours}")
    if profile.channels:
        lines.append(f"Canais: {', '.join(profile.channels)}")
    if profile.tone_of_voice:
        lines.append(f"Tom de voz: {profile.tone_of_voice}")
    if profile.default_language:
        lines.append(f"Idioma padrão: {profile.default_language}")
    return "\n".join(lines)


def _constraints_block(constraints: tuple[ConstraintRule, ...]) -> str:
    if not constraints:
        return ""
    lines = ["# Regras que você nunca pode violar"]
    lines.extend(f"- {rule.description or rule.title}" for rule in constraints)
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ContextReport:
    """What `prompt_context` kept: for the admin preview and for logs."""

    text: str
    faqs_included: int
    faqs_total: int
    policies_included: int
    policies_total: int
    truncated: bool


def build_prompt_context(snapshot: ReleaseSnapshot, budget_chars: int) -> str:
    return build_context_report(snapshot, budget_chars).text


def build_context_report(snapshot: ReleaseSnapshot, budget_chars: int) -> ContextReport:
    mandatory = "\n\n".join(
        block for block in (_profile_block(snapshot.profile), _constraints_block(snapshot.constraints)) if block
    )
    totals = {"faqs_total": len(snapshot.faqs), "policies_total": len(snapshot.policies)}
    if len(mandatory) >= budget_chars:
        # Only when the budget is smaller than the profile plus the rules; the guard still enforces them.
        text = mandatory[: max(budget_chars - 1, 0)] + "…" if budget_chars > 0 else ""
        return ContextReport(text=text, faqs_included=0, policies_included=0, truncated=True, **totals)

    parts = [mandatory]
    used = len(mandatory)
    sections: list[tuple[str, list[str]]] = [
        ("# Políticas", [f"## {policy.title}\n{policy.body}" for policy in ordered_policies(snapshot.policies)]),
        ("# Perguntas frequentes", [f"P: {faq.question}\nR: {faq.answer}" for faq in ordered_faqs(snapshot.faqs)]),
    ]
    included: list[int] = []
    exhausted = False
    for heading, items in sections:
        accepted: list[str] = []
        header = f"\n\n{heading}"
        section_used = len(header)
        if not exhausted and items and used + section_used <= budget_chars:
            for item in items:
                cost = len(item) + 2  # the blank line before it
                if used + section_used + cost > budget_chars:
                    # Strict priority: once an item does not fit, nothing of lower priority goes in.
                    exhausted = True
                    break
                accepted.append(item)
                section_used += cost
        elif items:
            exhausted = True
        if accepted:
            parts.append(header + "".join(f"\n\n{item}" for item in accepted))
            used += section_used
        included.append(len(accepted))
    return ContextReport(
        text="".join(parts),
        faqs_included=included[1],
        policies_included=included[0],
        truncated=exhausted,
        **totals,
    )
