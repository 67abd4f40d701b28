"""The send planner: the one place that decides how an outbound message goes out, at the moment it is sent.

Nothing goes to a contact who opted out, except the one confirmation of the opt-out. Inside the
customer's 24-hour window a message goes out free-form, as it was written. Outside it,
WhatsApp accepts only approved templates: a staff reply, a follow-up or a handoff notice goes out as
the approved template mapped to its purpose, its parameters filled from the message; anything else
(a bot turn, or a purpose with no usable template) is not sent, with a reason staff can act on.
The window is computed when the plan is made, so a plan made at send time sees a window that
closed after the reply was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import ValidationError

from conversations.models import TEMPLATE_PURPOSES, Conversation, MessageTemplate, SendPurpose
from conversations.selectors import conversation_in_service_window
from institutional.selectors import current_release
from pyloto.whatsapp.compose import message_body
from pyloto.whatsapp.payloads import (
    TEMPLATE_BODY_MAX,
    OutboundMessage,
    TemplateMessage,
    render_template_text,
    template_body_text,
    template_parameter_text,
)

log = structlog.get_logger(__name__)

FREE_FORM = "free_form"
TEMPLATE = "template"
REFUSE = "refuse"


@dataclass(frozen=True)
class SendPlan:
    """How one message goes out: free-form, as a template, or not at all (with a code and a reason for staff)."""

    action: str
    message: OutboundMessage | TemplateMessage | None = None
    template: MessageTemplate | None = None
    reason_code: str = ""
    reason: str = ""

    @property
    def sendable(self) -> bool:
        return self.action != REFUSE


def _refuse(code: str, reason: str) -> SendPlan:
    return SendPlan(action=REFUSE, reason_code=code, reason=reason)


def mapped_template(purpose: str) -> MessageTemplate | None:
    """The approved template mapped to `purpose`, if any."""
    return MessageTemplate.objects.filter(purpose=purpose, status=MessageTemplate.Status.APPROVED).first()


def send_plan(
    *, conversation: Conversation, purpose: str, message: OutboundMessage, now: datetime | None = None
) -> SendPlan:
    """Decide how `message` (as written) reaches the conversation's customer now."""
    now = now or timezone.now()
    if conversation.contact.opted_out_at is not None and purpose != SendPurpose.OPT_OUT_CONFIRMATION:
        # LGPD and Meta's policy: after the one confirmation, nothing more goes to a contact who opted out.
        return _refuse(
            "opted_out",
            _("O cliente pediu para não receber mensagens (descadastro): nada foi enviado."),
        )
    if conversation_in_service_window(conversation, now):
        return SendPlan(action=FREE_FORM, message=message)
    try:
        label = str(SendPurpose(purpose or SendPurpose.REPLY).label)
    except ValueError:
        label = purpose
    if purpose not in TEMPLATE_PURPOSES:
        return _refuse(
            "outside_window",
            _(
                "A janela de 24 horas do WhatsApp está fechada (a última mensagem do cliente tem mais de 24 horas) "
                "e uma %(purpose)s não pode ir como modelo: nada foi enviado."
            )
            % {"purpose": str(label).lower()},
        )
    template = mapped_template(purpose)
    if template is None:
        return _refuse(
            "no_template",
            _(
                "A janela de 24 horas do WhatsApp está fechada e não há modelo aprovado para “%(purpose)s”. "
                "Mapeie um modelo aprovado em Modelos de mensagem para poder enviar."
            )
            % {"purpose": label},
        )
    return _template_plan(template, conversation=conversation, message=message)


def _template_plan(template: MessageTemplate, *, conversation: Conversation, message: OutboundMessage) -> SendPlan:
    try:
        body = template_body_text(template.components)
    except ValueError as exc:
        return _refuse(
            "template_invalid", _("O modelo “%(name)s” é inválido: %(error)s") % {"name": template, "error": exc}
        )
    values = {
        MessageTemplate.ParameterSource.MESSAGE_TEXT: template_parameter_text(message_body(message)),
        MessageTemplate.ParameterSource.CONTACT_NAME: template_parameter_text(conversation.contact.profile_name)
        or _("cliente"),
        MessageTemplate.ParameterSource.COMPANY_NAME: template_parameter_text(current_release().profile.name)
        or _("nossa empresa"),
    }
    try:
        parameters = [values[MessageTemplate.ParameterSource(source)] for source in template.parameter_sources]
        rendered = render_template_text(body, parameters)
    except (ValueError, KeyError, IndexError):
        return _refuse(
            "template_invalid",
            _("O modelo “%(name)s” não tem uma origem válida para cada marcador {{n}}.") % {"name": template},
        )
    if len(rendered) > TEMPLATE_BODY_MAX:
        return _refuse(
            "too_long_for_template",
            _(
                "Fora da janela de 24 horas a mensagem vai no modelo “%(name)s”, que comporta até %(max)d caracteres; "
                "com este texto ficaria com %(length)d. Encurte a mensagem."
            )
            % {"name": template, "max": TEMPLATE_BODY_MAX, "length": len(rendered)},
        )
    try:
        outbound = TemplateMessage(name=template.name, language=template.language, body_parameters=parameters)
    except ValidationError as exc:
        return _refuse(
            "template_invalid",
            _("O modelo “%(name)s” não pode ser preenchido: %(error)s")
            % {"name": template, "error": exc.errors()[0]["msg"]},
        )
    log.info("send_planned_as_template", template=template.name, language=template.language)
    return SendPlan(action=TEMPLATE, message=outbound, template=template)
