"""The red-team corpus through the whole stack: a hostile fake LLM, the real worker, the real guard, the ledger.

The fake OpenAI server answers each customer's message with one corpus reply (and its buttons), exactly as
a hostile but schema-valid model would. What the fake Graph API received is what the customer read.
A sample runs in `make test`; the whole corpus with `make redteam` (marker `redteam`), which prints the
leaks by category and language and the false-block rate.
"""

import json
import sys
from collections import Counter

import pytest

from benchmarks.redteam.__main__ import MAX_FALSE_BLOCK_RATE, table
from benchmarks.redteam.corpus import Case, benign_cases, hostile_cases
from conversations.models import Message
from institutional.guard import check_reply
from institutional.models import GuardViolation
from institutional.selectors import current_release
from tests.support import say, scripted, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

_GREETING = {"pt": "Olá, tenho uma dúvida", "en": "Hi, I have a question", "es": "Hola, tengo una duda"}
SAMPLE_EVERY = 20


def _script_for(case: Case, ref: str) -> list[dict]:
    if case.labels:
        choice = {
            "message_type": "BUTTON",
            "buttons": [{"id": f"b{index}", "title": label} for index, label in enumerate(case.labels)],
            "list_button_label": "",
            "list_rows": [],
            "media": None,
            "reason": "options",
        }
    else:
        choice = {
            "message_type": "TEXT",
            "buttons": [],
            "list_button_label": "",
            "list_rows": [],
            "media": None,
            "reason": "plain text",
        }
    decision = {"target_state": "answering", "reason": "answers a question", "customer_wants_human": False}
    return [
        scripted("StateDecision", decision, match={"schema_name": "StateDecision", "contains": ref}),
        scripted("ReplyDraft", {"text": case.body}, match={"schema_name": "ReplyDraft", "contains": ref}),
        scripted("MessageTypeChoice", choice, match={"schema_name": "MessageTypeChoice", "contains": ref}),
    ]


def _delivered(payload: dict) -> tuple[str, list[str]]:
    """(body, labels) of a message the fake Graph API accepted: what the customer read."""
    if payload["type"] == "text":
        return payload["text"]["body"], []
    interactive = payload["interactive"]
    labels = [button["reply"]["title"] for button in interactive.get("action", {}).get("buttons", [])]
    return interactive["body"]["text"], labels


STALL_S = 180


def _sends_accepted(fake_graph) -> int:
    # The fake's counters, not its records: fetching and decoding every record on each poll cost the test
    # process (where the worker's threads run too) more than the pipeline itself as the run grew.
    return sum(count for name, count in fake_graph.stats().items() if name.startswith("sent_"))


def _wait_for_every_delivery(fake_graph, expected: int) -> None:
    """Until every case was delivered, as long as deliveries keep coming: a loaded machine only slows the run,
    while a stall (nothing new for `STALL_S`) fails loudly with how far it got."""
    delivered = -1
    while delivered < expected:
        before = delivered
        try:
            wait_until(lambda: _sends_accepted(fake_graph) > before, timeout=STALL_S, interval=0.5)
        except AssertionError:
            raise AssertionError(f"deliveries stalled at {delivered}/{expected} for {STALL_S} s") from None
        delivered = _sends_accepted(fake_graph)


def _run(cases: list[Case], llm_on, fake_graph) -> dict:
    llm_on.configure(latency_ms=0)
    refs = {}
    for number, case in enumerate(cases):
        ref = f"ref-{number:04d}"
        refs[f"55119{number:08d}"] = (case, ref)
        llm_on.script(_script_for(case, ref))
    for wa_id, (case, ref) in refs.items():
        say(f"{_GREETING[case.language]} ({ref})", wa_id=wa_id)
    _wait_for_every_delivery(fake_graph, len(cases))
    sent = {payload["to"]: payload for payload in fake_graph.sent_messages()}
    release = current_release()
    leaks, unrecorded, false_blocks = [], [], []
    for wa_id, (case, _ref) in refs.items():
        body, labels = _delivered(sent[wa_id])
        recorded = GuardViolation.objects.filter(conversation__contact__wa_id=wa_id).exists()
        if case.hostile:
            if not check_reply(release=release, text=body, labels=labels).allowed or body == case.body:
                leaks.append(case)
            if not recorded:
                unrecorded.append(case)
        elif recorded or body != case.body:
            false_blocks.append(case)
    hostile = [case for case in cases if case.hostile]
    benign = [case for case in cases if not case.hostile]
    return {
        "hostile": hostile,
        "benign": benign,
        "leaks": leaks,
        "unrecorded": unrecorded,
        "false_blocks": false_blocks,
        "violations_sent": sum(
            not check_reply(release=release, text=m.text).allowed
            for m in Message.objects.filter(direction=Message.Direction.OUTBOUND)
        ),
    }


def _report(result: dict) -> str:
    def key(case: Case) -> tuple[str, str]:
        return (case.category, case.language)

    lines = [
        "Whole pipeline (fake LLM returning the corpus, real worker, fake Graph API):",
        table(
            "Leaks reaching the customer, by category and language:",
            Counter(map(key, result["leaks"])),
            Counter(map(key, result["hostile"])),
        ),
        table("False blocks:", Counter(map(key, result["false_blocks"])), Counter(map(key, result["benign"]))),
    ]
    lines.extend(f"  LEAK [{c.category}/{c.language}/{c.trick}] {c.text}" for c in result["leaks"])
    lines.extend(f"  NOT IN THE LEDGER [{c.category}/{c.language}] {c.text}" for c in result["unrecorded"])
    lines.extend(f"  FALSE BLOCK [{c.category}/{c.language}] {c.text}" for c in result["false_blocks"])
    figures = {
        "benchmark": "redteam_pipeline",
        "hostile": len(result["hostile"]),
        "benign": len(result["benign"]),
        "leaks": len(result["leaks"]),
        "hostile_not_in_ledger": len(result["unrecorded"]),
        "false_blocks": len(result["false_blocks"]),
        "false_block_rate": round(len(result["false_blocks"]) / max(len(result["benign"]), 1), 4),
        "violations_sent": result["violations_sent"],
    }
    lines.append(json.dumps(figures))
    return "\n".join(lines) + "\n"


def _assert_met(result: dict) -> None:
    assert [case.text for case in result["leaks"]] == []
    assert [case.text for case in result["unrecorded"]] == []
    assert result["violations_sent"] == 0
    assert len(result["false_blocks"]) / max(len(result["benign"]), 1) <= MAX_FALSE_BLOCK_RATE, [
        case.text for case in result["false_blocks"]
    ]


def test_a_sample_of_the_corpus_through_the_whole_pipeline(worker, demo_release, llm_on, fake_graph):
    cases = hostile_cases()[::SAMPLE_EVERY] + benign_cases()[::SAMPLE_EVERY]
    _assert_met(_run(cases, llm_on, fake_graph))


@pytest.mark.redteam
def test_the_whole_corpus_through_the_whole_pipeline(worker, demo_release, llm_on, fake_graph):
    result = _run(hostile_cases() + benign_cases(), llm_on, fake_graph)
    sys.stdout.write(_report(result))
    _assert_met(result)
