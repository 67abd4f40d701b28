"""The Cloud API client against the fake Graph server: wamids, read receipts, classified failures."""

import socket

import httpx
import pytest
from structlog.testing import capture_logs

from pyloto.whatsapp.client import WhatsAppClient
from pyloto.whatsapp.errors import WhatsAppPermanentError, WhatsAppTransientError
from pyloto.whatsapp.payloads import (
    ButtonsMessage,
    ImageMessage,
    ListMessage,
    ListRow,
    ListSection,
    ReplyButton,
    TextMessage,
    VideoMessage,
)

PHONE = "5511987654321"
WA = {"to": PHONE}

EVERY_TYPE = {
    "text": TextMessage(body="Olá, tudo bem?"),
    "button": ButtonsMessage(
        body="Posso ajudar?", buttons=[ReplyButton(id="y", title="Sim"), ReplyButton(id="n", title="Não")]
    ),
    "list": ListMessage(
        body="Escolha",
        button_label="Opções",
        header_text="Pyloto",
        footer="rodapé",
        sections=[
            ListSection(title="Entregas", rows=[ListRow(id="a", title="Hoje", description="Mesmo dia")]),
            ListSection(title="Outros", rows=[ListRow(id="b", title="Falar com humano")]),
        ],
    ),
    "image": ImageMessage(link="https://cdn.example.com/tabela.png", caption="Tabela"),
    "video": VideoMessage(link="https://cdn.example.com/demo.mp4"),
}


@pytest.fixture
def client(fake_graph, settings):
    wa = WhatsAppClient.from_settings()
    assert wa.messages_url.startswith(fake_graph.base_url)
    return wa


@pytest.mark.parametrize("kind", EVERY_TYPE)
def test_send_every_type_is_accepted_and_returns_the_wamid(client, fake_graph, settings, kind):
    message = EVERY_TYPE[kind]
    wamid = client.send(recipient=WA, message=message)

    [record] = fake_graph.requests()
    assert record["path"] == f"/{settings.WHATSAPP_API_VERSION}/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"
    assert record["response"]["status"] == 200, record["response"]
    assert wamid == record["response"]["body"]["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    assert fake_graph.sent_messages() == [message.to_graph_payload(WA)]


def test_each_send_gets_a_distinct_wamid(client):
    wamids = {client.send(recipient=WA, message=TextMessage(body=f"msg {i}")) for i in range(5)}
    assert len(wamids) == 5


def test_send_to_a_business_scoped_user_id(client, fake_graph):
    client.send(recipient={"recipient": "BR.13491208655302741918"}, message=TextMessage(body="oi"))
    [record] = fake_graph.requests()
    assert record["json"]["recipient"] == "BR.13491208655302741918"
    assert "to" not in record["json"]
    assert record["response"]["body"]["contacts"] == [
        {"input": "BR.13491208655302741918", "user_id": "BR.13491208655302741918"}
    ]


def test_mark_read_sends_the_read_receipt_with_typing_indicator(client, fake_graph):
    client.mark_read(message_id="wamid.INBOUND1")
    client.mark_read(message_id="wamid.INBOUND2", typing_indicator=False)
    assert fake_graph.read_receipts() == [
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.INBOUND1",
            "typing_indicator": {"type": "text"},
        },
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.INBOUND2"},
    ]
    assert fake_graph.sent_messages() == []


def test_injected_rate_limit_raises_transient_with_retry_after(client, fake_graph):
    fake_graph.configure(script=[{"code": 130429, "retry_after": 3}])
    with pytest.raises(WhatsAppTransientError) as caught:
        client.send(recipient=WA, message=TextMessage(body="oi"))
    assert caught.value.code == 130429
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 3.0
    assert caught.value.details["fbtrace_id"]
    # The script is spent: the retry goes through.
    assert client.send(recipient=WA, message=TextMessage(body="oi")).startswith("wamid.")


def test_injected_server_error_raises_transient(client, fake_graph):
    fake_graph.configure(error_rate=1.0, error_codes=[131000])
    with pytest.raises(WhatsAppTransientError) as caught:
        client.send(recipient=WA, message=TextMessage(body="oi"))
    assert caught.value.code == 131000
    assert caught.value.status_code == 500
    assert fake_graph.sent_messages() == []


def test_scripted_window_closed_raises_permanent(client, fake_graph):
    fake_graph.configure(script=[131047])
    with pytest.raises(WhatsAppPermanentError) as caught:
        client.send(recipient=WA, message=TextMessage(body="oi"))
    assert caught.value.code == 131047
    assert caught.value.permanent


def test_mark_read_errors_are_classified_too(client, fake_graph):
    fake_graph.configure(script=[131000, 190])
    with pytest.raises(WhatsAppTransientError):
        client.mark_read(message_id="wamid.A")
    with pytest.raises(WhatsAppPermanentError):
        client.mark_read(message_id="wamid.A")


def test_wrong_token_is_a_permanent_error(fake_graph):
    wrong = WhatsAppClient(
        base_url=fake_graph.base_url,
        api_version="v23.0",
        phone_number_id=fake_graph.config()["phone_number_id"],
        access_token="not-the-token",
        timeout_s=5,
    )
    with pytest.raises(WhatsAppPermanentError) as caught:
        wrong.send(recipient=WA, message=TextMessage(body="oi"))
    assert caught.value.code == 190
    wrong.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_closed_port_is_a_transient_network_error():
    unreachable = WhatsAppClient(
        base_url=f"http://127.0.0.1:{_closed_port()}",
        api_version="v23.0",
        phone_number_id="1",
        access_token="t",
        timeout_s=2,
    )
    with pytest.raises(WhatsAppTransientError) as caught:
        unreachable.send(recipient=WA, message=TextMessage(body="oi"))
    assert caught.value.code == "network"
    assert caught.value.details["request_sent"] is False
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_slow_answer_is_a_transient_timeout(fake_graph, settings):
    fake_graph.configure(latency_ms=500)
    impatient = WhatsAppClient(
        base_url=fake_graph.base_url,
        api_version=settings.WHATSAPP_API_VERSION,
        phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
        access_token=settings.WHATSAPP_ACCESS_TOKEN,
        timeout_s=0.1,
    )
    with pytest.raises(WhatsAppTransientError) as caught:
        impatient.send(recipient=WA, message=TextMessage(body="oi"))
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    # The request reached the server, so a retry might send twice: the caller is told.
    assert caught.value.details["request_sent"] is True
    impatient.close()


def test_2xx_without_a_message_id_is_permanent():
    def handler(request):
        return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": []})

    odd = WhatsAppClient(
        base_url="http://graph.test",
        api_version="v23.0",
        phone_number_id="1",
        access_token="t",
        timeout_s=1,
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(WhatsAppPermanentError) as caught:
        odd.send(recipient=WA, message=TextMessage(body="oi"))
    assert caught.value.code == "bad_response"


def test_from_settings_reuses_one_client_per_configuration(fake_graph, settings):
    first = WhatsAppClient.from_settings()
    assert WhatsAppClient.from_settings() is first
    settings.WHATSAPP_ACCESS_TOKEN = "rotated-token"
    rotated = WhatsAppClient.from_settings()
    assert rotated is not first
    fake_graph.configure(access_token="rotated-token")
    rotated.send(recipient=WA, message=TextMessage(body="oi"))
    assert fake_graph.requests()[0]["response"]["status"] == 200


def test_logs_never_hold_the_phone_number(client, fake_graph):
    fake_graph.configure(script=[131026])
    with capture_logs() as logs:
        with pytest.raises(WhatsAppPermanentError):
            client.send(recipient=WA, message=TextMessage(body="first"))
        client.send(recipient=WA, message=TextMessage(body="second"))
    events = [entry["event"] for entry in logs]
    assert events == ["whatsapp_send_failed", "whatsapp_send_ok"]
    assert all(PHONE not in repr(entry) for entry in logs)
    assert logs[0]["recipient_hash"] == logs[1]["recipient_hash"]
