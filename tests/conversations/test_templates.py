"""Message templates: the sync from the Graph API (paged), the admin's validation, and WhatsApp's send rules."""

import pytest
from django.core.exceptions import ValidationError
from pydantic import ValidationError as PydanticValidationError

from conversations.models import MessageTemplate
from conversations.services.templates import templates_sync
from pyloto.whatsapp.client import WhatsAppClient
from pyloto.whatsapp.errors import WhatsAppPermanentError
from pyloto.whatsapp.payloads import TemplateMessage, template_parameter_text

pytestmark = pytest.mark.django_db

GRAPH_TEMPLATES = [
    {
        "id": f"90000000000000{index}",
        "name": name,
        "language": "pt_BR",
        "status": status,
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": f"Olá {{{{1}}}}, modelo {index}."}],
    }
    for index, (name, status) in enumerate(
        [("resposta_atendimento", "APPROVED"), ("lembrete", "PENDING"), ("promo_natal", "REJECTED")], start=1
    )
]


@pytest.fixture
def graph_account(fake_graph, settings):
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = "123456789"
    fake_graph.configure(business_account_id="123456789", templates=GRAPH_TEMPLATES)
    return fake_graph


def test_the_sync_reads_every_page_and_keeps_the_product_teams_mapping(graph_account, settings):
    client = WhatsAppClient.from_settings()
    # Two per page: three templates take two requests, following Graph's `paging.next`.
    items = client.list_templates(business_account_id="123456789", page_size=2)
    assert [item["name"] for item in items] == ["resposta_atendimento", "lembrete", "promo_natal"]
    assert graph_account.stats()["template_lists"] == 2
    result = templates_sync()
    assert (result.created, result.updated, result.deleted) == (3, 0, 0)
    approved = MessageTemplate.objects.get(name="resposta_atendimento")
    assert approved.status == "APPROVED" and approved.category == "utility" and approved.graph_id.endswith("1")
    approved.purpose, approved.parameter_sources = "staff_reply", ["message_text"]
    approved.save()
    # WhatsApp drops one template and approves another: the mapping survives, the dropped one is deleted.
    graph_account.configure(templates=[{**GRAPH_TEMPLATES[0]}, {**GRAPH_TEMPLATES[1], "status": "APPROVED"}])
    result = templates_sync()
    assert (result.created, result.updated, result.deleted) == (0, 2, 1)
    approved.refresh_from_db()
    assert approved.purpose == "staff_reply" and approved.parameter_sources == ["message_text"]
    assert MessageTemplate.objects.get(name="lembrete").status == "APPROVED"
    assert MessageTemplate.objects.get(name="promo_natal").status == "DELETED"


def test_without_a_business_account_the_sync_says_so_and_reads_nothing(fake_graph, settings):
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = ""
    assert templates_sync().skipped
    assert fake_graph.stats().get("template_lists", 0) == 0


def test_a_wrong_business_account_is_a_permanent_error(graph_account, settings):
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = "999"
    with pytest.raises(WhatsAppPermanentError):
        templates_sync()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "Resposta Atendimento"}, "name"),
        ({"language": "portuguese"}, "language"),
        ({"components": [{"type": "HEADER", "text": "x"}]}, "components"),
        ({"components": [{"type": "BODY", "text": "Olá {{2}}"}], "parameter_sources": ["message_text"]}, "components"),
        ({"parameter_sources": ["message_text", "contact_name"]}, "parameter_sources"),
        ({"parameter_sources": ["the_weather"]}, "parameter_sources"),
        ({"parameter_sources": ["contact_name"]}, "parameter_sources"),  # a staff reply must carry its text
    ],
)
def test_the_admin_refuses_a_template_whatsapp_or_the_planner_could_not_use(fields, field):
    values = {
        "name": "resposta_atendimento",
        "language": "pt_BR",
        "components": [{"type": "BODY", "text": "Olá! {{1}}"}],
        "parameter_sources": ["message_text"],
        "purpose": "staff_reply",
    }
    template = MessageTemplate(**{**values, **fields})
    with pytest.raises(ValidationError) as refused:
        template.full_clean()
    assert field in refused.value.message_dict


def test_a_valid_template_passes_the_admins_checks():
    MessageTemplate(
        name="resposta_atendimento",
        language="pt_BR",
        components=[{"type": "BODY", "text": "Olá {{1}}: {{2}}"}, {"type": "FOOTER", "text": "Pyloto"}],
        parameter_sources=["contact_name", "message_text"],
        purpose="staff_reply",
    ).full_clean()


@pytest.mark.parametrize("value", ["linha 1\nlinha 2", "tab\taqui", "cinco     espaços", "   "])
def test_template_parameters_follow_whatsapps_rules(value):
    with pytest.raises(PydanticValidationError):
        TemplateMessage(name="resposta_atendimento", language="pt_BR", body_parameters=[value])
    if value.strip():
        TemplateMessage(name="resposta_atendimento", language="pt_BR", body_parameters=[template_parameter_text(value)])


@pytest.mark.parametrize(
    ("template", "code"),
    [
        ({"name": "nao_existe", "language": {"policy": "deterministic", "code": "pt_BR"}}, 132001),
        ({"name": "resposta_atendimento", "language": {"policy": "deterministic", "code": "en_US"}}, 132001),
        ({"name": "resposta_atendimento", "language": {"policy": "deterministic", "code": "pt_BR"}}, 132000),
        (
            {
                "name": "resposta_atendimento",
                "language": {"policy": "deterministic", "code": "pt_BR"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "a\nb"}] * 2}],
            },
            132018,
        ),
        (
            {
                "name": "resposta_atendimento",
                "language": {"policy": "deterministic", "code": "pt_BR"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "x" * 600}] * 2}],
            },
            132005,
        ),
        ({"name": "pausado", "language": {"policy": "deterministic", "code": "pt_BR"}}, 132015),
    ],
)
def test_the_fake_refuses_template_sends_as_whatsapp_does(fake_graph, template, code):
    import httpx

    fake_graph.configure(
        templates=[
            *fake_graph.config()["templates"],
            {"name": "pausado", "language": "pt_BR", "status": "PAUSED", "components": [{"type": "BODY", "text": "x"}]},
        ]
    )
    from django.conf import settings

    response = httpx.post(
        f"{fake_graph.base_url}/v23.0/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages",
        headers={"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"},
        json={"messaging_product": "whatsapp", "to": "5511999990000", "type": "template", "template": template},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_the_sync_command_reports_what_it_did_and_fails_loudly_without_an_account(graph_account, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("sync_templates", stdout=out)
    assert out.getvalue().strip() == "3 created, 0 updated, 0 deleted, 0 invalid"
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = ""
    with pytest.raises(CommandError, match="WHATSAPP_BUSINESS_ACCOUNT_ID"):
        call_command("sync_templates")
