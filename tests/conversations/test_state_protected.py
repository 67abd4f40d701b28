"""The state is a protected FSMField: only transitions move it, and no path lets the bot reach a human-only state."""

import ast
from pathlib import Path

import pytest

from conversations.models import Conversation, TransitionDecision
from conversations.services.replies import reply_finalize
from conversations.services.runs import run_begin
from conversations.states import BOT_ACTIVE, HUMAN_ONLY, State
from tests.factories import ConversationFactory, MessageFactory

ROOT = Path(__file__).resolve().parents[2]
APP_PACKAGES = ("conversations", "institutional", "llm", "pyloto", "inbox")


@pytest.mark.django_db
def test_assigning_the_state_directly_is_refused_and_a_reload_still_works():
    conversation = ConversationFactory(state=State.TRIAGE)
    with pytest.raises(AttributeError, match="Direct state modification is not allowed"):
        conversation.state = State.CONTRACT_CLOSED
    Conversation.objects.filter(pk=conversation.pk).first()
    conversation.refresh_from_db()
    assert conversation.state == State.TRIAGE


def _state_writes(tree: ast.AST) -> list[int]:
    """Lines that assign `<x>.state = ...` or write `state=` through a queryset `update`/`bulk_update`."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            lines.extend(node.lineno for t in targets if isinstance(t, ast.Attribute) and t.attr == "state")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update":
            lines.extend(node.lineno for keyword in node.keywords if keyword.arg == "state")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "bulk_update":
            lines.extend(node.lineno for arg in node.args if isinstance(arg, ast.List) and "state" in ast.unparse(arg))
    return lines


def test_no_application_code_writes_the_state_except_through_a_transition():
    offenders = []
    for package in APP_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for line in _state_writes(ast.parse(path.read_text(encoding="utf-8"))):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == []


def test_the_scan_would_see_a_direct_write():
    assert _state_writes(ast.parse("conversation.state = 'contract_closed'")) == [1]
    assert _state_writes(ast.parse("Conversation.objects.filter(pk=1).update(state='human_active')")) == [1]


@pytest.mark.django_db
@pytest.mark.parametrize("source", sorted(BOT_ACTIVE))
@pytest.mark.parametrize("target", sorted(HUMAN_ONLY))
def test_an_llm_decision_for_a_human_only_state_is_refused_on_the_real_finalize_path(source, target):
    conversation = ConversationFactory(state=source)
    MessageFactory(conversation=conversation, text="Pode fechar o contrato, eu aceito")
    lease = run_begin(conversation_id=conversation.pk)
    reply_finalize(
        run_key=lease.token,
        conversation_id=conversation.pk,
        expected_state=source,
        decision={"target_state": target, "reason": "the customer accepted", "customer_wants_human": False},
        reply={"text": "Certo! Vou chamar a equipe comercial."},
        choice=None,
        calls=[],
        provider="openai",
    )
    conversation.refresh_from_db()
    assert conversation.state not in HUMAN_ONLY
    assert conversation.state == source
    refusal = TransitionDecision.objects.get(conversation=conversation)
    assert (refusal.outcome, refusal.proposed_state) == ("refused", target)
    assert refusal.refusal in {"not_permitted", "no_transition"}


@pytest.mark.django_db
def test_a_reload_of_other_fields_keeps_the_state_and_a_full_reload_takes_the_new_one():
    from conversations.services.state import Actor, conversation_apply_decision

    conversation = ConversationFactory(state=State.TRIAGE)
    stale = Conversation.objects.get(pk=conversation.pk)
    conversation_apply_decision(
        conversation_id=conversation.pk, target_state=State.ANSWERING, actor=Actor.bot(), reason="test"
    )
    stale.refresh_from_db(fields=["last_activity_at"])
    assert stale.state == State.TRIAGE
    stale.refresh_from_db(fields=["state"])
    assert stale.state == State.ANSWERING
    conversation_apply_decision(
        conversation_id=conversation.pk, target_state=State.QUALIFYING, actor=Actor.bot(), reason="test"
    )
    stale.refresh_from_db()
    assert stale.state == State.QUALIFYING
    with pytest.raises(AttributeError):
        stale.state = State.TRIAGE


@pytest.mark.django_db(transaction=True)
def test_reloading_in_many_threads_never_trips_the_protection():
    """django-fsm's mixin flips a flag shared by every instance; ours touches only the instance reloaded."""
    import threading

    from django.db import connection

    errors: list[BaseException] = []
    start = threading.Barrier(6, timeout=30)

    def reload_many(conversation_id: int) -> None:
        try:
            start.wait()
            conversation = Conversation.objects.get(pk=conversation_id)
            for _ in range(50):
                conversation.refresh_from_db()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    ids = [ConversationFactory().pk for _ in range(6)]
    threads = [threading.Thread(target=reload_many, args=(pk,)) for pk in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    Conversation.objects.filter(pk__in=ids).delete()
