"""Message templates: synced from the Graph API (on demand and on WhatsApp's status webhook), kept in the admin.

The sync reads `GET /{WABA-ID}/message_templates` and upserts each template by name and language:
WhatsApp owns the status, category and components; the product team owns the mapping to a purpose
and the parameter sources, which a sync never touches. A template WhatsApp no longer lists is marked
deleted, so the planner stops using it. A `message_template_status_update` webhook applies its new
status at once (a paused template must stop going out now) and then triggers a full sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.models import MessageTemplate
from pyloto.whatsapp.client import WhatsAppClient
from pyloto.whatsapp.payloads import LANGUAGE_CODE, TEMPLATE_NAME

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TemplateSyncResult:
    """What one sync did; `skipped` says why nothing was read (no business account configured)."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    invalid: int = 0
    skipped: str = ""


def templates_sync_configured() -> bool:
    return bool(settings.WHATSAPP_BUSINESS_ACCOUNT_ID and settings.WHATSAPP_ACCESS_TOKEN)


def _status(value: Any) -> str:
    status = str(value or "").upper()
    return status if status in MessageTemplate.Status.values else MessageTemplate.Status.PENDING


def _category(value: Any) -> str:
    category = str(value or "").lower()
    return category if category in MessageTemplate.Category.values else MessageTemplate.Category.UTILITY


def templates_sync(*, client: WhatsAppClient | None = None) -> TemplateSyncResult:
    """Read every template of the business account and store it; raises the client's errors (the task retries)."""
    if not templates_sync_configured():
        log.info("templates_sync_skipped", reason="WHATSAPP_BUSINESS_ACCOUNT_ID not set")
        return TemplateSyncResult(skipped="no business account configured")
    client = client or WhatsAppClient.from_settings()
    items = client.list_templates(business_account_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID)
    now = timezone.now()
    created = updated = invalid = 0
    seen: set[tuple[str, str]] = set()
    with transaction.atomic():
        for item in items:
            name, language = str(item.get("name") or ""), str(item.get("language") or "")
            if not TEMPLATE_NAME.match(name) or not LANGUAGE_CODE.match(language):
                invalid += 1
                log.warning("template_sync_invalid", name=name[:80], language=language[:16])
                continue
            seen.add((name, language))
            components = item.get("components") if isinstance(item.get("components"), list) else []
            _template, was_created = MessageTemplate.objects.update_or_create(
                name=name,
                language=language,
                defaults={
                    "status": _status(item.get("status")),
                    "category": _category(item.get("category")),
                    "components": components,
                    "graph_id": str(item.get("id") or "")[:64],
                    "synced_at": now,
                },
            )
            created += was_created
            updated += not was_created
        gone = [
            template.pk
            for template in MessageTemplate.objects.exclude(synced_at__isnull=True).exclude(
                status=MessageTemplate.Status.DELETED
            )
            if (template.name, template.language) not in seen
        ]
        deleted = MessageTemplate.objects.filter(pk__in=gone).update(
            status=MessageTemplate.Status.DELETED, status_reason="não listado pelo WhatsApp", synced_at=now
        )
    result = TemplateSyncResult(created=created, updated=updated, deleted=deleted, invalid=invalid)
    log.info("templates_synced", created=created, updated=updated, deleted=deleted, invalid=invalid)
    return result


def template_status_apply(*, graph_id: str, name: str, language: str, event: str, reason: str) -> int:
    """Apply a `message_template_status_update` webhook at once; returns how many templates it changed."""
    templates = MessageTemplate.objects.all()
    if graph_id:
        templates = templates.filter(graph_id=graph_id)
    else:
        templates = templates.filter(name=name, language=language) if language else templates.filter(name=name)
    status = str(event or "").upper()
    if status not in MessageTemplate.Status.values:
        log.info("template_status_event_unknown", event=status[:32], template=name[:80])
        return 0
    changed = templates.update(status=status, status_reason=(reason or "")[:255])
    log.info("template_status_applied", template=name[:80], status=status, changed=changed)
    return changed
