"""At handoff the LLM writes the staff's summary; without it, or when it fails, the inbox builds one."""

import pytest
from django.urls import reverse

from conversations.models import Conversation, HandoffSummary
from conversations.services.handoff import handoff_summary_payload, handoff_summary_store
from conversations.services.state import Actor, conversation_request_handoff
from conversations.states import Perm, State
from llm.models import LLMCall
from pyloto.pipeline.dispatch import handoff_summary_enqueue
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.support import E2E_TIMEOUT_S, say, scripted, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SUMMARY = {
    "customer_wants": "Quer contratar o plano empresarial para 40 atendentes.",
    "bot_said": "Explicou os planos e pediu o tamanho da equipe.",
    "why": "O cliente pediu para falar com uma pessoa.",
}


def test_a_handoff_gets_the_llms_summary_which_the_inbox_shows(worker, demo_release, llm_on, fake_graph, client):
    llm_on.script([scripted("HandoffSummaryDraft", SUMMARY)])
    say("Quero falar com um atendente", wa_id="5511900000777")
    summary = wait_until(lambda: HandoffSummary.objects.first(), timeout=E2E_TIMEOUT_S)
    conversation = Conversation.objects.get()
    assert conversation.state == State.HANDOFF_REQUESTED and summary.conversation == conversation
    assert summary.customer_wants == SUMMARY["customer_wants"]
    prompt = next(r for r in llm_on.requests() if r["schema_name"] == "HandoffSummaryDraft")
    assert "Quero falar com um atendente" in " ".join(m["content"] for m in prompt["messages"])
    assert LLMCall.objects.filter(task="summarize_handoff", outcome="ok", conversation=conversation).exists()

    client.force_login(UserFactory(permissions=["inbox.use_inbox", Perm.HANDLE]))
    page = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert 'data-source="llm"' in page and SUMMARY["bot_said"] in page


def test_a_failed_summary_call_is_recorded_and_the_timeline_summary_stands_in(worker, llm_on, client):
    llm_on.script([scripted("HandoffSummaryDraft", {"error": "bad"}, status=400)])
    conversation = ConversationFactory(state=State.ANSWERING)
    MessageFactory(conversation=conversation, text="Preciso de ajuda com a fatura", status="answered")
    conversation_request_handoff(conversation_id=conversation.pk, actor=Actor.bot(), reason="pediu uma pessoa")
    assert handoff_summary_enqueue(conversation_id=conversation.pk)
    wait_until(lambda: LLMCall.objects.filter(task="summarize_handoff").exists(), timeout=E2E_TIMEOUT_S)
    assert LLMCall.objects.get(task="summarize_handoff").outcome == "permanent_error"
    assert not HandoffSummary.objects.exists()
    client.force_login(UserFactory(permissions=["inbox.use_inbox", Perm.HANDLE]))
    page = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert 'data-source="timeline"' in page and "Preciso de ajuda com a fatura" in page


def test_without_an_llm_nothing_is_asked_and_a_stored_summary_is_never_asked_twice(settings):
    settings.OPENAI_API_KEY = ""
    conversation = ConversationFactory(state=State.ANSWERING)
    conversation_request_handoff(conversation_id=conversation.pk, actor=Actor.bot(), reason="pediu")
    assert handoff_summary_enqueue(conversation_id=conversation.pk) is False
    payload = handoff_summary_payload(conversation_id=conversation.pk)
    stored = handoff_summary_store(
        conversation_id=conversation.pk, decision_id=payload["decision_id"], result={"output": SUMMARY, "call": None}
    )
    again = handoff_summary_store(
        conversation_id=conversation.pk, decision_id=payload["decision_id"], result={"output": SUMMARY, "call": None}
    )
    assert stored.pk == again.pk and HandoffSummary.objects.count() == 1
    assert handoff_summary_payload(conversation_id=conversation.pk) is None
