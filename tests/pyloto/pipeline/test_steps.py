"""The pipeline's steps as plain functions: launch and finalize return what they did and enqueue nothing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Contact, Conversation, Message
from conversations.services.runs import run_begin
from conversations.states import State
from institutional.builtin import builtin_snapshot
from llm import prompts, tasks
from llm.client import response_format_of
from llm.models import LLMCall
from llm.schemas import MessageTypeChoice, StateDecision
from pyloto.pipeline import dispatch
from pyloto.pipeline.finalize import run_finalize, run_recover
from pyloto.pipeline.run import RunStep, run_launch
from pyloto.queues import Queue
from tests.factories import ConversationFactory, MessageFactory
from tests.support import llm_payload, queued_tasks

pytestmark = pytest.mark.django_db

DECISION = {"target_state": State.ANSWERING.value, "reason": "pergunta de preço", "customer_wants_human": False}


def nothing_queued() -> bool:
    return all(not queued_tasks(queue) for queue in Queue)


def chord_parts(*, text: str = "O plano Essencial custa a partir do que está na página de planos.") -> list[dict]:
    now = timezone.now().timestamp()
    call = {
        "task": "decide_state",
        "outcome": "ok",
        "provider": "openai",
        "model": "m",
        "prompt_version": "v",
        "started_at": now,
        "finished_at": now,
    }
    decision = {"output": DECISION, "call": call}
    return [
        {
            "part": "reply",
            "result": {"output": {"text": text}, "call": {**call, "task": "write_reply"}},
            "decision": decision,
        },
        {"part": "choice", "result": None},
    ]


def waiting_conversation(*texts: str, state: str = State.ANSWERING) -> Conversation:
    conversation = ConversationFactory(state=state)
    for text in texts:
        MessageFactory(conversation=conversation, text=text)
    return conversation


# --- launch ----------------------------------------------------------------------------------------


def test_launch_prepares_the_canvas_payload_naming_the_release_instead_of_carrying_its_context(fake_openai):
    conversation = waiting_conversation("Oi", "Quanto custa o plano Essencial?")

    step = run_launch(conversation_id=conversation.pk)

    assert step.outcome == "launched" and step.payload is not None
    assert "context" not in step.payload
    assert step.payload["release_token"].startswith(f"{step.payload['release_number']}:")
    assert [m["text"] for m in step.payload["messages"] if m.get("unanswered")] == [
        "Oi",
        "Quanto custa o plano Essencial?",
    ]
    newest = Message.objects.filter(conversation=conversation).order_by("-created_at", "-pk").first()
    assert (step.read_receipt.message_id, step.read_receipt.wamid) == (newest.pk, newest.wamid)
    assert step.read_receipt.contact_opted_out is False
    assert set(Message.objects.filter(conversation=conversation).values_list("status", flat=True)) == {"processing"}
    assert nothing_queued()  # the step only says what follows; dispatch enqueues it


def message_reads(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith("SELECT") and 'FROM "conversations_message"' in q["sql"]]


def test_the_claim_hands_the_run_its_messages_so_launch_reads_no_second_copy(fake_openai):
    conversation = waiting_conversation("Oi", "Quanto custa o plano Essencial?")

    with CaptureQueriesContext(connection) as queries:
        step = run_launch(conversation_id=conversation.pk)

    assert step.outcome == "launched"
    # What is still read is the conversation's earlier exchanges (and the quiet window's two dates), not the run's rows.
    assert not [sql for sql in message_reads(queries.captured_queries) if '"conversations_message"."raw"' in sql]
    lease_messages = run_begin(conversation_id=waiting_conversation("Olá").pk).messages
    assert [(m.text, m.status, m.raw) for m in lease_messages] == [
        (m.text, m.status, m.raw) for m in Message.objects.filter(pk__in=[m.pk for m in lease_messages])
    ]
    assert lease_messages[0].status == Message.Status.PROCESSING and isinstance(lease_messages[0].raw, dict)


def test_launch_without_an_llm_answers_offline_and_ends_the_run():
    conversation = waiting_conversation("Quais serviços vocês oferecem?")

    step = run_launch(conversation_id=conversation.pk)

    assert step.outcome == "answered_offline" and step.ended and step.payload is None
    assert step.finalized is not None and step.finalized.message.status == Message.Status.PENDING
    assert (
        Message.objects.get(conversation=conversation, direction=Message.Direction.INBOUND).status
        == Message.Status.ANSWERED
    )
    assert Conversation.objects.get(pk=conversation.pk).run_token is None
    assert nothing_queued()


def test_a_lone_message_starts_its_run_at_once_whatever_the_window(settings):
    settings.BURST_QUIET_MS = 60_000
    conversation = waiting_conversation("Oi")

    assert run_launch(conversation_id=conversation.pk).outcome == "answered_offline"


def test_a_burst_waits_for_the_quiet_window_and_takes_no_lease(settings):
    settings.BURST_QUIET_MS = 60_000
    conversation = waiting_conversation("Oi", "tudo bem?")

    step = run_launch(conversation_id=conversation.pk)

    assert step.outcome == "waiting" and 53 < step.wait_s <= 60
    assert Conversation.objects.get(pk=conversation.pk).run_token is None
    assert set(Message.objects.filter(conversation=conversation).values_list("status", flat=True)) == {"received"}


def test_a_burst_starts_once_its_newest_message_is_older_than_the_window(settings):
    settings.BURST_QUIET_MS = 500
    conversation = waiting_conversation("Oi", "tudo bem?")
    Message.objects.filter(conversation=conversation).update(created_at=timezone.now() - timedelta(seconds=1))

    step = run_launch(conversation_id=conversation.pk)

    assert step.outcome == "answered_offline"
    assert set(
        Message.objects.filter(conversation=conversation, direction=Message.Direction.INBOUND).values_list(
            "status", flat=True
        )
    ) == {"answered"}


def test_launch_leaves_a_conversation_another_run_holds():
    conversation = waiting_conversation("Oi")
    assert run_begin(conversation_id=conversation.pk) is not None
    MessageFactory(conversation=conversation, text="tem alguém aí?")

    step = run_launch(conversation_id=conversation.pk)

    assert step.outcome == "busy" and not step.ended and step.finalized is None


def test_launch_closes_without_a_reply_when_a_person_owns_the_conversation():
    conversation = waiting_conversation("Oi", state=State.HUMAN_ACTIVE)

    step = run_launch(conversation_id=conversation.pk)

    assert step.outcome == "handed_off" and step.ended and step.finalized is None
    assert Message.objects.get(conversation=conversation).status == Message.Status.HANDED_OFF


@pytest.mark.parametrize(
    ("opted_out", "typing"),
    [(False, {"type": "text"}), (True, None)],
    ids=["reply coming: typing", "opted out: read, no typing"],
)
def test_the_read_receipt_of_a_fixed_reply_promises_typing_only_to_a_contact_who_did_not_opt_out(
    fake_graph, opted_out, typing
):
    # The opt-out confirmation (opted out) and the opt-in welcome (not) are both replies written at launch.
    conversation = waiting_conversation("PARAR" if opted_out else "VOLTAR")
    Contact.objects.filter(pk=conversation.contact_id).update(opted_out_at=timezone.now() if opted_out else None)

    step = run_launch(conversation_id=conversation.pk)
    dispatch.run_step_follow(step)

    assert step.finalized is not None and step.finalized.message is not None
    (read,) = fake_graph.requests(kind="read")
    newest = Message.objects.filter(conversation=conversation, direction=Message.Direction.INBOUND).get()
    assert read["json"]["message_id"] == newest.wamid
    assert read["json"].get("typing_indicator") == typing


def test_the_canvas_message_names_its_run_instead_of_repeating_the_customer_s_words(fake_openai):
    conversation = waiting_conversation("Meu CPF é 123.456.789-09, quanto custa o plano?")
    step = run_launch(conversation_id=conversation.pk)

    dispatch.canvas_launch(step.payload)

    (envelope,) = queued_tasks(Queue.LLM)
    assert envelope["headers"]["task"] == "llm.tasks.decide_state"
    assert envelope["headers"]["argsrepr"] == f"(<payload of run {step.payload['run_key']}>,)"
    assert "CPF" not in str(envelope["headers"])


def test_a_waiting_step_schedules_the_run_for_when_the_window_ends():
    conversation = waiting_conversation("Oi")

    dispatch.run_step_follow(RunStep("waiting", conversation.pk, wait_s=5.0))

    (envelope,) = queued_tasks(Queue.PIPELINE)
    assert envelope["headers"]["task"] == "pyloto.pipeline.tasks.run_conversation"
    assert envelope["headers"]["eta"] is not None


# --- finalize --------------------------------------------------------------------------------------


def test_finalize_writes_one_guarded_reply_closes_the_run_and_records_the_calls():
    conversation = waiting_conversation("Quanto custa o Essencial?")
    lease = run_begin(conversation_id=conversation.pk)

    with CaptureQueriesContext(connection) as queries:
        finalized = run_finalize(
            chord_parts(), run_key=lease.token, conversation_id=conversation.pk, expected_state=State.ANSWERING
        )

    assert finalized.message is not None and not finalized.superseded
    # The reply (none yet), the run's inbound messages and any newer ones: one read of the messages, not three.
    assert len(message_reads(queries.captured_queries)) == 1
    assert finalized.message.idempotency_key == f"run:{lease.token}"
    assert (
        Message.objects.get(conversation=conversation, direction=Message.Direction.INBOUND).status
        == Message.Status.ANSWERED
    )
    assert LLMCall.objects.filter(run_key=lease.token).count() == 2
    again = run_finalize(
        chord_parts(), run_key=lease.token, conversation_id=conversation.pk, expected_state="answering"
    )
    assert again.message.pk == finalized.message.pk  # a redelivered finalize finds the reply, never a second one
    assert nothing_queued()


def test_a_message_arriving_during_the_llm_calls_supersedes_the_reply_and_the_burst_runs_again():
    conversation = waiting_conversation("Quanto custa")
    lease = run_begin(conversation_id=conversation.pk)
    later = MessageFactory(conversation=conversation, text="o plano Essencial?")

    finalized = run_finalize(
        chord_parts(), run_key=lease.token, conversation_id=conversation.pk, expected_state=State.ANSWERING
    )

    assert finalized.superseded and finalized.message is None
    assert not Message.objects.filter(conversation=conversation, direction=Message.Direction.OUTBOUND).exists()
    assert set(Message.objects.filter(conversation=conversation).values_list("status", flat=True)) == {"received"}
    assert Conversation.objects.get(pk=conversation.pk).run_token is None
    assert LLMCall.objects.filter(run_key=lease.token).count() == 2  # the spent calls are still accounted
    rerun = run_launch(conversation_id=conversation.pk)
    assert rerun.outcome == "answered_offline"
    assert {
        m.pk
        for m in Message.objects.filter(run_key=rerun.finalized.message.run_key, direction=Message.Direction.INBOUND)
    } >= {later.pk}


def test_a_run_whose_oldest_message_waited_too_long_answers_what_it_has(settings):
    settings.BURST_MAX_DELAY_S = 0
    conversation = waiting_conversation("Quanto custa")
    lease = run_begin(conversation_id=conversation.pk)
    MessageFactory(conversation=conversation, text="o plano Essencial?")

    finalized = run_finalize(
        chord_parts(), run_key=lease.token, conversation_id=conversation.pk, expected_state=State.ANSWERING
    )

    assert finalized.message is not None and not finalized.superseded
    statuses = dict(
        Message.objects.filter(conversation=conversation, direction=Message.Direction.INBOUND).values_list(
            "text", "status"
        )
    )
    assert statuses == {"Quanto custa": "answered", "o plano Essencial?": "received"}


def test_recover_answers_the_run_offline():
    conversation = waiting_conversation("Oi")
    lease = run_begin(conversation_id=conversation.pk)

    finalized = run_recover(run_key=lease.token, conversation_id=conversation.pk, expected_state=conversation.state)

    assert finalized.message is not None and finalized.message.provider == "offline"


def test_a_stale_finalize_writes_no_reply():
    conversation = waiting_conversation("Oi")
    lease = run_begin(conversation_id=conversation.pk)
    Conversation.objects.filter(pk=conversation.pk).update(run_token="someone-else")

    finalized = run_finalize(chord_parts(), run_key=lease.token, conversation_id=conversation.pk, expected_state="new")

    assert finalized.message is None and not finalized.superseded
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


# --- prompts and the LLM tasks ---------------------------------------------------------------------

HOURS_OPEN = "Atendimento humano agora: aberto."


def test_the_prompt_reads_the_context_of_the_release_the_payload_names():
    release = builtin_snapshot()
    context = prompts.run_context(llm_payload(hours_line=HOURS_OPEN))
    assert context == f"{release.prompt_context()}\n{HOURS_OPEN}"
    system = prompts.build_decide_state(llm_payload(hours_line=HOURS_OPEN))[0]["content"]
    assert release.prompt_context()[:200] in system


def test_a_release_nobody_holds_any_more_falls_back_to_the_live_one():
    payload = {**llm_payload(), "release_token": "987654:feedbeef"}
    assert prompts.run_context(payload) == builtin_snapshot().prompt_context()


def test_each_response_format_is_built_once():
    assert response_format_of(StateDecision) is response_format_of(StateDecision)
    built = response_format_of(MessageTypeChoice)
    assert built["type"] == "json_schema"
    assert built["json_schema"]["name"] == "MessageTypeChoice" and built["json_schema"]["strict"] is True


def test_the_llm_tasks_run_as_plain_calls_against_the_fake(fake_openai):
    step = tasks.decide_state.apply(args=(llm_payload(),)).get()
    assert step["payload"]["run_key"] == "r1"
    assert step["decision"]["output"]["target_state"] in {"new", "triage", "answering"}
    reply = tasks.write_reply.apply(args=(step,)).get()
    choice = tasks.choose_message_type.apply(args=(step,)).get()
    assert reply["part"] == "reply" and reply["result"]["output"]["text"]
    assert choice["part"] == "choice" and choice["result"]["output"]["message_type"]
    assert len(fake_openai.requests()) == 3


def test_the_header_tasks_skip_their_call_when_the_decision_failed(fake_openai):
    failed = {
        "payload": llm_payload(),
        "decision": {"output": None, "call": {"outcome": "permanent_error"}},
    }
    assert tasks.write_reply.apply(args=(failed,)).get()["result"] is None
    assert tasks.choose_message_type.apply(args=(failed,)).get()["result"] is None
    assert fake_openai.requests() == []
