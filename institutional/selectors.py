"""Reads of the institutional content: the live release (cached), the drafts, and release history."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.utils.translation import gettext

from institutional.builtin import BUILTIN_CONSTRAINTS, DEFAULT_TEMPLATES, builtin_snapshot
from institutional.guard import ACTION_RANK, GuardAction
from institutional.loader import process_loader, release_token
from institutional.models import (
    CompanyProfile,
    Constraint,
    Faq,
    Policy,
    PromptVariant,
    Release,
    ReleasePointer,
    split_keywords,
    split_lines,
)
from institutional.models import (
    PromptTemplate as PromptTemplateRow,
)
from institutional.retired import RETIRED_BUILTIN_ITEMS
from institutional.snapshot import (
    DRAFT_NUMBER,
    SEVERITY_RANK,
    CompanyProfileData,
    ConstraintRule,
    FaqEntry,
    FaqTranslationEntry,
    PolicyEntry,
    PromptTemplate,
    PromptVariantEntry,
    ReleaseSnapshot,
)


def current_release() -> ReleaseSnapshot:
    """The live release as the runtime must use it: cached per process, a publish shows within a second.

    Never fails for want of content: before the first publish it is the built-in release 0 (built-in
    constraints and templates), and while the database is unreachable it is the last release loaded.
    """
    return process_loader.get()


def release_token_of(release: ReleaseSnapshot) -> str:
    """What names a release in a run's payload (its number and content hash): the LLM worker reads it back."""
    return release_token(release.number, release.content_hash)


def release_for_token(token: str) -> ReleaseSnapshot:
    """The release a run was prepared with, from this process' loader (Redis-synced; no database read usually)."""
    return process_loader.by_token(token)


# `make eval VARIANT=b` runs every scenario with one variant, whatever the traffic shares say.
_evaluated_variant: ContextVar[PromptVariantEntry | None] = ContextVar("evaluated_variant", default=None)


def prompt_variant_for_contact(*, release: ReleaseSnapshot, contact_id: int) -> PromptVariantEntry | None:
    """The live prompt variant a contact's runs use (sticky per contact), or None for the base prompts."""
    forced = _evaluated_variant.get()
    if forced is not None:
        return forced
    return release.live_variant_for(str(contact_id))


@contextmanager
def prompt_variant_evaluated(name: str) -> Iterator[PromptVariantEntry]:
    """Within the block every run uses variant `name` (from the live release, else the drafts)."""
    variant = current_release().variant(name) or draft_snapshot().variant(name)
    if variant is None:
        raise LookupError(f"no prompt variant named {name!r} in the live release or the drafts")
    token = _evaluated_variant.set(variant)
    try:
        yield variant
    finally:
        _evaluated_variant.reset(token)


def release_get_current() -> Release | None:
    """The live Release row, straight from the database (admin pages; the runtime uses `current_release`)."""
    pointer = ReleasePointer.objects.select_related("release").filter(pk=ReleasePointer.SINGLETON_ID).first()
    return pointer.release if pointer else None


def release_get_previous(*, release: Release) -> Release | None:
    return Release.objects.filter(number__lt=release.number).order_by("-number").first()


def release_snapshot(*, release: Release) -> ReleaseSnapshot:
    return ReleaseSnapshot.from_content(number=release.number, content=release.snapshot)


def _merge(floor: tuple[str, ...], edited: list[str]) -> tuple[str, ...]:
    """The built-in items first, then the product team's additions, without repeats.

    Copies of retired built-in items (seeded into the rows by earlier versions) are dropped.
    """
    return tuple(dict.fromkeys([*floor, *(item for item in edited if item not in RETIRED_BUILTIN_ITEMS)]))


def _constraint_rules() -> tuple[ConstraintRule, ...]:
    rows = {row.slug: row for row in Constraint.objects.order_by("slug")}
    rules: list[ConstraintRule] = []
    # Built-in rules always apply: the product team can reword and extend them, never switch them off.
    for builtin in BUILTIN_CONSTRAINTS:
        row = rows.pop(builtin.slug, None)
        if row is None:
            rules.append(builtin)
            continue
        rules.append(
            ConstraintRule(
                id=row.pk,
                slug=row.slug,
                title=row.title or builtin.title,
                description=row.description or builtin.description,
                phrases=_merge(builtin.phrases, split_lines(row.phrases)),
                patterns=_merge(builtin.patterns, split_lines(row.patterns)),
                # An edit may make a built-in rule stricter, never weaker (e.g. contract closure stays a handoff).
                severity=max(row.severity, builtin.severity, key=lambda s: SEVERITY_RANK.get(s, 0)),
                action=max(row.action, builtin.action, key=lambda a: ACTION_RANK.get(GuardAction(a), 0)),
                safe_replacement=row.safe_replacement or builtin.safe_replacement,
                amounts_in_context=builtin.amounts_in_context or row.amounts_in_context,
            )
        )
    for row in rows.values():
        if not row.is_active:
            continue
        rules.append(
            ConstraintRule(
                id=row.pk,
                slug=row.slug,
                title=row.title,
                description=row.description,
                phrases=tuple(split_lines(row.phrases)),
                patterns=tuple(split_lines(row.patterns)),
                severity=row.severity,
                action=row.action,
                safe_replacement=row.safe_replacement,
                amounts_in_context=row.amounts_in_context,
            )
        )
    return tuple(rules)


def draft_snapshot() -> ReleaseSnapshot:
    """What a publish would freeze right now (number DRAFT_NUMBER): the drafts plus the built-in floor."""
    profile_row = CompanyProfile.objects.filter(pk=CompanyProfile.SINGLETON_ID).first()
    profile = (
        CompanyProfileData(
            name=profile_row.name,
            description=profile_row.description,
            services=tuple(split_lines(profile_row.services)),
            service_hours=profile_row.service_hours,
            channels=tuple(split_lines(profile_row.channels)),
            tone_of_voice=profile_row.tone_of_voice,
            default_language=profile_row.default_language,
            description_translations=tuple(
                (row.language, row.description) for row in profile_row.translations.order_by("language")
            ),
        )
        if profile_row
        else builtin_snapshot().profile
    )
    faqs = tuple(
        FaqEntry(
            id=row.pk,
            question=row.question,
            answer=row.answer,
            keywords=tuple(split_keywords(row.keywords)),
            priority=row.priority,
            translations=tuple(
                FaqTranslationEntry(
                    language=item.language,
                    question=item.question,
                    answer=item.answer,
                    keywords=tuple(split_keywords(item.keywords)),
                )
                for item in row.translations.all()
            ),
        )
        for row in Faq.objects.filter(is_active=True).prefetch_related("translations").order_by("pk")
    )
    policies = tuple(
        PolicyEntry(id=row.pk, title=row.title, body=row.body, priority=row.priority)
        for row in Policy.objects.filter(is_active=True).order_by("pk")
    )
    templates = dict(DEFAULT_TEMPLATES)
    for row in PromptTemplateRow.objects.all():
        templates[row.name] = PromptTemplate(name=row.name, version=row.version, text=row.text)
    variants = tuple(
        PromptVariantEntry(
            name=row.name,
            mode=row.mode,
            traffic_percent=row.traffic_percent,
            templates={
                name: PromptTemplate(name=name, version=f"{row.version}@{row.name}", text=text)
                for name, text in row.texts().items()
            },
        )
        for row in PromptVariant.objects.filter(is_active=True).order_by("name")
    )
    return ReleaseSnapshot(
        number=DRAFT_NUMBER,
        profile=profile,
        faqs=faqs,
        policies=policies,
        constraints=_constraint_rules(),
        templates=templates,
        variants=variants,
    ).with_hash()


def constraint_example_failures(*, snapshot: ReleaseSnapshot) -> list[str]:
    """Why the product team's constraint examples fail against `snapshot` (empty when they all hold).

    Every "must block" example of a constraint has to be blocked by that constraint, and every "must pass"
    example of any constraint has to pass every rule. Messages are in Portuguese, one per failing example.
    """
    from institutional.guard import check_reply

    failures: list[str] = []
    for row in Constraint.objects.order_by("slug"):
        for example in split_lines(row.must_block_examples):
            result = check_reply(release=snapshot, text=example)
            if row.slug not in {violation.constraint_slug for violation in result.violations}:
                failures.append(
                    gettext("A restrição “%(title)s” deveria bloquear “%(example)s”, mas o texto passou.")
                    % {"title": row.title, "example": example}
                )
        for example in split_lines(row.must_pass_examples):
            result = check_reply(release=snapshot, text=example)
            if not result.allowed:
                blocker = result.violations[0]
                failures.append(
                    gettext(
                        "O exemplo “%(example)s” da restrição “%(title)s” deveria passar, mas foi bloqueado por "
                        "“%(blocker)s” (%(rule)s)."
                    )
                    % {"example": example, "title": row.title, "blocker": blocker.constraint_slug, "rule": blocker.rule}
                )
    return failures
