"""PII masking: phones in every format WhatsApp and people use, e-mails, CPF/CNPJ, innocent numbers."""

import pytest

from pyloto.observability.masking import REDACTED, mask_pii, mask_pii_processor, mask_value


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        # Phones: E.164, Brazilian formats with and without +55, bare wa_ids.
        ("+5511987654321", "+55*******4321"),
        ("+55 11 98765-4321", "+55*******4321"),
        ("+55 (11) 98765-4321", "+55*******4321"),
        ("(11) 98765-4321", "*******4321"),
        ("(11)98765-4321", "*******4321"),
        ("11 98765-4321", "*******4321"),
        ("55 11 3333-4444", "********4444"),
        ("98765-4321", "*****4321"),
        ("5511987654321", "*********4321"),
        ("11987654321", "*******4321"),
        ("+1 415 555 0123", "+14*****0123"),
        ("wa_id='5511987654321'", "wa_id='*********4321'"),
        # E-mails.
        ("joao.silva+promo@empresa.com.br", "j***@***.br"),
        ("write to a@b.co now", "write to a***@***.co now"),
        # CPF and CNPJ, formatted and bare (bare ones are recognised by their check digits).
        ("CPF 529.982.247-25", "CPF ***.***.***-25"),
        ("52998224725", "*********25"),
        ("CNPJ 11.222.333/0001-81", "CNPJ **.***.***/****-81"),
        ("11222333000181", "************81"),
        ("12.ABC.345/01DE-35", "**.***.***/****-35"),
        # Secrets in URLs and headers.
        ("/webhooks/whatsapp/?hub.mode=subscribe&hub.verify_token=s3cr3t&hub.challenge=9", None),
        ("Authorization: Bearer EAAG.abc-123", "Authorization: Bearer ***"),
    ],
)
def test_pii_is_masked_keeping_only_the_last_digits(raw, masked):
    result = mask_pii(raw)
    if masked is None:
        assert "s3cr3t" not in result
        assert "hub.verify_token=***" in result
        assert "hub.challenge=9" in result
    else:
        assert result == masked


@pytest.mark.parametrize(
    "innocent",
    [
        "R$ 1.500",
        "R$ 1.500,00",
        "R$ 12.345.678,90",
        "em 2026",
        "pedido 12345",
        "2026-03-01T10:20:30.123456+00:00",
        "127.0.0.1:6379",
        "v23.0",
        "às 14:30",
        "wamid.HBgNNTU1MTk4NzY1NDMyMRUCABIYFDNBRjM0",
        "123e4567-e89b-12d3-a456-426614174000",
        "task succeeded in 0.0123456789s",
        "plano de 500 megas por R$ 99,90",
    ],
)
def test_innocent_numbers_and_identifiers_are_untouched(innocent):
    assert mask_pii(innocent) == innocent


def test_an_eleven_digit_run_that_is_not_a_valid_cpf_is_masked_as_a_phone():
    assert mask_pii("11987654321") == "*******4321"
    assert mask_pii("52998224725") == "*********25"  # valid CPF: keeps its two check digits


def test_mask_value_walks_nested_structures_and_redacts_credentials():
    payload = {
        "entry": [{"changes": [{"value": {"contacts": [{"wa_id": "5511987654321", "profile": {"name": "Ana"}}]}}]}],
        "headers": {"Authorization": "Bearer abc", "X-Trace": "ok"},
        "pair": ("joao@x.com", 42),
        "5511987654321": "key is a phone",
    }
    masked = mask_value(payload)
    assert masked["entry"][0]["changes"][0]["value"]["contacts"][0] == {
        "wa_id": "*********4321",
        "profile": {"name": "Ana"},
    }
    assert masked["headers"] == {"Authorization": REDACTED, "X-Trace": "ok"}
    assert masked["pair"] == ("j***@***.com", 42)
    assert "*********4321" in masked
    assert "5511987654321" not in str(masked)


def test_processor_masks_every_value_and_renders_unknown_objects_as_masked_text():
    class Customer:
        def __repr__(self) -> str:
            return "Customer(phone='+5511987654321')"

        __str__ = __repr__

    event = {"event": "reply_sent to 5511987654321", "customer": Customer(), "count": 3, "ok": True}
    out = mask_pii_processor(None, "info", event)
    assert out["event"] == "reply_sent to *********4321"
    assert out["customer"] == "Customer(phone='+55*******4321')"
    assert out["count"] == 3
    assert out["ok"] is True
