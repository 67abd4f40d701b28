"""Writes of the institutional content: publish, roll back, diff, guard violations, demo seed, group."""

from __future__ import annotations

from functools import partial
from typing import Any

import structlog
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext

from conversations.models import Conversation
from institutional import demo, selectors
from institutional.builtin import BUILTIN_CONSTRAINTS, DEFAULT_TEMPLATES
from institutional.guard import GuardResult
from institutional.loader import release_announce
from institutional.models import (
    BusinessHours,
    CompanyProfile,
    Constraint,
    Faq,
    FaqTranslation,
    OpeningPeriod,
    Policy,
    PolicyJudgement,
    ProfileTranslation,
    PromptTemplate,
    PromptVariant,
    Release,
    ReleaseActivation,
    ReleasePointer,
)
from institutional.permissions import PRODUCT_TEAM_GROUP, PRODUCT_TEAM_PERMISSIONS
from pyloto.observability import metrics
from pyloto.observability.masking import mask_pii

log = structlog.get_logger(__name__)

EXCERPT_MAX_CHARS = 500
UserLike = AbstractBaseUser | AnonymousUser | None


class ReleaseError(Exception):
    """A publish or rollback that cannot happen; the message is meant for the person who asked."""


class NothingToPublishError(ReleaseError):
    """The drafts hold exactly the content of the live release."""


class ExamplesFailError(ReleaseError):
    """A constraint's "must block" example passes, or a "must pass" example is blocked, under the drafts."""


def _actor(user: UserLike) -> tuple[Any, str]:
    if user is None or not getattr(user, "is_authenticated", False):
        return None, "system"
    return user, user.get_username()


def _activate(*, release: Release, kind: str, user: UserLike, note: str) -> ReleaseActivation:
    """Point the runtime at `release` (caller holds the transaction) and announce it once committed."""
    pointer = ReleasePointer.objects.select_for_update().filter(pk=ReleasePointer.SINGLETON_ID).first()
    previous = pointer.release if pointer else None
    if pointer is None:
        ReleasePointer.objects.create(pk=ReleasePointer.SINGLETON_ID, release=release)
    else:
        pointer.release = release
        pointer.save(update_fields=["release", "updated_at"])
    actor, actor_name = _actor(user)
    activation = ReleaseActivation.objects.create(
        release=release, previous=previous, kind=kind, note=note, user=actor, user_name=actor_name
    )
    transaction.on_commit(
        partial(release_announce, number=release.number, content_hash=release.content_hash, content=release.snapshot)
    )
    return activation


@transaction.atomic
def release_publish(*, user: UserLike, note: str) -> Release:
    """Freeze the drafts into the next numbered release and make it live for every process.

    Refuses an empty note and drafts identical to the live release (`NothingToPublishError`).
    """
    note = (note or "").strip()
    if not note:
        raise ReleaseError("Escreva uma nota dizendo o que muda nesta publicação.")
    # Serialises concurrent publishes/rollbacks on the pointer row before numbering.
    pointer = (
        ReleasePointer.objects.select_for_update(of=("self",))
        .select_related("release")
        .filter(pk=ReleasePointer.SINGLETON_ID)
        .first()
    )
    current = pointer.release if pointer else None
    snapshot = selectors.draft_snapshot()
    failures = selectors.constraint_example_failures(snapshot=snapshot)
    if failures:
        raise ExamplesFailError(
            gettext("Publicação recusada: os exemplos das restrições não conferem com as regras.")
            + " "
            + " ".join(failures)
        )
    if current is not None and current.content_hash == snapshot.content_hash:
        raise NothingToPublishError(f"Nada mudou desde o release {current.number}.")
    number = (Release.objects.aggregate(top=Max("number"))["top"] or 0) + 1
    actor, actor_name = _actor(user)
    release = Release.objects.create(
        number=number,
        snapshot=snapshot.content(),
        content_hash=snapshot.content_hash,
        note=note,
        created_by=actor,
        created_by_name=actor_name,
    )
    _activate(release=release, kind=ReleaseActivation.Kind.PUBLISH, user=user, note=note)
    log.info(
        "institutional_release_published",
        release_number=number,
        previous_number=current.number if current else None,
        user_id=getattr(actor, "pk", None),
    )
    return release


@transaction.atomic
def release_rollback(*, release: Release, user: UserLike, note: str = "") -> Release:
    """Make an existing release live again (its content as frozen; the drafts are left as they are)."""
    pointer = ReleasePointer.objects.select_for_update().filter(pk=ReleasePointer.SINGLETON_ID).first()
    if pointer is not None and pointer.release_id == release.pk:
        raise ReleaseError(f"O release {release.number} já é o atual.")
    previous_number = pointer.release.number if pointer else None
    _activate(release=release, kind=ReleaseActivation.Kind.ROLLBACK, user=user, note=(note or "").strip())
    log.info(
        "institutional_release_rolled_back",
        release_number=release.number,
        previous_number=previous_number,
        user_id=getattr(_actor(user)[0], "pk", None),
    )
    return release


# --- Diff ----------------------------------------------------------------------------------------
_SECTION_KEYS = {"faqs": "id", "policies": "id", "constraints": "slug"}
_SECTION_LABELS = {"faqs": "question", "policies": "title", "constraints": "slug", "templates": "name"}


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def _section_diff(name: str, before: dict[str, dict], after: dict[str, dict]) -> dict[str, list]:
    label = _SECTION_LABELS[name]
    return {
        "added": [{"key": key, "label": after[key].get(label, key)} for key in after if key not in before],
        "removed": [{"key": key, "label": before[key].get(label, key)} for key in before if key not in after],
        "changed": [
            {"key": key, "label": after[key].get(label, key), "fields": fields}
            for key in after
            if key in before and (fields := _changed_fields(before[key], after[key]))
        ],
    }


def snapshot_diff(*, before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """Added, removed and changed items per section between two snapshot contents (`before` may be None)."""
    before = before or {}
    sections: dict[str, Any] = {}
    profile_fields = _changed_fields(before.get("profile") or {}, after.get("profile") or {})
    sections["profile"] = {
        "added": [],
        "removed": [],
        "changed": [{"key": "profile", "label": "perfil", "fields": profile_fields}] if profile_fields else [],
    }
    for name, key in _SECTION_KEYS.items():
        sections[name] = _section_diff(
            name,
            {str(item[key]): item for item in before.get(name, [])},
            {str(item[key]): item for item in after.get(name, [])},
        )
    sections["templates"] = _section_diff("templates", before.get("templates") or {}, after.get("templates") or {})
    has_changes = any(section["added"] or section["removed"] or section["changed"] for section in sections.values())
    return {"sections": sections, "has_changes": has_changes}


def release_diff(*, release: Release) -> dict[str, Any]:
    """What `release` changed against the release numbered just before it (everything, for the first)."""
    previous = selectors.release_get_previous(release=release)
    diff = snapshot_diff(before=previous.snapshot if previous else None, after=release.snapshot)
    return {"number": release.number, "previous_number": previous.number if previous else None, **diff}


# --- Guard violations ----------------------------------------------------------------------------
def guard_violation_record(
    *, conversation_id: int | None, result: GuardResult, text: str, correlation_id: str = ""
) -> None:
    """One GuardViolation row per violated constraint, with the reply masked; nothing for an allowed reply."""
    from institutional.models import GuardViolation

    if result.allowed:
        return
    if conversation_id is not None and not Conversation.objects.filter(pk=conversation_id).exists():
        conversation_id = None
    excerpt = mask_pii(text)[:EXCERPT_MAX_CHARS]
    GuardViolation.objects.bulk_create(
        GuardViolation(
            conversation_id=conversation_id,
            release_number=result.release_number,
            constraint_slug=violation.constraint_slug,
            severity=violation.severity,
            action=violation.action,
            layer=violation.layer,
            rule=violation.rule[:300],
            matched=mask_pii(violation.matched)[:200],
            excerpt=excerpt,
            correlation_id=correlation_id[:64],
        )
        for violation in result.violations
    )
    for violation in result.violations:
        metrics.GUARD_BLOCKS.labels(
            constraint=violation.constraint_slug, action=str(violation.action), layer=violation.layer
        ).inc()
        log.warning(
            "guard_violation_recorded",
            conversation_id=conversation_id,
            constraint=violation.constraint_slug,
            severity=violation.severity,
            action=violation.action,
            layer=violation.layer,
            release_number=result.release_number,
        )


def policy_judgement_record(
    *,
    conversation_id: int | None,
    mode: str,
    guard_allowed: bool,
    judge_output: dict[str, Any] | None,
    correlation_id: str = "",
) -> PolicyJudgement:
    """The judge's verdict beside the guard's; they agree when both allow or both block."""
    verdict = judge_output["verdict"] if judge_output is not None else PolicyJudgement.Verdict.ERROR
    agreed = (guard_allowed and verdict == "allow") or (not guard_allowed and verdict == "block")
    if conversation_id is not None and not Conversation.objects.filter(pk=conversation_id).exists():
        conversation_id = None
    judgement = PolicyJudgement.objects.create(
        conversation_id=conversation_id,
        mode=mode,
        guard_allowed=guard_allowed,
        verdict=verdict,
        agreed=agreed,
        constraint_slug=(judge_output or {}).get("constraint", "")[:80],
        reason=mask_pii((judge_output or {}).get("reason", ""))[:300],
        correlation_id=correlation_id[:64],
    )
    metrics.POLICY_JUDGE_VERDICTS.labels(mode=mode, verdict=verdict, agreed=str(agreed).lower()).inc()
    log.info("policy_judge_recorded", mode=mode, verdict=verdict, agreed=agreed, guard_allowed=guard_allowed)
    return judgement


# --- Product team group --------------------------------------------------------------------------
@transaction.atomic
def product_team_group_sync() -> Group:
    """The 'Product team' group with exactly its permissions (the data migration creates it too)."""
    group, _ = Group.objects.get_or_create(name=PRODUCT_TEAM_GROUP)
    permissions = []
    for permission in PRODUCT_TEAM_PERMISSIONS:
        app_label, codename = permission.split(".", 1)
        permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    group.permissions.set(permissions)
    return group


# --- Prompt variants ---------------------------------------------------------------------------
@transaction.atomic
def prompt_variant_promote(*, variant_id: int, user: UserLike = None) -> list[str]:
    """Make a variant's prompts the base drafts and switch the variant off; a publish makes it live.

    Returns the names of the templates it replaced. Everyone then gets the promoted prompts, with the
    variant's version, so calls before and after stay comparable in the records.
    """
    variant = PromptVariant.objects.select_for_update().get(pk=variant_id)
    replaced = []
    for name, text in variant.texts().items():
        PromptTemplate.objects.update_or_create(name=name, defaults={"text": text, "version": variant.version[:32]})
        replaced.append(name)
    variant.is_active = False
    variant.mode = PromptVariant.Mode.OFF
    variant.save(update_fields=["is_active", "mode", "updated_at"])
    log.info("prompt_variant_promoted", variant=variant.name, templates=replaced, user_id=getattr(user, "pk", None))
    return replaced


# --- Demo content --------------------------------------------------------------------------------
@transaction.atomic
def business_hours_seed(*, reset: bool = False) -> BusinessHours:
    """The demo's hours (what its content says: weekdays 8h–18h, Brasília time, closed on national holidays).

    Left alone once the product team set hours of their own, unless `reset`.
    """
    with transaction.atomic():
        hours, _created = BusinessHours.objects.get_or_create(
            pk=BusinessHours.SINGLETON_ID, defaults={"time_zone": demo.BUSINESS_TIME_ZONE}
        )
        if reset or not hours.periods.exists():
            hours.time_zone = demo.BUSINESS_TIME_ZONE
            hours.save()
            hours.periods.all().delete()
            OpeningPeriod.objects.bulk_create(
                OpeningPeriod(hours=hours, weekday=weekday, opens_at=opens, closes_at=closes)
                for weekday, opens, closes in demo.BUSINESS_PERIODS
            )
    return hours


def demo_content_seed(*, user: UserLike = None, reset: bool = False) -> Release | None:
    """Create the demo drafts that are missing (all of them again with `reset`) and publish if they differ.

    Drafts the product team already edited are left alone unless `reset`; returns the new release, or
    None when the live release already holds this content.
    """
    profile_defaults = dict(demo.PROFILE)
    if reset or not CompanyProfile.objects.filter(pk=CompanyProfile.SINGLETON_ID).exists():
        CompanyProfile(pk=CompanyProfile.SINGLETON_ID, **profile_defaults).save()
    for language, description in demo.PROFILE_TRANSLATIONS.items():
        lookup = {"profile_id": CompanyProfile.SINGLETON_ID, "language": language}
        _seed_row(ProfileTranslation, lookup, {"description": description}, reset=reset)
    for item in demo.FAQS:
        _seed_row(Faq, {"question": item["question"]}, item, reset=reset)
        faq = Faq.objects.get(question=item["question"])
        for language, (question, answer, keywords) in demo.FAQ_TRANSLATIONS.get(str(item["question"]), {}).items():
            translated = {"question": question, "answer": answer, "keywords": keywords}
            _seed_row(FaqTranslation, {"faq": faq, "language": language}, translated, reset=reset)
    for item in demo.POLICIES:
        _seed_row(Policy, {"title": item["title"]}, item, reset=reset)
    for rule in BUILTIN_CONSTRAINTS:
        fields = {
            "title": rule.title,
            "description": rule.description,
            "phrases": "\n".join(rule.phrases),
            "patterns": "\n".join(rule.patterns),
            "severity": rule.severity,
            "action": rule.action,
            "safe_replacement": rule.safe_replacement,
            "amounts_in_context": rule.amounts_in_context,
            "is_builtin": True,
            "is_active": True,
        }
        _seed_row(Constraint, {"slug": rule.slug}, fields, reset=reset)
    for name, template in DEFAULT_TEMPLATES.items():
        _seed_row(PromptTemplate, {"name": name}, {"version": template.version, "text": template.text}, reset=reset)
    business_hours_seed(reset=reset)
    try:
        release = release_publish(user=user, note="Conteúdo de demonstração (seed_demo).")
    except NothingToPublishError:
        log.info("institutional_demo_unchanged")
        return None
    log.info("institutional_demo_published", release_number=release.number)
    return release


def _seed_row(model: Any, lookup: dict[str, Any], fields: dict[str, Any], *, reset: bool) -> None:
    values = {key: value for key, value in fields.items() if key not in lookup}
    if reset:
        model.objects.update_or_create(**lookup, defaults=values)
    else:
        model.objects.get_or_create(**lookup, defaults=values)
