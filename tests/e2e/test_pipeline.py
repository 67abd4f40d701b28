"""A signed webhook in, exactly one valid reply out — through the real worker, SDK, client and fakes."""

import threading
from io import StringIO

import pytest
from django.core.management import call_command

from conversations.models import Conversation, DeadLetter, Message, TransitionDecision
from conversations.selectors import run_timeline
from llm.models import LLMCall
from pyloto.pipeline.sweeper import pipeline_sweep
from pyloto.resilience.breaker import breaker_record_failure, breaker_state, llm_breaker
from pyloto.whatsapp import simulator
from tests.support import E2E_TIMEOUT_S, post_webhook, say, scripted, sent_texts, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def replies_answered():
    return Message.objects.filter(direction="in", status__in=["answered", "handed_off"]).count()


def test_one_webhook_gets_exactly_one_valid_reply_with_parallel_llm_calls(worker, demo_release, llm_on, fake_graph):
    # Task 2 and task 3 are answered only once both are in flight together: they must run in parallel.
    # The hold gives up well before LLM_TIMEOUT_S, so a serial pipeline fails on a 400 naming the counts.
    llm_on.configure(hold_in_flight=2, hold_schema_names=["ReplyDraft", "MessageTypeChoice"], hold_timeout_s=15)
    llm_on.script(
        [
            scripted(
                "StateDecision",
                {"target_state": "answering", "reason": "asks about services", "customer_wants_human": False},
            ),
            scripted("ReplyDraft", {"text": "Oferecemos consultoria e automação de atendimento."}),
            scripted(
                "MessageTypeChoice",
                {
                    "message_type": "BUTTON",
                    "buttons": [
                        {"id": "mais", "title": "Quero saber mais"},
                        {"id": "preco", "title": "Falar de valores agora"},
                    ],
                    "list_button_label": "",
                    "list_rows": [],
                    "media": None,
                    "reason": "two next steps",
                },
            ),
        ]
    )
    correlation_id = say("Quais serviços vocês oferecem?")

    sent = fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    calls = {r["schema_name"]: r for r in llm_on.requests()}
    assert {name: call["status"] for name, call in calls.items()} == dict.fromkeys(
        ["StateDecision", "ReplyDraft", "MessageTypeChoice"], 200
    ), calls
    assert len(sent) == 1
    reply = sent[0]
    assert reply["type"] == "interactive"
    assert reply["interactive"]["body"]["text"] == "Oferecemos consultoria e automação de atendimento."
    titles = [b["reply"]["title"] for b in reply["interactive"]["action"]["buttons"]]
    assert titles == ["Quero saber mais", "Falar de valores…"]  # clipped on a word to WhatsApp's 20 characters
    # The read receipt with typing indicator went out too.
    assert any(r["json"].get("typing_indicator") == {"type": "text"} for r in fake_graph.requests(kind="read"))

    # Task 2 and task 3 ran in parallel (the hold let them through); task 1 came first.
    reply_call, type_call = calls["ReplyDraft"], calls["MessageTypeChoice"]
    assert reply_call["received_at"] < type_call["responded_at"]
    assert type_call["received_at"] < reply_call["responded_at"]
    assert calls["StateDecision"]["responded_at"] <= min(reply_call["received_at"], type_call["received_at"])

    conversation = Conversation.objects.get()
    assert conversation.state == "answering"
    decision = TransitionDecision.objects.get(conversation=conversation, outcome="applied")
    assert decision.actor_kind == "bot"
    assert decision.reason == "asks about services"
    assert decision.correlation_id == correlation_id

    recorded = LLMCall.objects.filter(conversation=conversation)
    assert sorted(recorded.values_list("task", flat=True)) == ["choose_message_type", "decide_state", "write_reply"]
    assert all(call.outcome == "ok" and call.tokens_in > 0 and call.release_number >= 1 for call in recorded)
    outbound = wait_until(lambda: Message.objects.filter(direction="out", status="sent").first())
    assert outbound.provider == "openai"
    assert outbound.wamid.startswith("wamid.")
    assert Message.objects.get(direction="in").status == "answered"

    # The run's timeline, as on-call reads it with `manage.py run_timeline`.
    events = [event.what for event in run_timeline(run_key=outbound.run_key)]
    assert events[0] == "webhook stored"
    assert events[1:3] == ["decide_state started", "decide_state finished"]
    assert set(events[3:7]) == {
        "write_reply started",
        "write_reply finished",
        "choose_message_type started",
        "choose_message_type finished",
    }
    assert events[7:] == ["state decision", "reply finalized", "reply sent"]
    out = StringIO()
    call_command("run_timeline", wamid=Message.objects.get(direction="in").wamid, stdout=out)
    assert "reply sent" in out.getvalue() and outbound.run_key in out.getvalue()


def test_a_burst_of_three_messages_is_answered_by_one_reply_covering_all(worker, demo_release, llm_on, fake_graph):
    llm_on.configure(latency_ms=400)
    for text in ("Oi", "queria saber", "quanto custa a consultoria?"):
        say(text, wa_id="5511900000042")
    wait_until(lambda: Message.objects.filter(direction="in", status="answered").count() == 3)
    wait_until(lambda: fake_graph.sent_messages())
    replies = Message.objects.filter(direction="out")
    # Runs are serialised per conversation: the first may answer "Oi" alone, the next covers the rest;
    # what must never happen is one reply per fragment.
    assert replies.count() <= 2
    last_prompt = [r for r in llm_on.requests() if r["schema_name"] == "StateDecision"][-1]
    prompt = " ".join(m["content"] for m in last_prompt["messages"])
    assert "quanto custa a consultoria?" in prompt
    assert "queria saber" in prompt


def test_a_redelivered_message_is_never_answered_twice(worker, demo_release, llm_on, fake_graph):
    body = simulator.text_webhook(text="Qual o horário de atendimento?", wa_id="5511900000077", wamid="wamid.SAME")
    post_webhook(body)
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    post_webhook(body)
    post_webhook(body)
    wait_until(lambda: not Message.objects.filter(direction="in", status__in=["received", "processing"]).exists())
    assert Message.objects.filter(direction="in").count() == 1
    assert len(fake_graph.sent_messages()) == 1


def test_llm_server_errors_are_retried_then_the_offline_fallback_answers(
    worker, demo_release, llm_on, fake_graph, monkeypatch
):
    from llm.tasks import decide_state

    monkeypatch.setattr(decide_state, "max_retries", 1)
    llm_on.script([scripted("StateDecision", {"error": "boom"}, status=500, repeat=True)])
    say("Qual o horário de atendimento?", wa_id="5511900000101")
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    decisions = [r for r in llm_on.requests() if r["schema_name"] == "StateDecision"]
    assert len(decisions) == 2  # first try + one Celery retry
    outbound = Message.objects.get(direction="out")
    assert outbound.provider == "offline"
    assert LLMCall.objects.get(task="decide_state").outcome == "transient_error"
    assert Message.objects.get(direction="in").status in {"answered", "handed_off"}


def test_invalid_output_is_re_asked_once_then_the_fallback_answers(worker, demo_release, llm_on, fake_graph):
    llm_on.script([scripted("ReplyDraft", "this is not json", repeat=True)])
    say("Qual o horário de atendimento?", wa_id="5511900000102")
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    assert len([r for r in llm_on.requests() if r["schema_name"] == "ReplyDraft"]) == 2
    assert Message.objects.get(direction="out").provider == "offline"
    assert LLMCall.objects.get(task="write_reply").outcome == "invalid_output"


def test_a_chord_header_crash_is_answered_by_the_error_callback(worker, demo_release, llm_on, fake_graph, monkeypatch):
    import llm.calls

    def crash(*args, **kwargs):
        raise RuntimeError("worker bug in choose_message_type")

    monkeypatch.setattr(llm.calls, "choose_message_type_call", crash)
    say("Vocês trabalham aos sábados?", wa_id="5511900000103")
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    wait_until(lambda: not Message.objects.filter(direction="in", status__in=["received", "processing"]).exists())
    assert Message.objects.filter(direction="out").count() == 1
    assert Message.objects.get(direction="out").provider == "offline"


def test_an_open_breaker_routes_runs_straight_to_the_fallback(worker, demo_release, llm_on, fake_graph):
    breaker = llm_breaker()
    for _ in range(breaker.fail_max):
        breaker_record_failure(breaker, __import__("llm.errors").errors.LLMTransientError("down", code=503))
    assert breaker_state(breaker) == "open"
    say("Qual o horário de atendimento?", wa_id="5511900000104")
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    assert llm_on.requests() == []
    assert Message.objects.get(direction="out").provider == "offline"


def test_the_breaker_opens_after_repeated_llm_failures(worker, demo_release, llm_on, fake_graph, monkeypatch):
    from llm.tasks import decide_state

    monkeypatch.setattr(decide_state, "max_retries", 0)
    llm_on.script([scripted("StateDecision", {"error": "down"}, status=503, repeat=True)])
    breaker = llm_breaker()
    for index in range(breaker.fail_max):
        say("Qual o horário?", wa_id=f"55119000002{index:02d}")
        fake_graph.wait_for_sent(index + 1, timeout_s=E2E_TIMEOUT_S)
    assert breaker_state(breaker) == "open"
    calls_before = len(llm_on.requests())
    say("Qual o horário?", wa_id="5511900000299")
    fake_graph.wait_for_sent(breaker.fail_max + 1, timeout_s=E2E_TIMEOUT_S)
    assert len(llm_on.requests()) == calls_before


def test_asking_for_a_person_hands_off_and_the_bot_then_stays_silent(worker, demo_release, llm_on, fake_graph):
    say("Quero falar com um atendente", wa_id="5511900000105")
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    conversation = Conversation.objects.get()
    assert conversation.state == "handoff_requested"
    assert Message.objects.get(direction="in").status == "handed_off"
    say("alô? tem alguém aí?", wa_id="5511900000105")
    wait_until(lambda: Message.objects.filter(direction="in", status="handed_off").count() == 2)
    assert len(fake_graph.sent_messages()) == 1
    # The deterministic rule needs no LLM to answer; only the staff's handoff summary may ask it.
    assert [r for r in llm_on.requests() if r["schema_name"] != "HandoffSummaryDraft"] == []


def test_the_offline_provider_answers_end_to_end_with_no_api_key(worker, demo_release, fake_graph, settings):
    settings.OPENAI_API_KEY = ""
    say("Oi", wa_id="5511900000106")
    greeting = fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)[0]
    assert greeting["type"] == "interactive"
    first_topic = greeting["interactive"]["action"]["buttons"][0]["reply"]
    post_webhook(
        simulator.webhook_body(
            messages=[
                simulator.message_element(
                    kind="button_reply", text=first_topic["title"], reply_id=first_topic["id"], wa_id="5511900000106"
                )
            ],
            contacts=[simulator.contact_element(wa_id="5511900000106")],
        )
    )
    answer = fake_graph.wait_for_sent(2, timeout_s=E2E_TIMEOUT_S)[1]
    assert answer["type"] == "text" and len(answer["text"]["body"]) > 20
    assert set(Message.objects.filter(direction="out").values_list("provider", flat=True)) == {"offline"}
    assert Conversation.objects.get().state == "answering"


def test_a_reply_breaking_a_constraint_is_never_sent(worker, demo_release, llm_on, fake_graph):
    llm_on.script(
        [
            scripted("ReplyDraft", {"text": "Perfeito, seu contrato está fechado! Parabéns."}),
        ]
    )
    say("Então fechamos?", wa_id="5511900000107")
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    texts = sent_texts(fake_graph)
    assert all("contrato está fechado" not in text for text in texts)
    from institutional.models import GuardViolation
    from institutional.selectors import current_release

    assert GuardViolation.objects.get().constraint_slug == "no-contract-closure"
    safe_text = next(c.safe_replacement for c in current_release().constraints if c.slug == "no-contract-closure")
    # The constraint's own safe text, as the admin's tester shows it (out of hours the handoff adds the
    # next opening as a last paragraph).
    assert len(texts) == 1 and texts[0].split("\n\n")[0] == safe_text
    assert Conversation.objects.get().state == "handoff_requested"


def test_transient_send_errors_are_retried_and_permanent_ones_dead_lettered(worker, demo_release, fake_graph, settings):
    settings.OPENAI_API_KEY = ""
    fake_graph.configure(script=[None, 130429])  # read receipt ok, first send rate-limited, then fine
    say("Qual o horário de atendimento?", wa_id="5511900000108")
    wait_until(lambda: Message.objects.filter(direction="out", status="sent").exists())
    assert Message.objects.get(direction="out").send_attempts == 2

    fake_graph.configure(script=[None, 131026])  # undeliverable: permanent
    say("Qual o horário de atendimento?", wa_id="5511900000109")
    dead = wait_until(lambda: DeadLetter.objects.first())
    assert dead.stage == "send" and dead.error_code == "131026"
    failed = Message.objects.get(direction="out", status="failed")
    assert Message.objects.get(direction="in", run_key=failed.run_key).status == "dead_lettered"


def test_the_sweeper_re_drives_a_message_whose_task_was_lost(worker, demo_release, fake_graph, settings, monkeypatch):
    settings.OPENAI_API_KEY = ""
    import pyloto.pipeline.dispatch as dispatch

    lost = threading.Event()

    def lose(*args, **kwargs):
        lost.set()
        return False

    monkeypatch.setattr(dispatch, "_enqueue", lose)  # the broker "lost" the run's tasks
    say("Qual o horário de atendimento?", wa_id="5511900000110")
    # The worker reads the stored element, then its follow-ups are lost.
    assert lost.wait(timeout=E2E_TIMEOUT_S)
    message = Message.objects.get(direction="in")
    assert message.status == "received"
    monkeypatch.undo()
    settings.SWEEP_REDRIVE_AFTER_S = 0
    counts = pipeline_sweep()
    assert counts["runs_redriven"] == 1
    fake_graph.wait_for_sent(1, timeout_s=E2E_TIMEOUT_S)
    wait_until(lambda: Message.objects.get(pk=message.pk).status == "answered")
