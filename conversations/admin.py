"""Admin for conversations: the staff queue, the timeline, permission-checked transition buttons."""

from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _
from django_fsm.admin import FSMAdminMixin

from conversations.admin_kpis import KPIAdminMixin
from conversations.admin_privacy import PrivacyActionsMixin
from conversations.models import (
    Contact,
    ContactAuditEntry,
    Conversation,
    DeadLetter,
    DeliveryStatus,
    Message,
    MessageTemplate,
    QuarantinedElement,
    SendPurpose,
    StaffAlert,
    TransitionDecision,
    UnhandledEvent,
    WebhookEvent,
)
from conversations.selectors import conversation_timeline
from conversations.services.ingestion import quarantine_replay
from conversations.services.planner import send_plan
from conversations.services.replies import StaffReplyRefused
from conversations.services.state import conversation_staff_transition
from conversations.services.templates import templates_sync, templates_sync_configured
from conversations.states import Perm, State, transition_label
from pyloto.errors import PylotoError
from pyloto.observability.masking import mask_identifier
from pyloto.pipeline.dispatch import dead_letter_replay, ingested_follow_ups_enqueue, staff_reply_send
from pyloto.whatsapp.payloads import TextMessage


def _pretty_json(data: object) -> str:
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(data, indent=2, ensure_ascii=False))


class ReadOnlyAdminMixin:
    """Rows written by the webhook and the pipeline: staff look, never edit."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class WaitingForHumanFilter(admin.SimpleListFilter):
    title = _("aguardando uma pessoa")
    parameter_name = "waiting"
    _AGES = {"any": timedelta(0), "15m": timedelta(minutes=15), "1h": timedelta(hours=1), "24h": timedelta(hours=24)}

    def lookups(self, request, model_admin):
        return [
            ("any", _("Aguardando (qualquer tempo)")),
            ("15m", _("Aguardando há mais de 15 minutos")),
            ("1h", _("Aguardando há mais de 1 hora")),
            ("24h", _("Aguardando há mais de 24 horas")),
        ]

    def queryset(self, request, queryset):
        age = self._AGES.get(self.value() or "")
        if age is None:
            return queryset
        return queryset.filter(state=State.HANDOFF_REQUESTED, handoff_requested_at__lte=timezone.now() - age).order_by(
            "handoff_requested_at"
        )


class TransitionNoteForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
        label=_("Motivo"),
        help_text=_("Fica na trilha de auditoria da conversa."),
    )


@admin.register(Conversation)
class ConversationAdmin(KPIAdminMixin, FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["state"]
    change_form_template = "conversations/admin/conversation_change_form.html"
    fsm_transition_form_template = "conversations/admin/transition_form.html"
    # These transitions ask the staff member for a note before they run.
    fsm_forms = {
        "return_to_bot": TransitionNoteForm,
        "resolve_handoff": TransitionNoteForm,
        "send_proposal": TransitionNoteForm,
        "close_contract": TransitionNoteForm,
    }
    list_display = ["id", "contact_masked", "state", "waiting_for", "assigned_to", "last_activity_at", "started_at"]
    list_filter = ["state", WaitingForHumanFilter]
    list_select_related = ["contact", "assigned_to"]
    search_fields = ["=id", "=contact__wa_id", "=contact__user_id"]
    ordering = ["-last_activity_at"]
    readonly_fields = [
        "contact_masked",
        "state",
        "started_at",
        "last_activity_at",
        "last_inbound_at",
        "closed_at",
        "handoff_requested_at",
        "waiting_for",
        "assigned_to",
        "run_started_at",
        "run_lease_expires_at",
        "timeline",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "contact_masked",
                    "state",
                    ("started_at", "last_activity_at", "last_inbound_at", "closed_at"),
                    ("handoff_requested_at", "waiting_for", "assigned_to"),
                    ("run_started_at", "run_lease_expires_at"),
                ]
            },
        ),
        (_("Linha do tempo"), {"fields": ["timeline"], "classes": ["wide"]}),
    ]

    @admin.display(description=_("contato"))
    def contact_masked(self, conversation: Conversation) -> str:
        contact = conversation.contact
        name = contact.profile_name or _("Contato nº %(id)s") % {"id": contact.pk}
        return f"{name} ({mask_identifier(contact.wa_id or contact.user_id)})"

    @admin.display(description=_("aguardando há"))
    def waiting_for(self, conversation: Conversation) -> str:
        if conversation.state != State.HANDOFF_REQUESTED or conversation.handoff_requested_at is None:
            return "—"
        return timesince(conversation.handoff_requested_at)

    @admin.display(description=_("linha do tempo"))
    def timeline(self, conversation: Conversation) -> str:
        return render_to_string(
            "conversations/admin/timeline.html",
            {"entries": conversation_timeline(conversation_id=conversation.pk)},
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Conversations are the audit trail's anchor; they are never deleted from the admin.
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Every field is read-only: "change" here means pressing a transition button, which the
        # transition's own permission guards again.
        user = request.user
        return user.has_perm("conversations.change_conversation") or any(
            user.has_perm(perm) for perm in (Perm.HANDLE, Perm.COMMIT_PRICE, Perm.CLOSE_CONTRACT)
        )

    def save_model(self, request, obj, form, change) -> None:
        # Nothing is editable; state changes go through the service in _apply_fsm_transition, and a
        # stale full save here could overwrite what ingestion wrote meanwhile.
        return None

    def get_urls(self) -> list:
        reply = path("<int:object_id>/reply/", self.admin_site.admin_view(self.reply_view), name="conversations_reply")
        save_as_scenario = path(
            "<int:object_id>/save-as-scenario/",
            self.admin_site.admin_view(self.save_as_scenario_view),
            name="conversations_save_as_scenario",
        )
        return [reply, save_as_scenario, *super().get_urls()]

    def save_as_scenario_view(self, request: HttpRequest, object_id: int) -> HttpResponseRedirect:
        """Turn this conversation into a golden scenario (PII masked) and open it for editing (POST only)."""
        from evals.services import scenario_from_conversation

        back = reverse("admin:conversations_conversation_change", args=[object_id])
        if request.method != "POST":
            return HttpResponseRedirect(back)
        if not request.user.has_perm("evals.add_scenario"):
            raise PermissionDenied
        try:
            scenario = scenario_from_conversation(conversation_id=object_id)
        except ValueError as exc:
            self.message_user(request, _("Não foi possível salvar como cenário: %s") % exc, level=messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(
            request,
            _("Cenário salvo. Revise o que deve e o que não deve ser dito antes de confiar nele."),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:evals_scenario_change", args=[scenario.pk]))

    def reply_view(self, request: HttpRequest, object_id: int) -> HttpResponseRedirect:
        """The staff member's message to the customer, from the box under the timeline (POST only)."""
        back = reverse("admin:conversations_conversation_change", args=[object_id])
        if request.method != "POST":
            return HttpResponseRedirect(back)
        try:
            staff_reply_send(conversation_id=object_id, user=request.user, text=request.POST.get("text", ""))
        except StaffReplyRefused as refusal:
            self.message_user(request, _("Não enviada: %(reason)s") % {"reason": refusal}, level=messages.ERROR)
        else:
            self.message_user(request, _("Enviada ao cliente."), level=messages.SUCCESS)
        return HttpResponseRedirect(back)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversation = Conversation.objects.select_related("contact").filter(pk=object_id).first()
        can_reply = bool(
            conversation and conversation.state == State.HUMAN_ACTIVE and request.user.has_perm(Perm.HANDLE)
        )
        # How a reply written now would go out (free-form, as the mapped template, or not at all and why).
        reply_plan = (
            send_plan(
                conversation=conversation,
                purpose=SendPurpose.STAFF_REPLY,
                message=TextMessage(body=str(_("(sua resposta)"))),
            )
            if can_reply and conversation
            else None
        )
        extra_context = {
            **(extra_context or {}),
            # The reply box shows once a person has taken the conversation.
            "can_reply": can_reply,
            "reply_plan": reply_plan,
            "staff_alerts": StaffAlert.objects.filter(conversation_id=object_id, resolved_at__isnull=True)[:20],
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
            "can_save_as_scenario": request.user.has_perm("evals.add_scenario"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None) -> bool:
        """Run the button's transition through the state service (lock, permission, audit)."""
        note = str((kwargs or {}).get("note", ""))
        outcome = conversation_staff_transition(
            conversation_id=obj.pk, user=request.user, transition=transition_name, note=note
        )
        label = transition_label(transition_name)
        if outcome.refused:
            self.message_user(
                request,
                _("“%(action)s” não foi feito: %(reason)s") % {"action": label, "reason": outcome.detail},
                level=messages.ERROR,
            )
            return False
        self.message_user(
            request,
            _("“%(action)s” feito: a conversa passou de “%(source)s” para “%(target)s”.")
            % {"action": label, "source": State(outcome.source_state).label, "target": State(outcome.state).label},
            messages.SUCCESS,
        )
        return True


class ContactAuditInline(admin.TabularInline):
    model = ContactAuditEntry
    fields = ["created_at", "kind", "source", "detail", "merged_contact_id"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-created_at"]
    verbose_name = _("registro de auditoria")
    verbose_name_plural = _("auditoria (unificações, mudanças de identificador, opt-out)")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class OptedOutFilter(admin.SimpleListFilter):
    title = _("opt-out")
    parameter_name = "opted_out"

    def lookups(self, request, model_admin):
        return [("yes", _("Descadastrados")), ("no", _("Recebem mensagens"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(opted_out_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(opted_out_at__isnull=True)
        return queryset


@admin.register(Contact)
class ContactAdmin(PrivacyActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "wa_id_masked", "user_id_masked", "profile_name", "opted_out_at", "erased_at", "created_at"]
    list_filter = [OptedOutFilter]
    actions = ["export_data", "erase_data"]
    search_fields = ["=wa_id", "=user_id", "profile_name"]
    ordering = ["-created_at"]
    exclude = ["wa_id", "user_id", "parent_user_id"]
    readonly_fields = ["wa_id_masked", "user_id_masked", "opted_out_at", "opt_out_source", "erased_at"]
    inlines = [ContactAuditInline]

    @admin.display(description=_("WhatsApp ID"))
    def wa_id_masked(self, contact: Contact) -> str:
        return mask_identifier(contact.wa_id)

    @admin.display(description=_("ID de usuário"))
    def user_id_masked(self, contact: Contact) -> str:
        return mask_identifier(contact.user_id)


class AmbiguousSendFilter(admin.SimpleListFilter):
    """Replies whose send outcome was unknown: staff check them with the customer if needed."""

    title = _("envio incerto")
    parameter_name = "ambiguous_send"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("waiting", _("Aguardando confirmação do WhatsApp")),
            ("resent", _("Reenviada sem confirmação (o cliente pode ter recebido duas vezes)")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> QuerySet[Message]:
        if self.value() == "waiting":
            return queryset.filter(status=Message.Status.SENDING, send_ambiguous_since__isnull=False)
        if self.value() == "resent":
            return queryset.filter(direction=Message.Direction.OUTBOUND, status_reason__startswith="resent")
        return queryset


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "conversation_link", "direction", "type", "status", "provider", "short_text", "created_at"]
    list_filter = ["direction", "status", "type", "provider", AmbiguousSendFilter]
    list_select_related = ["conversation"]
    search_fields = ["=wamid", "=correlation_id"]
    ordering = ["-created_at"]
    exclude = ["raw"]
    readonly_fields = ["raw_json"]

    @admin.display(description=_("conversa"))
    def conversation_link(self, message: Message) -> str:
        url = reverse("admin:conversations_conversation_change", args=[message.conversation_id])
        return format_html('<a href="{}">#{}</a>', url, message.conversation_id)

    @admin.display(description=_("texto"))
    def short_text(self, message: Message) -> str:
        return message.text[:80]

    @admin.display(description=_("conteúdo bruto"))
    def raw_json(self, message: Message) -> str:
        return _pretty_json(message.raw)


@admin.register(DeliveryStatus)
class DeliveryStatusAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "status", "wamid", "message", "timestamp", "received_at"]
    list_filter = ["status"]
    search_fields = ["=wamid", "=correlation_id"]
    ordering = ["-received_at"]
    exclude = ["raw"]
    readonly_fields = ["raw_json"]

    @admin.display(description=_("conteúdo bruto"))
    def raw_json(self, delivery_status: DeliveryStatus) -> str:
        return _pretty_json(delivery_status.raw)


@admin.register(UnhandledEvent)
class UnhandledEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "field", "reason", "received_at"]
    list_filter = ["field"]
    ordering = ["-received_at"]
    exclude = ["raw"]
    readonly_fields = ["raw_json"]

    @admin.display(description=_("conteúdo bruto"))
    def raw_json(self, event: UnhandledEvent) -> str:
        return _pretty_json(event.raw)


@admin.register(TransitionDecision)
class TransitionDecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every proposed state change; filter by outcome to see what the FSM refused and why."""

    list_display = [
        "created_at",
        "conversation",
        "actor_kind",
        "actor",
        "source_state",
        "proposed_state",
        "transition",
        "outcome",
        "refusal",
    ]
    list_filter = ["outcome", "actor_kind", "refusal", "source_state"]
    list_select_related = ["conversation", "actor"]
    search_fields = ["=correlation_id", "=conversation__id"]
    ordering = ["-created_at"]


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What could not be answered or sent, with its error; ops replay it once the cause is fixed."""

    list_display = [
        "id",
        "stage",
        "conversation_link",
        "error_code",
        "short_error",
        "replay_count",
        "resolved_at",
        "created_at",
    ]
    list_filter = ["stage", "error_code", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["=run_key", "error"]
    ordering = ["-created_at"]
    actions = ["replay"]

    @admin.display(description=_("conversa"))
    def conversation_link(self, dead_letter: DeadLetter) -> str:
        url = reverse("admin:conversations_conversation_change", args=[dead_letter.conversation_id])
        return format_html('<a href="{}">#{}</a>', url, dead_letter.conversation_id)

    @admin.display(description=_("erro"))
    def short_error(self, dead_letter: DeadLetter) -> str:
        return dead_letter.error[:100]

    @admin.action(description=_("Reprocessar as falhas selecionadas"), permissions=["replay"])
    def replay(self, request: HttpRequest, queryset) -> None:
        outcomes = [dead_letter_replay(dead_letter_id=pk) for pk in queryset.values_list("pk", flat=True)]
        replayed = sum(outcome != "already_resolved" for outcome in outcomes)
        self.message_user(
            request,
            _("%(replayed)d reprocessada(s); %(resolved)d já estava(m) resolvida(s).")
            % {"replayed": replayed, "resolved": len(outcomes) - replayed},
            messages.SUCCESS,
        )

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("conversations.replay_deadletter")


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """WhatsApp's templates (synced) and the product team's mapping: which one goes out for what."""

    list_display = ["name", "language", "category", "status", "purpose", "synced_at"]
    list_filter = ["status", "category", "purpose", "language"]
    search_fields = ["name"]
    readonly_fields = ["graph_id", "status_reason", "synced_at", "updated_at", "body_preview"]
    fields = [
        ("name", "language"),
        ("category", "status"),
        "components",
        "body_preview",
        "purpose",
        "parameter_sources",
        ("graph_id", "status_reason", "synced_at", "updated_at"),
    ]
    actions = ["sync_from_whatsapp"]

    @admin.display(description=_("corpo"))
    def body_preview(self, template: MessageTemplate) -> str:
        return template.body_text or "—"

    @admin.action(description=_("Sincronizar modelos com o WhatsApp"))
    def sync_from_whatsapp(self, request: HttpRequest, queryset) -> None:
        if not templates_sync_configured():
            self.message_user(
                request, _("Defina WHATSAPP_BUSINESS_ACCOUNT_ID para sincronizar com o WhatsApp."), messages.WARNING
            )
            return
        try:
            result = templates_sync()
        except PylotoError as exc:
            self.message_user(
                request, _("O WhatsApp recusou a sincronização: %(error)s") % {"error": exc}, messages.ERROR
            )
            return
        self.message_user(
            request,
            _("Sincronizado: %(created)d novo(s), %(updated)d atualizado(s), %(deleted)d removido(s).")
            % {"created": result.created, "updated": result.updated, "deleted": result.deleted},
            messages.SUCCESS,
        )


@admin.register(StaffAlert)
class StaffAlertAdmin(admin.ModelAdmin):
    """Messages that did not reach the customer, and why; a person resolves each one."""

    list_display = ["created_at", "kind", "conversation_link", "short_text", "error_code", "resolved_at"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["conversation", "message", "kind", "text", "error_code", "created_at", "resolved_at"]
    actions = ["resolve"]

    @admin.display(description=_("conversa"))
    def conversation_link(self, alert: StaffAlert) -> str:
        url = reverse("admin:conversations_conversation_change", args=[alert.conversation_id])
        return format_html('<a href="{}">#{}</a>', url, alert.conversation_id)

    @admin.display(description=_("o que aconteceu"))
    def short_text(self, alert: StaffAlert) -> str:
        return alert.text[:120]

    @admin.action(description=_("Marcar como resolvido"))
    def resolve(self, request: HttpRequest, queryset) -> None:
        count = queryset.filter(resolved_at__isnull=True).update(resolved_at=timezone.now())
        self.message_user(request, _("%(count)d alerta(s) resolvido(s).") % {"count": count}, messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What Meta reported besides customer messages: calls, templates, account, groups, identity, preferences."""

    list_display = ["id", "field", "kind", "summary", "contact", "received_at"]
    list_filter = ["field", "kind"]
    search_fields = ["=correlation_id", "summary"]
    ordering = ["-received_at"]
    exclude = ["raw"]
    readonly_fields = ["raw_json"]

    @admin.display(description=_("conteúdo recebido"))
    def raw_json(self, event: WebhookEvent) -> str:
        return _pretty_json(event.raw)


@admin.register(QuarantinedElement)
class QuarantinedElementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Webhook elements that could not be stored, with their error; reprocess them once the cause is fixed."""

    list_display = ["id", "element", "field", "short_error", "replay_count", "resolved_at", "received_at"]
    list_filter = ["element", "field", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["=correlation_id", "error"]
    ordering = ["-received_at"]
    exclude = ["raw"]
    readonly_fields = ["raw_json"]
    actions = ["replay"]

    @admin.display(description=_("erro"))
    def short_error(self, element: QuarantinedElement) -> str:
        return element.error[:100]

    @admin.display(description=_("conteúdo recebido"))
    def raw_json(self, element: QuarantinedElement) -> str:
        return _pretty_json(element.raw)

    @admin.action(description=_("Reprocessar os elementos selecionados"), permissions=["replay"])
    def replay(self, request: HttpRequest, queryset) -> None:
        outcomes = []
        for pk in queryset.values_list("pk", flat=True):
            replay = quarantine_replay(quarantined_id=pk)
            ingested_follow_ups_enqueue(replay.ingested)
            outcomes.append(replay.outcome)
        self.message_user(
            request,
            _("Reprocessados: %(ok)d; ainda com erro: %(failing)d; já resolvidos: %(done)d.")
            % {
                "ok": outcomes.count("replayed"),
                "failing": outcomes.count("still_failing"),
                "done": outcomes.count("already_resolved"),
            },
            messages.SUCCESS,
        )

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("conversations.replay_quarantinedelement")
