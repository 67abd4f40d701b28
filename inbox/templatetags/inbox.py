"""Filters the inbox templates use: a contact's name with its masked identifier, and a short age."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Contact
from pyloto.observability.masking import mask_identifier

register = template.Library()


@register.filter
def contact_label(contact: Contact) -> str:
    """`Maria (•••4321)`: enough to recognise a customer, never the whole number on screen."""
    name = contact.profile_name or _("Contact #%(id)s") % {"id": contact.pk}
    return f"{name} ({mask_identifier(contact.wa_id or contact.user_id)})"


@register.filter
def age(moment: datetime | None) -> str:
    """How long ago, compactly: `45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`."""
    if moment is None:
        return "—"
    return duration((timezone.now() - moment).total_seconds())


@register.filter
def duration(seconds: float | None) -> str:
    """A length of time, compactly, as `age` shows it (`45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`)."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
