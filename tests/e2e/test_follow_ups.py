"""Follow-ups scheduled from the inbox reach the Graph fake: the mapped template outside the window, on time."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.models import Message, MessageTemplate
from conversations.states import Perm, State
from pyloto.pipeline.sweeper import pipeline_sweep
from tests.factories import ContactFactory, ConversationFactory, UserFactory
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FOLLOW_UP_BODY = "Olá, {{1}}! Aqui é a equipe da {{2}}: {{3}}"


@pytest.fixture
def agent(client):
    user = UserFactory(staff=True, permissions=["inbox.use_inbox", Perm.HANDLE, "conversations.view_conversation"])
    client.force_login(user)
    return user


@pytest.fixture
def follow_up_template():
    return MessageTemplate.objects.create(
        name="retomada_contato",
        language="pt_BR",
        status=MessageTemplate.Status.APPROVED,
        components=[{"type": "BODY", "text": FOLLOW_UP_BODY}],
        parameter_sources=["contact_name", "company_name", "message_text"],
        purpose="follow_up",
    )


def waited_past_the_window():
    """Asked for a person on Friday night; nobody answered before the 24-hour window closed."""
    return ConversationFactory(
        contact=ContactFactory(wa_id="5511966660001", profile_name="Joana"),
        state=State.HANDOFF_REQUESTED,
        last_inbound_at=timezone.now() - timedelta(hours=60),
        handoff_requested_at=timezone.now() - timedelta(hours=60),
    )


def test_a_follow_up_after_the_window_closed_goes_out_as_the_mapped_template(
    client, agent, worker, demo_release, fake_graph, follow_up_template
):
    conversation = waited_past_the_window()
    page = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert "Retomar contato com o cliente" in page and "retomada_contato" in page

    response = client.post(
        reverse("inbox:follow-up", args=[conversation.pk]), {"text": "Desculpe a demora! Posso ajudar agora?"}
    )

    assert response.status_code == 302
    sent = fake_graph.wait_for_sent(1, timeout_s=60)
    assert sent[0]["type"] == "template" and sent[0]["template"]["name"] == "retomada_contato"
    parameters = [p["text"] for p in sent[0]["template"]["components"][0]["parameters"]]
    assert parameters[0] == "Joana" and parameters[2] == "Desculpe a demora! Posso ajudar agora?"
    message = wait_until(lambda: Message.objects.filter(purpose="follow_up", status="sent").first())
    assert message.template == follow_up_template and message.provider == "staff" and message.run_key == ""


def test_a_scheduled_follow_up_waits_for_its_time_then_the_sweeper_sends_it(
    client, agent, worker, demo_release, fake_graph, follow_up_template, settings
):
    conversation = waited_past_the_window()
    at = timezone.localtime() + timedelta(hours=2)
    response = client.post(
        reverse("inbox:follow-up", args=[conversation.pk]),
        {"text": "Bom dia! Seguimos com o seu pedido?", "send_at": at.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    message = Message.objects.get(purpose="follow_up")
    assert message.status == "pending" and message.next_attempt_at is not None

    # Before its time the sweeper leaves it alone, however old it is.
    assert pipeline_sweep(now=timezone.now() + timedelta(hours=1))["sends_redriven"] == 0
    assert fake_graph.sent_messages() == []
    # Its time has come (and the redrive grace passed): sent, as the template.
    due = message.next_attempt_at + timedelta(seconds=settings.SWEEP_REDRIVE_AFTER_S + 1)
    assert pipeline_sweep(now=due)["sends_redriven"] == 1
    sent = fake_graph.wait_for_sent(1, timeout_s=60)
    assert sent[0]["template"]["name"] == "retomada_contato"
    wait_until(lambda: Message.objects.filter(pk=message.pk, status="sent").exists())


def test_without_a_mapped_template_the_follow_up_is_refused_with_the_reason_and_the_text_kept(
    client, agent, demo_release
):
    conversation = waited_past_the_window()

    response = client.post(
        reverse("inbox:follow-up", args=[conversation.pk]), {"text": "Ainda precisa de ajuda?", "send_at": ""}
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "Não agendada" in page and "não há modelo aprovado" in page
    assert "Ainda precisa de ajuda?" in page  # nothing typed is lost
    assert not Message.objects.filter(purpose="follow_up").exists()


def test_a_bad_date_is_refused_clearly(client, agent, demo_release, follow_up_template):
    conversation = waited_past_the_window()
    response = client.post(reverse("inbox:follow-up", args=[conversation.pk]), {"text": "Oi", "send_at": "amanhã"})
    assert response.status_code == 400
    assert "a data e a hora não são válidas" in response.content.decode()


def test_only_someone_who_handles_conversations_may_follow_up(client, demo_release, follow_up_template):
    from conversations.services.follow_ups import FollowUpRefused, follow_up_schedule

    conversation = waited_past_the_window()
    viewer = UserFactory(permissions=["inbox.use_inbox"])
    with pytest.raises(FollowUpRefused) as refused:
        follow_up_schedule(conversation_id=conversation.pk, user=viewer, text="Oi")
    assert refused.value.code == "not_permitted"
