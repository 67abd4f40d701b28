"""Images, documents and quoted replies end to end: what the LLM is shown, and what the customer gets."""

import pytest

from conversations.models import Conversation, Message
from pyloto.pipeline.run import DOCUMENT_RECEIVED, DOCUMENT_RECEIVED_HANDOFF
from pyloto.whatsapp import simulator
from tests.support import inbound_settled, post_webhook, say, scripted, sent_texts, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
JPEG = b"\xff\xd8\xff\xe0fake-jpeg"


def send_media(fake_graph, kind: str, *, wa_id: str, caption: str = "", filename: str = "") -> None:
    mime = {"image": "image/jpeg", "document": "application/pdf"}[kind]
    media_id = fake_graph.add_media(JPEG, mime_type=mime)
    element = simulator.message_element(kind=kind, text=caption, media_id=media_id, wa_id=wa_id)
    if filename:
        element[kind]["filename"] = filename
    post_webhook(simulator.webhook_body(messages=[element], contacts=[simulator.contact_element(wa_id=wa_id)]))


def requests_for(llm, schema_name: str) -> list[dict]:
    return [r for r in llm.requests() if r.get("schema_name") == schema_name]


def test_with_a_vision_model_the_image_goes_to_the_decision_and_the_reply(
    worker, demo_release, llm_on, fake_graph, settings
):
    settings.LLM_VISION_MODEL = "fake-vision-model"
    send_media(fake_graph, "image", wa_id="5511900000901", caption="Esse modelo tem em azul?")
    fake_graph.wait_for_sent(1, timeout_s=60)
    decide = requests_for(llm_on, "StateDecision")[0]
    assert decide["model"] == "fake-vision-model"
    parts = decide["messages"][1]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert "[o cliente enviou uma imagem] Esse modelo tem em azul?" in decide["messages"][0]["content"]
    assert requests_for(llm_on, "ReplyDraft")[0]["model"] == "fake-vision-model"
    choose = requests_for(llm_on, "MessageTypeChoice")[0]
    assert choose["model"] != "fake-vision-model" and isinstance(choose["messages"][1]["content"], str)


def test_without_a_vision_model_the_prompt_only_says_an_image_was_sent(worker, demo_release, llm_on, fake_graph):
    send_media(fake_graph, "image", wa_id="5511900000902")
    fake_graph.wait_for_sent(1, timeout_s=60)
    decide = requests_for(llm_on, "StateDecision")[0]
    assert isinstance(decide["messages"][1]["content"], str)
    assert "Cliente [sem resposta]: [o cliente enviou uma imagem]" in decide["messages"][0]["content"]


def test_a_document_is_acknowledged_and_handed_to_staff_while_qualifying(worker, demo_release, fake_graph, settings):
    settings.OPENAI_API_KEY = ""
    send_media(fake_graph, "document", wa_id="5511900000903", filename="contrato.pdf")
    fake_graph.wait_for_sent(1, timeout_s=60)
    assert sent_texts(fake_graph) == [DOCUMENT_RECEIVED]
    conversation = Conversation.objects.get()
    state_before = conversation.state
    Conversation.objects.filter(pk=conversation.pk).update(state="qualifying")
    send_media(fake_graph, "document", wa_id="5511900000903", filename="proposta.pdf")
    fake_graph.wait_for_sent(2, timeout_s=60)
    # Out of hours the handoff also says when a person answers (the note follows the fixed text).
    assert sent_texts(fake_graph)[1].startswith(DOCUMENT_RECEIVED_HANDOFF)
    wait_until(lambda: inbound_settled(2))
    conversation.refresh_from_db()
    assert state_before != "handoff_requested" and conversation.state == "handoff_requested"
    assert Message.objects.filter(direction="in", status="handed_off").count() == 1


def test_a_reply_to_an_earlier_message_puts_the_quoted_text_in_the_prompt(worker, demo_release, llm_on, fake_graph):
    llm_on.script([scripted("ReplyDraft", {"text": "Temos consultoria e automação."})])
    say("Quais serviços vocês têm?", wa_id="5511900000904")
    fake_graph.wait_for_sent(1, timeout_s=60)
    wamid = wait_until(
        lambda: Message.objects.filter(direction="out").exclude(wamid=None).values_list("wamid", flat=True).first()
    )
    element = simulator.message_element(text="Quero esse primeiro", wa_id="5511900000904", context_id=wamid)
    post_webhook(
        simulator.webhook_body(messages=[element], contacts=[simulator.contact_element(wa_id="5511900000904")])
    )
    fake_graph.wait_for_sent(2, timeout_s=60)
    decide = requests_for(llm_on, "StateDecision")[-1]
    assert '[respondendo a: "Temos consultoria e automação."] Quero esse primeiro' in decide["messages"][0]["content"]
