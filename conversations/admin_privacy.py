"""The contact list's LGPD actions in the admin: export a contact's data as JSON, erase it; both ask why."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations.services.privacy import contact_erase, contact_export


class PrivacyReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Motivo"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        max_length=2000,
        help_text=_("Fica na auditoria da LGPD com o seu nome, ex.: “o titular pediu em 01/12 por e-mail”."),
    )


class PrivacyActionsMixin:
    """The contact list's LGPD actions: export as JSON, erase (anonymise); each asks why first, both audited."""

    admin_site: Any
    model: Any
    message_user: Callable[..., None]

    def _confirm(
        self,
        request: HttpRequest,
        queryset: Any,
        *,
        action: str,
        title: Any,
        explanation: Any,
        submit_label: Any,
        run: Callable[[list[int], str], HttpResponse | None],
    ) -> HttpResponse | None:
        form = PrivacyReasonForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if form.is_bound and form.is_valid():
            return run([contact.pk for contact in queryset], form.cleaned_data["reason"])
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "explanation": explanation,
            "submit_label": submit_label,
            "contacts": list(queryset),
            "form": form,
            "action": action,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/conversations/contact/privacy_confirm.html", context)

    @admin.action(description=_("Exportar os dados dos contatos selecionados (LGPD)"), permissions=["export_data"])
    def export_data(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        def run(contact_ids: list[int], reason: str) -> HttpResponse | None:
            exported = [contact_export(contact_id=pk, user=request.user, reason=reason) for pk in contact_ids]
            body = json.dumps(
                exported[0] if len(exported) == 1 else exported, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2
            )
            response = HttpResponse(body, content_type="application/json; charset=utf-8")
            name = f"lgpd-contato-{contact_ids[0]}" if len(contact_ids) == 1 else "lgpd-contatos"
            response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.now():%Y%m%d-%H%M}.json"'
            return response

        return self._confirm(
            request,
            queryset,
            action="export_data",
            title=_("Exportar dados de contato (LGPD)"),
            explanation=_("Tudo o que guardamos sobre estes contatos será baixado em JSON."),
            submit_label=_("Exportar"),
            run=run,
        )

    @admin.action(description=_("Apagar os dados dos contatos selecionados (LGPD)"), permissions=["erase_data"])
    def erase_data(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        def run(contact_ids: list[int], reason: str) -> HttpResponse | None:
            results = [contact_erase(contact_id=pk, user=request.user, reason=reason) for pk in contact_ids]
            self.message_user(
                request,
                _(
                    "%(contacts)d contato(s) apagado(s): %(messages)d mensagens anonimizadas; "
                    "contagens e auditoria mantidas."
                )
                % {"contacts": len(results), "messages": sum(result.messages for result in results)},
                messages.SUCCESS,
            )
            return None

        return self._confirm(
            request,
            queryset,
            action="erase_data",
            title=_("Apagar dados de contato (LGPD)"),
            explanation=_(
                "Nomes, números, textos das mensagens e payloads brutos destes contatos serão removidos de vez. "
                "Contagens, estados e a trilha de auditoria ficam. Não há como desfazer."
            ),
            submit_label=_("Apagar de vez"),
            run=run,
        )

    def has_export_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("conversations.export_contact_data")

    def has_erase_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("conversations.erase_contact_data")
