"""Admin for LLM-call accounting: read-only, since rows are written only by the pipeline."""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from llm.models import LLMCall


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "task",
        "outcome",
        "provider",
        "model",
        "tokens_in",
        "tokens_out",
        "latency_ms",
        "estimated_cost",
        "conversation_link",
        "run_key",
    )
    list_filter = ("task", "outcome", "model", "provider")
    search_fields = ("run_key", "correlation_id", "=conversation__id")
    date_hierarchy = "started_at"
    list_select_related = ("conversation",)
    ordering = ("-started_at",)

    @admin.display(description=_("conversa"), ordering="conversation")
    def conversation_link(self, obj: LLMCall) -> str:
        if obj.conversation_id is None:
            return "-"
        try:
            url = reverse("admin:conversations_conversation_change", args=[obj.conversation_id])
        except NoReverseMatch:
            # The conversation admin may not be registered in every deployment.
            return f"#{obj.conversation_id}"
        return format_html('<a href="{}">#{}</a>', url, obj.conversation_id)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
