"""Conversation sessions: find the contact's open conversation or start a new one."""
from datetime import datetime

from conversations.models import Contact, Conversation


def conversation_get_or_start(*, contact: Contact, at: datetime) -> Conversation:
    """The contact's open conversation, or a new one. The caller holds a lock on the contact row."""
    conversation = (
        Conversation.objects.filter(contact=contact, closed_at__isnull=True).order_by("-started_at").first()
    )
    if conversation is None:
        conversation = Conversation.objects.create(contact=contact, last_activity_at=at)
    return conversation
