"""Publish, rollback, diff, immutability of releases, violation records and the demo seed."""

import pytest
from django.db import IntegrityError, transaction

from institutional import selectors, services
from institutional.guard import check_reply
from institutional.models import GuardViolation, Release, ReleaseActivation, ReleaseImmutableError, ReleasePointer
from institutional.services import NothingToPublishError, ReleaseError
from institutional.snapshot import BUILTIN_NUMBER, DRAFT_NUMBER

from .factories import CompanyProfileFactory, ConstraintFactory, FaqFactory, PolicyFactory, UserFactory

pytestmark = pytest.mark.django_db


def _publish(note="nota", user=None, capture=None):
    return services.release_publish(user=user, note=note)


def test_publish_freezes_the_drafts_into_a_numbered_release_with_who_when_and_note(django_capture_on_commit_callbacks):
    user = UserFactory(username="ana")
    CompanyProfileFactory()
    faq = FaqFactory(question="Qual o horário?", answer="Das 8h às 18h.")
    with django_capture_on_commit_callbacks(execute=True):
        release = services.release_publish(user=user, note="primeira versão")

    assert release.number == 1
    assert release.created_by == user and release.created_by_name == "ana"
    assert release.note == "primeira versão" and release.created_at is not None
    assert [item["question"] for item in release.snapshot["faqs"]] == ["Qual o horário?"]
    assert selectors.release_get_current() == release
    assert ReleaseActivation.objects.get().kind == ReleaseActivation.Kind.PUBLISH

    # Later draft edits do not touch the frozen release nor what the runtime reads.
    faq.answer = "Das 9h às 17h."
    faq.save()
    release.refresh_from_db()
    assert release.snapshot["faqs"][0]["answer"] == "Das 8h às 18h."
    assert selectors.current_release().faqs[0].answer == "Das 8h às 18h."
    assert selectors.draft_snapshot().faqs[0].answer == "Das 9h às 17h."


def test_publish_numbers_releases_in_sequence_and_refuses_unchanged_content_or_an_empty_note(
    django_capture_on_commit_callbacks,
):
    FaqFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = services.release_publish(user=None, note="um")
    with pytest.raises(NothingToPublishError):
        services.release_publish(user=None, note="de novo")
    with pytest.raises(ReleaseError):
        services.release_publish(user=None, note="   ")
    FaqFactory()
    with django_capture_on_commit_callbacks(execute=True):
        second = services.release_publish(user=None, note="dois")
    assert (first.number, second.number) == (1, 2)
    assert first.created_by_name == "system"
    assert Release.objects.count() == 2


def test_rollback_makes_an_older_release_live_again_and_records_it(django_capture_on_commit_callbacks):
    user = UserFactory()
    faq = FaqFactory(answer="versão 1")
    with django_capture_on_commit_callbacks(execute=True):
        first = services.release_publish(user=user, note="v1")
    faq.answer = "versão 2 com erro"
    faq.save()
    with django_capture_on_commit_callbacks(execute=True):
        second = services.release_publish(user=user, note="v2")
    assert selectors.current_release().number == second.number

    with django_capture_on_commit_callbacks(execute=True):
        services.release_rollback(release=first, user=user, note="v2 tinha erro")

    assert selectors.release_get_current() == first
    live = selectors.current_release()
    assert (live.number, live.faqs[0].answer) == (1, "versão 1")
    activation = ReleaseActivation.objects.first()
    assert (activation.kind, activation.release, activation.previous, activation.note) == (
        ReleaseActivation.Kind.ROLLBACK,
        first,
        second,
        "v2 tinha erro",
    )
    # Rolling back does not renumber or delete anything, and the drafts keep the newer edit.
    assert list(Release.objects.values_list("number", flat=True)) == [2, 1]
    assert selectors.draft_snapshot().faqs[0].answer == "versão 2 com erro"
    with pytest.raises(ReleaseError):
        services.release_rollback(release=first, user=user)


def test_a_release_refuses_updates_through_the_model_and_through_the_database(django_capture_on_commit_callbacks):
    FaqFactory()
    with django_capture_on_commit_callbacks(execute=True):
        release = services.release_publish(user=None, note="v1")
    release.note = "reescrita"
    with pytest.raises(ReleaseImmutableError):
        release.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        Release.objects.filter(pk=release.pk).update(snapshot={"faqs": []})
    release.refresh_from_db()
    assert release.note == "v1" and release.snapshot["faqs"]


def test_removing_the_publisher_keeps_the_release_and_its_author_name(django_capture_on_commit_callbacks):
    user = UserFactory(username="bia")
    FaqFactory()
    with django_capture_on_commit_callbacks(execute=True):
        release = services.release_publish(user=user, note="v1")
    user.delete()
    release.refresh_from_db()
    assert release.created_by is None and release.created_by_name == "bia"


def test_release_diff_lists_added_removed_and_changed_items_per_section(django_capture_on_commit_callbacks):
    CompanyProfileFactory(name="Pyloto")
    kept = FaqFactory(question="Fica?", answer="Sim.")
    gone = FaqFactory(question="Sai?")
    PolicyFactory(title="Privacidade")
    with django_capture_on_commit_callbacks(execute=True):
        first = services.release_publish(user=None, note="v1")
    kept.answer = "Sim, com mudança."
    kept.save()
    gone.is_active = False
    gone.save()
    FaqFactory(question="Nova?")
    ConstraintFactory(slug="sem-girias", title="Sem gírias", phrases="mano")
    profile = selectors.CompanyProfile.objects.get()
    profile.name = "Pyloto Tecnologia"
    profile.save()
    with django_capture_on_commit_callbacks(execute=True):
        second = services.release_publish(user=None, note="v2")

    diff = services.release_diff(release=second)
    sections = diff["sections"]
    assert (diff["number"], diff["previous_number"], diff["has_changes"]) == (2, 1, True)
    assert [item["label"] for item in sections["faqs"]["added"]] == ["Nova?"]
    assert [item["label"] for item in sections["faqs"]["removed"]] == ["Sai?"]
    changed = sections["faqs"]["changed"]
    assert changed[0]["label"] == "Fica?"
    assert changed[0]["fields"] == {"answer": {"before": "Sim.", "after": "Sim, com mudança."}}
    assert [item["key"] for item in sections["constraints"]["added"]] == ["sem-girias"]
    assert sections["profile"]["changed"][0]["fields"]["name"] == {"before": "Pyloto", "after": "Pyloto Tecnologia"}
    assert sections["policies"] == {"added": [], "removed": [], "changed": []}

    first_diff = services.release_diff(release=first)
    assert first_diff["previous_number"] is None
    assert len(first_diff["sections"]["faqs"]["added"]) == 2


def test_built_in_constraints_cannot_be_switched_off_or_stripped_of_their_phrases(django_capture_on_commit_callbacks):
    services.demo_content_seed()
    rule = selectors.Constraint.objects.get(slug="no-contract-closure")
    rule.is_active = False
    rule.phrases = "minha frase extra"
    rule.save()

    draft = selectors.draft_snapshot()
    merged = next(item for item in draft.constraints if item.slug == "no-contract-closure")
    assert "negócio fechado" in merged.phrases and "minha frase extra" in merged.phrases
    assert not check_reply(release=draft, text="contrato fechado").allowed
    assert not check_reply(release=draft, text="minha frase extra").allowed


def test_a_switched_off_custom_constraint_leaves_the_next_release():
    custom = ConstraintFactory(slug="sem-girias", phrases="mano")
    assert "sem-girias" in {rule.slug for rule in selectors.draft_snapshot().constraints}
    custom.is_active = False
    custom.save()
    assert "sem-girias" not in {rule.slug for rule in selectors.draft_snapshot().constraints}
    assert selectors.draft_snapshot().number == DRAFT_NUMBER


def test_guard_violations_are_recorded_with_a_masked_excerpt():
    from django.utils import timezone

    from conversations.models import Contact, Conversation

    contact = Contact.objects.create(wa_id="5511987654321")
    conversation = Conversation.objects.create(contact=contact, last_activity_at=timezone.now())
    text = "Contrato fechado! Te ligo no +55 11 98765-4321 ou escreva para maria.silva@example.com. " * 2
    result = check_reply(release=selectors.current_release(), text=text + " garanto o desconto")

    services.guard_violation_record(conversation_id=conversation.pk, result=result, text=text, correlation_id="corr-1")

    rows = list(GuardViolation.objects.order_by("constraint_slug"))
    assert [(row.constraint_slug, row.action) for row in rows] == [
        ("no-contract-closure", "handoff"),
        ("no-unlisted-price-or-deadline", "replace"),
    ]
    for row in rows:
        assert row.conversation == conversation and row.correlation_id == "corr-1"
        assert row.release_number == BUILTIN_NUMBER
        assert "98765-4321" not in row.excerpt and "maria.silva" not in row.excerpt
        assert "Contrato fechado" in row.excerpt

    conversation.delete()
    assert GuardViolation.objects.filter(conversation__isnull=True).count() == 2


def test_an_allowed_reply_records_nothing():
    result = check_reply(release=selectors.current_release(), text="Olá!")
    services.guard_violation_record(conversation_id=None, result=result, text="Olá!")
    assert not GuardViolation.objects.exists()


def test_demo_seed_is_idempotent_and_keeps_the_product_teams_edits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = services.demo_content_seed()
    assert first is not None and first.number == 1
    live = selectors.current_release()
    assert live.profile.name == "Pyloto" and len(live.faqs) >= 12 and len(live.policies) >= 3
    assert set(live.templates) == {"decide_state", "write_reply", "choose_message_type"}
    assert services.demo_content_seed() is None

    faq = selectors.Faq.objects.get(question="Qual é o horário de atendimento?")
    faq.answer = "Editado pelo produto."
    faq.save()
    with django_capture_on_commit_callbacks(execute=True):
        second = services.demo_content_seed()
    assert second is not None and second.number == 2
    assert selectors.Faq.objects.get(pk=faq.pk).answer == "Editado pelo produto."

    with django_capture_on_commit_callbacks(execute=True):
        third = services.demo_content_seed(reset=True)
    assert third is not None and third.snapshot == first.snapshot
    assert ReleasePointer.objects.get().release == third
