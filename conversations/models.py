"""Contacts, conversations and messages: what the webhook persists and the pipeline reads."""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description
from django_fsm_log.models import StateLog

from conversations.states import BOT_ACTIVE, BOT_SILENT, Perm, State
from pyloto.whatsapp.payloads import recipient_for, template_body_text, template_placeholder_count


class Contact(models.Model):
    """A WhatsApp user, keyed on `wa_id` or on the business-scoped `user_id` (2026 usernames)."""

    # Sized with headroom over Meta's documented maxima: a phone wa_id has at most 15 digits, a BSUID is
    # "CC." + up to 128 alphanumerics (131), a parent BSUID "CC.ENT." + 128 (135).
    wa_id = models.CharField(
        max_length=64, null=True, blank=True, unique=True, verbose_name=_("WhatsApp ID (telefone)")
    )
    user_id = models.CharField(
        max_length=256,
        null=True,
        blank=True,
        unique=True,
        help_text=_("ID de usuário no escopo da empresa (BSUID)."),
        verbose_name=_("ID de usuário (BSUID)"),
    )
    parent_user_id = models.CharField(  # noqa: DJ001 - NULL means "no parent BSUID"
        max_length=256,
        null=True,
        blank=True,
        help_text=_("BSUID principal (compartilhado entre portfólios)."),
        verbose_name=_("BSUID principal"),
    )
    username = models.CharField(max_length=256, blank=True, default="", verbose_name=_("nome de usuário"))
    profile_name = models.CharField(max_length=256, blank=True, default="", verbose_name=_("nome no perfil"))
    # Opt-out (LGPD and Meta policy): while set, the bot sends nothing to this contact. The delivery
    # planner reads `opted_out_at`; `opt_out_source` says what set it (keyword, user_preferences, 131050).
    opted_out_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("descadastrado em"))
    opt_out_source = models.CharField(max_length=64, blank=True, default="", verbose_name=_("origem do descadastro"))
    # LGPD erasure: when this contact's data was anonymised (services/privacy.py); the row stays for counts.
    erased_at = models.DateTimeField(_("dados apagados em"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("criado em"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("atualizado em"))

    class Meta:
        verbose_name = _("contato")
        verbose_name_plural = _("contatos")
        constraints = [
            models.CheckConstraint(
                condition=Q(wa_id__isnull=False) | Q(user_id__isnull=False), name="contact_has_an_id"
            ),
        ]
        permissions = [
            ("export_contact_data", _("Pode exportar os dados de um contato (LGPD)")),
            ("erase_contact_data", _("Pode apagar os dados de um contato (LGPD)")),
        ]

    def __str__(self) -> str:
        return f"{_('Contato')} nº {self.pk} {self.profile_name}".strip()

    @property
    def recipient(self) -> dict[str, str]:
        """How the Cloud API addresses this contact: by phone (`to`) or by BSUID (`recipient`)."""
        return recipient_for(wa_id=self.wa_id, user_id=self.user_id)


class Conversation(models.Model):
    """One session of a contact with the assistant; its `state` is the state machine's.

    Transitions are only ever called through `conversations.services.state`, which locks the row,
    checks the actor's permission, saves and records the decision in one transaction. The
    `by`/`description` arguments feed django-fsm-log's StateLog.
    """

    # Integer primary key: django-fsm-log's StateLog.object_id is an integer.
    id = models.AutoField(primary_key=True)
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="conversations", verbose_name=_("contato")
    )
    # protected: no code may assign the state; only a transition (through the state service) moves it.
    state = FSMField(default=State.NEW, choices=State.choices, db_index=True, protected=True, verbose_name=_("estado"))
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("iniciada em"))
    last_activity_at = models.DateTimeField(db_index=True, verbose_name=_("última atividade em"))
    # WhatsApp's 24-hour customer-service window opens at the customer's last inbound message.
    last_inbound_at = models.DateTimeField(null=True, blank=True, verbose_name=_("última mensagem do cliente em"))
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("encerrada em"))
    # Handoff: since when the customer waits for a person, and who took the conversation.
    handoff_requested_at = models.DateTimeField(null=True, blank=True, verbose_name=_("aguardando uma pessoa desde"))
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
        verbose_name=_("com"),
    )
    # The run lease: one pipeline run in flight per conversation (see services/runs.py).
    run_token = models.CharField(max_length=64, null=True, blank=True, verbose_name=_("execução em curso"))  # noqa: DJ001 - NULL means "no run"
    run_started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("execução iniciada em"))
    run_lease_expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("reserva da execução expira em"))

    class Meta:
        verbose_name = _("conversa")
        verbose_name_plural = _("conversas")
        indexes = [
            models.Index(fields=["contact", "closed_at"], name="conv_contact_open_idx"),
            models.Index(
                fields=["last_activity_at"], name="conv_open_activity_idx", condition=Q(closed_at__isnull=True)
            ),
            models.Index(
                fields=["run_lease_expires_at"], name="conv_run_lease_idx", condition=Q(run_token__isnull=False)
            ),
        ]
        permissions = [
            ("handle_conversation", _("Pode assumir, resolver e devolver uma conversa ao assistente")),
            ("commit_price", _("Pode enviar a um cliente uma proposta com preço")),
            ("close_contract", _("Pode fechar um contrato com um cliente")),
            ("expire_conversation", _("Pode expirar uma conversa parada")),
        ]

    def __str__(self) -> str:
        return f"{_('Conversa')} nº {self.pk} ({self.get_state_display()})"

    def refresh_from_db(self, using: str | None = None, fields: Any = None, from_queryset: Any = None) -> None:
        """Reload from the database, the protected state included.

        django-fsm's `FSMModelMixin` does this by switching the field's `protected` flag off and on for
        every instance at once, which races between threads of one worker. Clearing this instance's own
        value first lets the reload set it, and touches nothing shared. The fields are listed before, or
        Django would take the cleared state for a deferred field and leave it out.
        """
        if fields is None:
            deferred = self.get_deferred_fields()
            fields = [field.attname for field in self._meta.concrete_fields if field.attname not in deferred]
        current = self.__dict__.pop("state", None) if "state" in fields else None
        try:
            super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        finally:
            if "state" not in self.__dict__ and current is not None:
                self.__dict__["state"] = current

    def _close(self) -> None:
        self.closed_at = timezone.now()

    # --- Transitions the bot may make (no permission) -----------------------------------------------
    # admin=False: staff do not steer the bot's conversational states from the admin.

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=[State.NEW, State.ANSWERING, State.QUALIFYING],
        target=State.TRIAGE,
        custom={"admin": False},
    )
    def start_triage(self, by=None, description=None) -> None:
        """The customer's intent is unclear (a greeting, a new topic): find out what they want."""

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=[State.NEW, State.TRIAGE, State.QUALIFYING],
        target=State.ANSWERING,
        custom={"admin": False},
    )
    def answer(self, by=None, description=None) -> None:
        """The customer asks something the institutional knowledge answers."""

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=[State.NEW, State.TRIAGE, State.ANSWERING],
        target=State.QUALIFYING,
        custom={"admin": False},
    )
    def qualify(self, by=None, description=None) -> None:
        """Buying interest or a price question: collect the details a salesperson needs."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=list(BOT_ACTIVE), target=State.HANDOFF_REQUESTED, custom={"admin": False})
    def request_handoff(self, by=None, description=None) -> None:
        """The customer wants a person (or the bot cannot help): queue for staff, bot goes silent."""
        self.handoff_requested_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=[State.TRIAGE, State.ANSWERING, State.QUALIFYING],
        target=State.RESOLVED,
        custom={"admin": False},
    )
    def resolve(self, by=None, description=None) -> None:
        """The customer's question is answered or they said goodbye."""
        self._close()

    # --- Transitions only a person may make -----------------------------------------------------------

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=[*BOT_ACTIVE, State.HANDOFF_REQUESTED],
        target=State.HUMAN_ACTIVE,
        permission=Perm.HANDLE,
        custom={
            "label": _("Assumir"),
            "help_text": _("Responda você mesmo a este cliente; o assistente fica em silêncio."),
        },
    )
    def take(self, by=None, description=None) -> None:
        """A staff member takes the conversation (from the queue, or by stepping into a bot session)."""
        self.assigned_to = by if getattr(by, "pk", None) else None

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=list(BOT_SILENT),
        target=State.TRIAGE,
        permission=Perm.HANDLE,
        custom={"label": _("Devolver ao assistente"), "help_text": _("O assistente volta a responder este cliente.")},
    )
    def return_to_bot(self, by=None, description=None) -> None:
        self.assigned_to = None
        self.handoff_requested_at = None

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=list(BOT_SILENT),
        target=State.RESOLVED,
        permission=Perm.HANDLE,
        custom={"label": _("Resolver"), "help_text": _("O cliente foi atendido; encerra a conversa.")},
    )
    def resolve_handoff(self, by=None, description=None) -> None:
        self._close()

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=State.HUMAN_ACTIVE,
        target=State.PROPOSAL_SENT,
        permission=Perm.COMMIT_PRICE,
        custom={"label": _("Proposta enviada"), "help_text": _("Você enviou a este cliente uma proposta com preço.")},
    )
    def send_proposal(self, by=None, description=None) -> None:
        """Committing to a price is a person's act: the bot never holds this permission."""

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=[State.HUMAN_ACTIVE, State.PROPOSAL_SENT],
        target=State.CONTRACT_CLOSED,
        permission=Perm.CLOSE_CONTRACT,
        custom={"label": _("Fechar contrato"), "help_text": _("O cliente assinou; encerra a conversa.")},
    )
    def close_contract(self, by=None, description=None) -> None:
        """Closing a contract is a person's act: the bot never holds this permission."""
        self._close()

    # --- The system's transition --------------------------------------------------------------------

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=[*BOT_ACTIVE, *BOT_SILENT],
        target=State.EXPIRED,
        permission=Perm.EXPIRE,
        custom={"admin": False},
    )
    def expire(self, by=None, description=None) -> None:
        """Idle past the session's time to live; the next message starts a new conversation."""
        self._close()


class SendPurpose(models.TextChoices):
    """Why an outbound message exists: the send planner decides from it what may go out outside the window."""

    REPLY = "reply", _("Resposta do assistente")
    STAFF_REPLY = "staff_reply", _("Resposta da equipe")
    HANDOFF_NOTICE = "handoff_notice", _("Aviso de transferência para a equipe")
    FOLLOW_UP = "follow_up", _("Retomada de contato")
    NOTICE = "notice", _("Aviso do sistema")
    OPT_OUT_CONFIRMATION = "opt_out_confirm", _("Confirmação de descadastro")


# Purposes an approved template may carry outside the 24-hour window (a bot turn never goes out as one).
TEMPLATE_PURPOSES = (SendPurpose.STAFF_REPLY, SendPurpose.FOLLOW_UP, SendPurpose.HANDOFF_NOTICE)


class MessageTemplate(models.Model):
    """A WhatsApp message template: synced from the Graph API when credentials are set, edited in the admin.

    A template mapped to a purpose (staff reply, follow-up, handoff notice) is what the send planner
    sends instead of a free-form message once the customer's 24-hour window has closed; its body
    parameters are filled from `parameter_sources`, one source per `{{n}}` placeholder, in order.
    """

    class Category(models.TextChoices):
        UTILITY = "utility", _("Utilidade")
        MARKETING = "marketing", _("Marketing")
        AUTHENTICATION = "authentication", _("Autenticação")

    class Status(models.TextChoices):
        APPROVED = "APPROVED", _("Aprovado")
        PENDING = "PENDING", _("Em análise")
        REJECTED = "REJECTED", _("Rejeitado")
        PAUSED = "PAUSED", _("Pausado")
        DISABLED = "DISABLED", _("Desativado")
        IN_APPEAL = "IN_APPEAL", _("Em recurso")
        PENDING_DELETION = "PENDING_DELETION", _("Exclusão pendente")
        DELETED = "DELETED", _("Excluído")
        ARCHIVED = "ARCHIVED", _("Arquivado")
        LIMIT_EXCEEDED = "LIMIT_EXCEEDED", _("Limite excedido")

    class ParameterSource(models.TextChoices):
        MESSAGE_TEXT = "message_text", _("O texto da mensagem (ex.: a resposta da equipe)")
        CONTACT_NAME = "contact_name", _("O nome do cliente no WhatsApp")
        COMPANY_NAME = "company_name", _("O nome da empresa")
        NEXT_OPENING = "next_opening", _("O próximo horário de atendimento")

    name = models.CharField(_("nome"), max_length=512, help_text=_("Nome do modelo no WhatsApp (minúsculas e _)."))
    language = models.CharField(
        _("idioma"), max_length=16, default="pt_BR", help_text=_("Código do idioma, ex.: pt_BR.")
    )
    category = models.CharField(_("categoria"), max_length=16, choices=Category.choices, default=Category.UTILITY)
    status = models.CharField(_("situação"), max_length=20, choices=Status.choices, default=Status.PENDING)
    components = models.JSONField(
        _("componentes"),
        default=list,
        help_text=_('Como o WhatsApp os descreve: [{"type": "BODY", "text": "Olá {{1}}, …"}, …].'),
    )
    parameter_sources = models.JSONField(
        _("origem dos parâmetros"),
        default=list,
        blank=True,
        help_text=_(
            "Uma origem por marcador {{n}} do corpo, na ordem: message_text, contact_name, "
            "company_name ou next_opening."
        ),
    )
    purpose = models.CharField(
        _("uso fora da janela de 24 h"),
        max_length=16,
        choices=[(p.value, p.label) for p in TEMPLATE_PURPOSES],
        blank=True,
        default="",
        help_text=_("Para que o assistente usa este modelo quando a janela de 24 horas do cliente está fechada."),
    )
    graph_id = models.CharField(_("id no WhatsApp"), max_length=64, blank=True, default="")
    status_reason = models.CharField(_("motivo da situação"), max_length=255, blank=True, default="")
    synced_at = models.DateTimeField(_("sincronizado em"), null=True, blank=True)
    updated_at = models.DateTimeField(_("atualizado em"), auto_now=True)

    class Meta:
        verbose_name = _("modelo de mensagem")
        verbose_name_plural = _("modelos de mensagem")
        constraints = [
            models.UniqueConstraint(fields=["name", "language"], name="template_name_language_unique"),
            models.UniqueConstraint(fields=["purpose"], condition=~Q(purpose=""), name="template_one_per_purpose"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def body_text(self) -> str:
        """The BODY component's text with its `{{n}}` placeholders ("" when the components are invalid)."""
        try:
            return template_body_text(self.components)
        except ValueError:
            return ""

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from pyloto.whatsapp.payloads import LANGUAGE_CODE, TEMPLATE_NAME

        errors: dict[str, Any] = {}
        if not TEMPLATE_NAME.match(self.name or ""):
            errors["name"] = _("Use só letras minúsculas, números e _ (até 512 caracteres).")
        if not LANGUAGE_CODE.match(self.language or ""):
            errors["language"] = _("Use um código de idioma do WhatsApp, como pt_BR ou en_US.")
        try:
            placeholders = template_placeholder_count(template_body_text(self.components))
        except ValueError as exc:
            errors["components"] = _("Componentes inválidos: %(error)s") % {"error": exc}
            placeholders = None
        sources = self.parameter_sources
        valid_sources = set(self.ParameterSource.values)
        if not isinstance(sources, list) or any(source not in valid_sources for source in sources):
            errors["parameter_sources"] = _("Uma lista com message_text, contact_name, company_name ou next_opening.")
        elif placeholders is not None and len(sources) != placeholders:
            errors["parameter_sources"] = _(
                "O corpo tem %(expected)d marcador(es) {{n}}, mas há %(given)d origem(ns) de parâmetro."
            ) % {"expected": placeholders, "given": len(sources)}
        elif self.purpose == SendPurpose.STAFF_REPLY and self.ParameterSource.MESSAGE_TEXT not in sources:
            errors["parameter_sources"] = _(
                "Um modelo para respostas da equipe precisa de message_text, senão a resposta não chega ao cliente."
            )
        if errors:
            raise ValidationError(errors)


class Message(models.Model):
    """An inbound or outbound WhatsApp message, with its raw element and its lifecycle status."""

    class Direction(models.TextChoices):
        INBOUND = "in", _("Recebida")
        OUTBOUND = "out", _("Enviada")

    class Status(models.TextChoices):
        # Inbound lifecycle: every inbound message ends in a terminal status (answered, handed off,
        # dropped with a reason, or dead-lettered).
        RECEIVED = "received", _("Recebida")
        PROCESSING = "processing", _("Em processamento")
        ANSWERED = "answered", _("Respondida")
        HANDED_OFF = "handed_off", _("Passada para uma pessoa")
        DROPPED = "dropped", _("Descartada pela política")
        DEAD_LETTERED = "dead_lettered", _("Na fila de falhas")
        # Outbound lifecycle, advanced by the send and by Meta's status callbacks.
        PENDING = "pending", _("Aguardando envio")
        # Claimed by one send task (pending → sending is a conditional UPDATE): never two sends.
        SENDING = "sending", _("Enviando")
        SENT = "sent", _("Enviada")
        DELIVERED = "delivered", _("Entregue")
        READ = "read", _("Lida")
        FAILED = "failed", _("Falhou")
        # WhatsApp's marketing frequency cap (131049): not a failure; sent again hours later.
        CAPPED = "capped", "Capped by WhatsApp's frequency limit"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", verbose_name=_("conversa")
    )
    direction = models.CharField(max_length=3, choices=Direction.choices, verbose_name=_("direção"))
    wamid = models.CharField(
        max_length=256, null=True, blank=True, unique=True, verbose_name=_("ID da mensagem no WhatsApp")
    )
    type = models.CharField(max_length=32, verbose_name=_("tipo"))
    text = models.TextField(blank=True, default="", verbose_name=_("texto"))
    raw = models.JSONField(default=dict, blank=True, verbose_name=_("conteúdo bruto"))
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True, verbose_name=_("situação"))
    status_reason = models.CharField(max_length=255, blank=True, default="", verbose_name=_("motivo da situação"))
    errors = models.JSONField(default=list, blank=True, verbose_name=_("erros"))
    sent_by_customer_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("O horário informado pelo WhatsApp."),
        verbose_name=_("enviada pelo cliente em"),
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("criado em"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("atualizado em"))
    correlation_id = models.CharField(
        max_length=64, blank=True, default="", db_index=True, verbose_name=_("ID de correlação")
    )
    # Inbound media: Meta's media id; a voice note's transcript, its language and the audio's duration.
    media_id = models.CharField(max_length=256, blank=True, default="", verbose_name=_("ID da mídia"))
    transcript = models.TextField(blank=True, default="", verbose_name=_("transcrição"))
    transcript_language = models.CharField(
        max_length=32, blank=True, default="", verbose_name=_("idioma da transcrição")
    )
    media_duration_s = models.FloatField(null=True, blank=True, verbose_name=_("duração da mídia (s)"))
    # The message a customer replied to or reacted to (`context.id` / `reaction.message_id`).
    quoted_wamid = models.CharField(
        max_length=256, blank=True, default="", db_index=True, verbose_name=_("mensagem citada")
    )
    # Outbound only: one reply per run; a retried send finds this row instead of sending twice.
    idempotency_key = models.CharField(
        max_length=128, null=True, blank=True, unique=True, verbose_name=_("chave de idempotência")
    )
    # The run that answered an inbound message, or produced an outbound one (its lease token).
    run_key = models.CharField(max_length=64, blank=True, default="", db_index=True, verbose_name=_("execução"))
    # Who wrote an outbound message: the LLM ("openai"), the offline FAQ provider, or the system.
    provider = models.CharField(max_length=16, blank=True, default="", verbose_name=_("escrita por"))
    send_attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("tentativas de envio"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("enviada em"))
    # Outbound only: why it exists (the planner's input) and, when it went out as one, the template used.
    purpose = models.CharField(
        max_length=16, choices=SendPurpose.choices, blank=True, default="", verbose_name=_("finalidade")
    )
    template = models.ForeignKey(
        MessageTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
        verbose_name=_("modelo"),
    )
    # Outbound only: when a capped message is sent again.
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("próxima tentativa em"))
    # Outbound only: since when nobody knows whether Meta got this reply (a timeout after the request
    # went out, or a worker that died holding the send claim). A status webhook confirms it, or the
    # sweeper resends it once the confirmation window has passed (docs/pipeline.md, ambiguous sends).
    send_ambiguous_since = models.DateTimeField(null=True, blank=True, verbose_name=_("envio incerto desde"))

    class Meta:
        verbose_name = _("mensagem")
        verbose_name_plural = _("mensagens")
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="msg_conversation_time_idx"),
            models.Index(
                fields=["status", "created_at"],
                name="msg_inbound_open_idx",
                condition=Q(direction="in", status__in=["received", "processing"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.type} #{self.pk}"


class StaffAlert(models.Model):
    """Something staff must know about a conversation: a reply that could not go out, or failed after it did."""

    class Kind(models.TextChoices):
        NOT_SENT = "not_sent", _("Mensagem não enviada")
        FAILED = "failed", _("Falha na entrega")
        CAPPED = "capped", _("Retida pelo limite de marketing do WhatsApp")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="staff_alerts", verbose_name=_("conversa")
    )
    message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="staff_alerts",
        verbose_name=_("mensagem"),
    )
    kind = models.CharField(_("tipo"), max_length=16, choices=Kind.choices)
    text = models.TextField(_("o que aconteceu"))
    error_code = models.CharField(_("código"), max_length=32, blank=True, default="")
    created_at = models.DateTimeField(_("criado em"), auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(_("resolvido em"), null=True, blank=True)

    class Meta:
        verbose_name = _("alerta para a equipe")
        verbose_name_plural = _("alertas para a equipe")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"


class DeliveryStatus(models.Model):
    """Every status callback Meta sends, kept as received (it may arrive before our send returns)."""

    wamid = models.CharField(max_length=256, db_index=True, verbose_name=_("ID da mensagem no WhatsApp"))
    status = models.CharField(max_length=16, verbose_name=_("situação"))
    timestamp = models.DateTimeField(null=True, blank=True, verbose_name=_("momento"))
    errors = models.JSONField(default=list, blank=True, verbose_name=_("erros"))
    raw = models.JSONField(default=dict, verbose_name=_("conteúdo bruto"))
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="statuses", verbose_name=_("mensagem")
    )
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("recebido em"))
    correlation_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("ID de correlação"))
    # Redeliveries of one callback (same message, status and recipient) add no row.
    dedup_key = models.CharField(
        max_length=64, null=True, blank=True, unique=True, verbose_name=_("chave de deduplicação")
    )
    # Meta's `pricing` object as sent, and its parts the cost figures read (category, billable, model).
    pricing = models.JSONField(default=dict, blank=True, verbose_name=_("preço"))
    pricing_category = models.CharField(max_length=64, blank=True, default="", verbose_name=_("categoria de preço"))
    pricing_billable = models.BooleanField(null=True, blank=True, verbose_name=_("cobrável"))
    pricing_model = models.CharField(max_length=64, blank=True, default="", verbose_name=_("modelo de preço"))

    class Meta:
        verbose_name = _("situação de entrega")
        verbose_name_plural = _("situações de entrega")

    def __str__(self) -> str:
        return f"{self.status} · {self.wamid}"


class UnhandledEvent(models.Model):
    """A webhook change we do not act on (other fields, shapes we cannot parse): kept, never a 500."""

    field = models.CharField(max_length=64, blank=True, default="", verbose_name=_("campo"))
    reason = models.CharField(max_length=255, verbose_name=_("motivo"))
    raw = models.JSONField(default=dict, verbose_name=_("conteúdo bruto"))
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("recebido em"))
    correlation_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("ID de correlação"))
    dedup_key = models.CharField(
        max_length=64, null=True, blank=True, unique=True, verbose_name=_("chave de deduplicação")
    )

    class Meta:
        verbose_name = _("evento não tratado")
        verbose_name_plural = _("eventos não tratados")

    def __str__(self) -> str:
        return f"{_('Não tratado')} {self.field}: {self.reason}"


class WebhookEvent(models.Model):
    """A webhook event we record for the ops view: calls, template and account updates, groups, echoes,
    identity changes and preference changes. Redeliveries add no row."""

    field = models.CharField(_("campo"), max_length=64)
    kind = models.CharField(_("tipo"), max_length=64, db_index=True)
    summary = models.CharField(_("resumo"), max_length=255, blank=True, default="")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="events", verbose_name=_("contato")
    )
    raw = models.JSONField(default=dict, verbose_name=_("conteúdo bruto"))
    received_at = models.DateTimeField(_("recebido em"), auto_now_add=True, db_index=True)
    correlation_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("ID de correlação"))
    dedup_key = models.CharField(max_length=64, unique=True, verbose_name=_("chave de deduplicação"))

    class Meta:
        verbose_name = _("evento do webhook")
        verbose_name_plural = _("eventos do webhook")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.field}/{self.kind}: {self.summary}"


class WebhookElement(models.Model):
    """One element of a webhook POST, stored as received before anything is read from it (ADR 0016).

    The webhook only extracts each element's id, stores the element in one INSERT … ON CONFLICT (key)
    DO NOTHING and answers 200 once it committed; a worker step reads `body` later (contacts,
    conversations, statuses, opt-outs) and sets `processed_at`. The sweeper re-drives what a lost
    enqueue left unprocessed. `body` is a minimal webhook body holding only this element (and its
    contacts), so an element is read exactly as if Meta had sent it alone.
    """

    # A message's or echo's wamid, a status's wamid + status + recipient, a digest for anything else:
    # Meta's redelivery of an element is acknowledged without a second row.
    key = models.CharField(_("chave"), max_length=300, unique=True)
    body = models.JSONField(_("conteúdo bruto"))
    correlation_id = models.CharField(_("ID de correlação"), max_length=64, blank=True, default="")
    received_at = models.DateTimeField(_("recebido em"))
    processed_at = models.DateTimeField(_("processado em"), null=True, blank=True)

    class Meta:
        verbose_name = _("elemento de webhook")
        verbose_name_plural = _("elementos de webhook")
        indexes = [
            # The sweeper's question: which elements are still waiting for the worker step.
            models.Index(
                fields=["received_at"], condition=models.Q(processed_at__isnull=True), name="webhookelement_waiting"
            )
        ]

    def __str__(self) -> str:
        return self.key


class QuarantinedElement(models.Model):
    """One webhook element that could not be stored, kept with its error so it never takes its batch down.

    `raw` is a minimal webhook change holding only that element (with its contacts), so a replay runs it
    through the same ingestion again.
    """

    field = models.CharField(_("campo"), max_length=64, blank=True, default="")
    element = models.CharField(_("elemento"), max_length=32, help_text=_("message, status ou change"))
    raw = models.JSONField(default=dict, verbose_name=_("conteúdo bruto"))
    error = models.TextField(_("erro"))
    dedup_key = models.CharField(max_length=64, unique=True, verbose_name=_("chave de deduplicação"))
    correlation_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("ID de correlação"))
    received_at = models.DateTimeField(_("recebido em"), auto_now_add=True, db_index=True)
    replay_count = models.PositiveSmallIntegerField(_("reprocessamentos"), default=0)
    replayed_at = models.DateTimeField(_("reprocessado em"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolvido em"), null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("elemento em quarentena")
        verbose_name_plural = _("elementos em quarentena")
        ordering = ["-received_at"]
        permissions = [("replay_quarantinedelement", _("Pode reprocessar elementos em quarentena"))]

    def __str__(self) -> str:
        return f"#{self.pk} {self.element} {self.field}: {self.error[:60]}"


class ContactAuditEntry(models.Model):
    """Every change to who a contact is or whether we may write to them: merges, id changes, opt-out/in,
    and every LGPD export or erasure of their data (who, why)."""

    class Kind(models.TextChoices):
        MERGED = "merged", _("Contatos unificados")
        IDS_CHANGED = "ids_changed", _("Identificadores alterados")
        OPTED_OUT = "opted_out", _("Descadastrou-se (opt-out)")
        OPTED_IN = "opted_in", _("Voltou a aceitar mensagens (opt-in)")
        EXPORTED = "exported", _("Dados exportados (LGPD)")
        ERASED = "erased", _("Dados apagados (LGPD)")

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="audit_entries", verbose_name=_("contato")
    )
    # Who asked, for the LGPD actions (the name at the time is also in `source`, and `detail` says why).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("feito por"),
    )
    kind = models.CharField(_("tipo"), max_length=16, choices=Kind.choices, db_index=True)
    source = models.CharField(_("origem"), max_length=64, help_text=_("O que causou a mudança."))
    detail = models.TextField(_("detalhes"), blank=True, default="")
    before = models.JSONField(_("antes"), default=dict, blank=True)
    after = models.JSONField(_("depois"), default=dict, blank=True)
    merged_contact_id = models.BigIntegerField(_("contato absorvido"), null=True, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("ID de correlação"))
    created_at = models.DateTimeField(_("quando"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("auditoria de contato")
        verbose_name_plural = _("auditoria de contatos")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — contato #{self.contact_id}"


class TransitionDecision(models.Model):
    """Every proposed state change (applied, unchanged or refused), with who, why and what caused it.

    Applied decisions link to django-fsm-log's StateLog row written in the same transaction. The
    share of applied + unchanged among all decisions is the "FSM transition success" KPI.
    """

    class ActorKind(models.TextChoices):
        BOT = "bot", _("Assistente")
        STAFF = "staff", _("Equipe")
        SYSTEM = "system", _("Sistema")

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("Aplicada")
        UNCHANGED = "unchanged", _("Sem mudança (já estava lá)")
        REFUSED = "refused", _("Recusada")

    class Refusal(models.TextChoices):
        UNKNOWN_STATE = "unknown_state", _("Estado inexistente")
        NO_TRANSITION = "no_transition", _("Nenhuma transição a partir do estado atual")
        NOT_PERMITTED = "not_permitted", _("Quem pediu não pode fazer esta transição")
        STALE = "stale", _("Decidida sobre um estado que já mudou")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="decisions", verbose_name=_("conversa")
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("criado em"))
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices, verbose_name=_("quem"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("feito por"),
    )
    source_state = models.CharField(max_length=50, verbose_name=_("estado de origem"))
    proposed_state = models.CharField(max_length=50, blank=True, default="", verbose_name=_("estado proposto"))
    transition = models.CharField(max_length=64, blank=True, default="", verbose_name=_("transição"))
    outcome = models.CharField(max_length=16, choices=Outcome.choices, verbose_name=_("resultado"))
    refusal = models.CharField(max_length=16, choices=Refusal.choices, blank=True, default="", verbose_name=_("recusa"))
    reason = models.TextField(
        blank=True, default="", help_text=_("O motivo dado pelo LLM ou a nota da equipe."), verbose_name=_("motivo")
    )
    detail = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text=_("Por que a proposta foi recusada."),
        verbose_name=_("detalhe"),
    )
    message = models.ForeignKey(
        "Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="transition_decisions",
        verbose_name=_("mensagem"),
    )
    correlation_id = models.CharField(
        max_length=64, blank=True, default="", db_index=True, verbose_name=_("ID de correlação")
    )
    state_log = models.OneToOneField(
        StateLog,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="decision",
        verbose_name=_("registro da transição"),
    )

    class Meta:
        verbose_name = _("decisão de estado")
        verbose_name_plural = _("decisões de estado")
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="decision_conversation_idx"),
            models.Index(fields=["actor_kind", "created_at"], name="decision_kpi_idx"),
        ]

    def __str__(self) -> str:
        target = self.proposed_state or self.transition
        return f"{self.get_outcome_display()}: {self.source_state} → {target}"

    @property
    def target_state(self) -> str:
        """Where the conversation ended: the proposed state when applied, else where it stayed."""
        return self.proposed_state if self.outcome == self.Outcome.APPLIED else self.source_state


class HandoffSummary(models.Model):
    """What staff read before answering a handed-over customer, written by the LLM at handoff time.

    Without an LLM (or when its call fails) the inbox builds the same three parts from the timeline.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="handoff_summaries", verbose_name=_("conversa")
    )
    decision = models.OneToOneField(
        TransitionDecision, on_delete=models.CASCADE, related_name="handoff_summary", verbose_name=_("transferência")
    )
    customer_wants = models.TextField(_("o que o cliente quer"))
    bot_said = models.TextField(_("o que o assistente já disse"))
    why = models.TextField(_("por que passou para uma pessoa"))
    created_at = models.DateTimeField(_("criado em"), auto_now_add=True)

    class Meta:
        verbose_name = _("resumo da transferência")
        verbose_name_plural = _("resumos das transferências")

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} #{self.decision_id}"


class DeadLetter(models.Model):
    """A run or a send that could not complete, with its error; an operator replays or resolves it."""

    class Stage(models.TextChoices):
        RUN = "run", _("Execução (não respondida a tempo)")
        FINALIZE = "finalize", _("Finalização")
        SEND = "send", _("Envio")

    stage = models.CharField(max_length=16, choices=Stage.choices, verbose_name=_("etapa"))
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="dead_letters", verbose_name=_("conversa")
    )
    message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dead_letters",
        verbose_name=_("mensagem"),
    )
    run_key = models.CharField(max_length=64, blank=True, default="", verbose_name=_("execução"))
    error = models.TextField(verbose_name=_("erro"))
    error_code = models.CharField(max_length=64, blank=True, default="", verbose_name=_("código do erro"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("criado em"))
    replay_count = models.PositiveSmallIntegerField(default=0, verbose_name=_("reprocessamentos"))
    replayed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("reprocessado em"))
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("resolvido em"))

    class Meta:
        verbose_name = _("falha a reprocessar")
        verbose_name_plural = _("falhas a reprocessar")
        ordering = ["-created_at"]
        permissions = [("replay_deadletter", _("Pode reprocessar falhas"))]

    def __str__(self) -> str:
        return f"{_('Falha')} nº {self.pk} ({self.get_stage_display()}): {self.error[:60]}"
