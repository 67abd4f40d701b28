"""Admin for the product team: edit drafts, preview the prompt, test text, publish and roll back."""

from __future__ import annotations

import string
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from institutional import selectors, services
from institutional.guard import check_reply, normalize_text, normalize_words
from institutional.hours import business_hours_status
from institutional.models import (
    BusinessHours,
    ClosedDay,
    CompanyProfile,
    Constraint,
    Faq,
    FaqTranslation,
    GuardViolation,
    OpeningPeriod,
    Policy,
    PolicyJudgement,
    ProfileTranslation,
    PromptTemplate,
    PromptVariant,
    Release,
    ReleaseActivation,
    ReleasePointer,
    SpendingBudget,
)
from institutional.permissions import PUBLISH_PERMISSION, ROLLBACK_PERMISSION, VIEW_RELEASE_PERMISSION
from institutional.snapshot import DEFAULT_BUDGET_CHARS, TEMPLATE_NAMES, ReleaseSnapshot

DRAFT_NOTE = "Rascunho: as mudanças só chegam ao assistente depois de publicar um release."


class DraftAdmin(admin.ModelAdmin):
    """Content edited here is a draft; the changelist says so and links to preview and publish."""

    change_list_template = "admin/institutional/draft_change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "draft_note": DRAFT_NOTE}
        return super().changelist_view(request, extra_context=extra_context)


class ProfileTranslationInline(admin.TabularInline):
    model = ProfileTranslation
    extra = 0
    fields = ("language", "description")


@admin.register(CompanyProfile)
class CompanyProfileAdmin(DraftAdmin):
    inlines = (ProfileTranslationInline,)
    list_display = ("name", "service_hours", "default_language", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "description", "services")}),
        ("Atendimento", {"fields": ("service_hours", "channels", "tone_of_voice", "default_language")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # There is one profile: once it exists it is edited, never added again.
        return super().has_add_permission(request) and not CompanyProfile.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FaqTranslationInline(admin.StackedInline):
    """Translations answer customers who write in another language; without one they get a polite note."""

    model = FaqTranslation
    extra = 0
    fields = ("language", "question", "answer", "keywords")


@admin.register(Faq)
class FaqAdmin(DraftAdmin):
    inlines = (FaqTranslationInline,)
    list_display = ("question", "priority", "is_active", "updated_at")
    list_editable = ("priority", "is_active")
    list_filter = ("is_active",)
    search_fields = ("question", "answer", "keywords")
    fields = ("question", "answer", "keywords", "priority", "is_active")


@admin.register(Policy)
class PolicyAdmin(DraftAdmin):
    list_display = ("title", "priority", "is_active", "updated_at")
    list_editable = ("priority", "is_active")
    list_filter = ("is_active",)
    search_fields = ("title", "body")
    fields = ("title", "body", "priority", "is_active")


@admin.register(PromptVariant)
class PromptVariantAdmin(DraftAdmin):
    """Prompt experiments: a variant runs live on a share of contacts, in shadow, or only in `make eval`."""

    list_display = ("name", "mode", "traffic_percent", "version", "is_active", "updated_at")
    list_filter = ("mode", "is_active")
    fields = (
        "name",
        "description",
        "mode",
        "traffic_percent",
        "version",
        "decide_state_text",
        "write_reply_text",
        "choose_message_type_text",
        "is_active",
    )
    actions = ("promote",)

    @admin.action(description=_("Promover: virar o prompt base (depois publique um release)"))
    def promote(self, request: HttpRequest, queryset: QuerySet[PromptVariant]) -> None:
        if not request.user.has_perm("institutional.change_prompttemplate"):
            raise PermissionDenied
        if queryset.count() != 1:
            self.message_user(request, _("Promova uma variante por vez."), level=messages.ERROR)
            return
        variant = queryset.get()
        replaced = services.prompt_variant_promote(variant_id=variant.pk, user=request.user)
        self.message_user(
            request,
            _("Variante %(name)s promovida (%(templates)s). Publique um release para valer para todos.")
            % {"name": variant.name, "templates": ", ".join(replaced)},
            level=messages.SUCCESS,
        )


@admin.register(Constraint)
class ConstraintAdmin(DraftAdmin):
    list_display = ("title", "slug", "severity", "action", "is_active", "is_builtin")
    list_filter = ("severity", "action", "is_active", "is_builtin")
    search_fields = ("title", "slug", "description", "phrases", "patterns")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("is_builtin",)
    fields = (
        "title",
        "slug",
        "description",
        "phrases",
        "patterns",
        "severity",
        "action",
        "amounts_in_context",
        "safe_replacement",
        "must_block_examples",
        "must_pass_examples",
        "is_active",
        "is_builtin",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Constraint | None = None) -> tuple[str, ...]:
        # Built-in rules keep their identifier: the runtime recognises them by it.
        if obj is not None and obj.is_builtin:
            return ("slug", "is_builtin")
        return self.readonly_fields


@admin.register(PromptTemplate)
class PromptTemplateAdmin(DraftAdmin):
    list_display = ("name", "version", "updated_at")
    fields = ("name", "version", "text")

    def get_readonly_fields(self, request: HttpRequest, obj: PromptTemplate | None = None) -> tuple[str, ...]:
        return ("name",) if obj is not None else ()


class PublishForm(forms.Form):
    note = forms.CharField(
        label="Nota",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="O que muda e por quê. Fica gravada no release.",
    )


class RollbackForm(forms.Form):
    note = forms.CharField(
        label="Motivo",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Por que voltar para este release (fica no histórico de ativações).",
    )


class TestTextForm(forms.Form):
    AGAINST_CHOICES = (("draft", "Rascunho atual"), ("current", "Release publicado"))

    text = forms.CharField(
        label="Texto",
        widget=forms.Textarea(attrs={"rows": 8, "cols": 100}),
        help_text="Uma resposta como o assistente a mandaria.",
    )
    labels = forms.CharField(
        label="Botões, itens de lista e legendas",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 100}),
        help_text="Opcional, um por linha.",
    )
    against = forms.ChoiceField(label="Comparar com", choices=AGAINST_CHOICES, initial="draft")


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    """Releases are read-only records; publishing and rolling back are the only ways to change what is live."""

    list_display = ("number", "created_at", "created_by_name", "note", "live")
    readonly_fields = ("number", "created_at", "created_by_name", "note", "content_hash", "formatted_snapshot")
    fields = readonly_fields
    actions = ("rollback_selected",)
    change_list_template = "admin/institutional/release_change_list.html"
    change_form_template = "admin/institutional/release_change_form.html"

    # --- read-only -------------------------------------------------------------------------------
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_rollback_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ROLLBACK_PERMISSION)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Release]:
        live = ReleasePointer.objects.filter(release=OuterRef("pk"))
        return super().get_queryset(request).annotate(is_live=Exists(live))

    @admin.display(description="ao vivo", boolean=True)
    def live(self, obj: Release) -> bool:
        return bool(getattr(obj, "is_live", False))

    @admin.display(description="conteúdo")
    def formatted_snapshot(self, obj: Release) -> str:
        """The release as readable sections (profile, FAQ, policies, constraints, prompts), not its JSON."""
        content = obj.snapshot or {}
        return render_to_string(
            "admin/institutional/_release_content.html",
            {"content": content, "templates": sorted((content.get("templates") or {}).items())},
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        current = selectors.release_get_current()
        context = {
            **(extra_context or {}),
            "live_release": current,
            "can_publish": request.user.has_perm(PUBLISH_PERMISSION),
        }
        return super().changelist_view(request, extra_context=context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        release = self.get_object(request, unquote(object_id))
        if release is None:
            # Unknown id: Django's own view answers with its usual message and redirect.
            return super().change_view(request, object_id, form_url, extra_context=extra_context)
        current = selectors.release_get_current()
        context = {
            **(extra_context or {}),
            "diff": services.release_diff(release=release),
            "is_live": current is not None and current.pk == release.pk,
            "can_rollback": request.user.has_perm(ROLLBACK_PERMISSION),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    # --- actions ---------------------------------------------------------------------------------
    @admin.action(description="Voltar para o release selecionado (rollback)", permissions=["rollback"])
    def rollback_selected(self, request: HttpRequest, queryset: QuerySet[Release]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Selecione exatamente um release para o rollback.", messages.WARNING)
            return None
        release = queryset.get()
        return HttpResponseRedirect(reverse("admin:institutional_release_rollback", args=[release.pk]))

    # --- custom pages ----------------------------------------------------------------------------
    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        custom = [
            path("publish/", wrap(self.publish_view), name="institutional_release_publish"),
            path("preview/", wrap(self.preview_view), name="institutional_release_preview"),
            path("test-text/", wrap(self.test_text_view), name="institutional_release_test_text"),
            path("<int:pk>/rollback/", wrap(self.rollback_view), name="institutional_release_rollback"),
        ]
        return custom + super().get_urls()

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "changelist_url": reverse("admin:institutional_release_changelist"),
            **extra,
        }

    def publish_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(PUBLISH_PERMISSION):
            raise PermissionDenied
        current = selectors.release_get_current()
        draft = selectors.draft_snapshot()
        form = PublishForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                release = services.release_publish(user=request.user, note=form.cleaned_data["note"])
            except services.ReleaseError as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"Release {release.number} publicado e já em uso pelo assistente.")
                return HttpResponseRedirect(reverse("admin:institutional_release_change", args=[release.pk]))
        diff = services.snapshot_diff(before=current.snapshot if current else None, after=draft.content())
        return TemplateResponse(
            request,
            "admin/institutional/publish.html",
            self._context(request, "Publicar o rascunho", form=form, diff=diff, live_release=current),
        )

    def rollback_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm(ROLLBACK_PERMISSION):
            raise PermissionDenied
        release = get_object_or_404(Release, pk=pk)
        current = selectors.release_get_current()
        form = RollbackForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.release_rollback(release=release, user=request.user, note=form.cleaned_data["note"])
            except services.ReleaseError as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"Release {release.number} voltou a ser o atual.")
                return HttpResponseRedirect(reverse("admin:institutional_release_changelist"))
        diff = services.snapshot_diff(before=current.snapshot if current else None, after=release.snapshot)
        return TemplateResponse(
            request,
            "admin/institutional/rollback.html",
            self._context(
                request,
                f"Voltar para o release {release.number}",
                form=form,
                release=release,
                live_release=current,
                diff=diff,
            ),
        )

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(VIEW_RELEASE_PERMISSION):
            raise PermissionDenied
        columns = [
            ("Rascunho (o que será publicado)", selectors.draft_snapshot()),
            ("Release em uso pelo assistente", selectors.current_release()),
        ]
        return TemplateResponse(
            request,
            "admin/institutional/preview.html",
            self._context(
                request,
                "Prévia do contexto enviado ao LLM",
                budget=DEFAULT_BUDGET_CHARS,
                columns=[_preview_column(label, snapshot) for label, snapshot in columns],
            ),
        )

    def test_text_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(VIEW_RELEASE_PERMISSION):
            raise PermissionDenied
        form = TestTextForm(request.POST or None)
        outcome = None
        if request.method == "POST" and form.is_valid():
            snapshot = (
                selectors.draft_snapshot() if form.cleaned_data["against"] == "draft" else selectors.current_release()
            )
            labels = [line.strip() for line in form.cleaned_data["labels"].splitlines() if line.strip()]
            result = check_reply(release=snapshot, text=form.cleaned_data["text"], labels=labels)
            titles = {rule.slug: rule.title for rule in snapshot.constraints}
            layers = dict(GuardViolation.Layer.choices)
            outcome = {
                "result": result,
                "rows": [
                    {
                        "violation": v,
                        "title": titles.get(v.constraint_slug, v.constraint_slug),
                        "layer": layers.get(v.layer, v.layer),
                    }
                    for v in result.violations
                ],
                "normalized": normalize_text(form.cleaned_data["text"]),
                "normalized_words": normalize_words(form.cleaned_data["text"]),
                "release_label": "rascunho" if snapshot.number < 0 else f"release {snapshot.number}",
            }
        return TemplateResponse(
            request,
            "admin/institutional/test_text.html",
            self._context(request, "Testar um texto contra as restrições", form=form, outcome=outcome),
        )


def _preview_column(label: str, snapshot: ReleaseSnapshot) -> dict[str, Any]:
    report = snapshot.context_report()
    templates = []
    for name in TEMPLATE_NAMES:
        template = snapshot.templates.get(name)
        if template is None:
            continue
        # The context goes in exactly; the run's own values stay visible as $names.
        rendered = _safe_render(template.text, context=report.text)
        templates.append({"name": name, "version": template.version, "text": rendered})
    return {
        "label": label,
        "number": snapshot.number,
        "report": report,
        "chars": len(report.text),
        "templates": templates,
    }


def _safe_render(text: str, **values: str) -> str:
    return string.Template(text).safe_substitute(values)


@admin.register(ReleaseActivation)
class ReleaseActivationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "release", "previous", "user_name", "note")
    list_filter = ("kind",)
    readonly_fields = ("created_at", "kind", "release", "previous", "user_name", "note")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(GuardViolation)
class GuardViolationAdmin(admin.ModelAdmin):
    """The promise ledger: every blocked or replaced reply, filterable by rule, layer, action and date."""

    list_display = (
        "created_at",
        "constraint_slug",
        "layer",
        "severity",
        "action",
        "conversation_id",
        "release_number",
    )
    list_filter = ("layer", "action", "severity", "constraint_slug", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("correlation_id", "constraint_slug", "rule")
    readonly_fields = (
        "created_at",
        "conversation",
        "release_number",
        "constraint_slug",
        "layer",
        "severity",
        "action",
        "rule",
        "matched",
        "excerpt",
        "correlation_id",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PolicyJudgement)
class PolicyJudgementAdmin(admin.ModelAdmin):
    """The policy judge's verdicts beside the guard's (shadow or enforce mode)."""

    list_display = ("created_at", "mode", "verdict", "guard_allowed", "agreed", "constraint_slug", "conversation_id")
    list_filter = ("mode", "verdict", "agreed", "guard_allowed", "created_at")
    date_hierarchy = "created_at"
    readonly_fields = (
        "created_at",
        "conversation",
        "mode",
        "guard_allowed",
        "verdict",
        "agreed",
        "constraint_slug",
        "reason",
        "correlation_id",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OpeningPeriodInline(admin.TabularInline):
    model = OpeningPeriod
    extra = 0


class ClosedDayInline(admin.TabularInline):
    model = ClosedDay
    extra = 0


@admin.register(BusinessHours)
class BusinessHoursAdmin(admin.ModelAdmin):
    """The team's weekly hours, time zone, holidays (national + the chosen state's) and extra closed days."""

    inlines = [OpeningPeriodInline, ClosedDayInline]
    fields = ["time_zone", "state", "observe_national_holidays", "status_now"]
    readonly_fields = ["status_now"]

    @admin.display(description=_("agora"))
    def status_now(self, hours: BusinessHours) -> str:
        if not hours.pk:
            return "—"
        status = business_hours_status()
        if not status.configured:
            return str(_("Sem períodos cadastrados: a equipe conta como sempre disponível."))
        if status.is_open:
            return str(_("Aberto."))
        return str(
            _("Fechado (%(why)s). Próxima abertura: %(when)s.")
            % {"why": status.holiday or status.closed_reason, "when": status.next_opening_text() or "—"}
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not BusinessHours.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(SpendingBudget)
class SpendingBudgetAdmin(admin.ModelAdmin):
    """The monthly budget (BRL) the alerts and the KPIs page measure WhatsApp and LLM spend against."""

    fields = ["monthly_limit_brl", "usd_to_brl"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not SpendingBudget.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
