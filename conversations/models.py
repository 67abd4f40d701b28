"""Contacts, conversations and messages: what the webhook persists and the pipeline reads."""

from django.db import models
from django.db.models import Q
from django_fsm import FSMField


class Contact(models.Model):
    """A WhatsApp user, keyed on `wa_id` or on the business-scoped `user_id` (2026 usernames)."""

    wa_id = models.CharField(max_length=32, null=True, blank=True, unique=True)
    user_id = models.CharField(
        max_length=128, null=True, blank=True, unique=True, help_text="Business-scoped user id (BSUID)."
    )
    profile_name = models.CharField(max_length=256, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(wa_id__isnull=False) | Q(user_id__isnull=False), name="contact_has_an_id"
            ),
        ]

    def __str__(self) -> str:
        return f"Contact #{self.pk} {self.profile_name}".strip()

    @property
    def recipient(self) -> dict[str, str]:
        """How the Cloud API addresses this contact: by phone (`to`) or by BSUID (`recipient`)."""
        if self.wa_id:
            return {"to": self.wa_id}
        return {"recipient": self.user_id or ""}


class Conversation(models.Model):
    """One session of a contact with the assistant; its `state` is the state machine's."""

    # Integer primary key: django-fsm-log's StateLog.object_id is an integer.
    id = models.AutoField(primary_key=True)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations")
    state = FSMField(default="new", db_index=True)
    started_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(db_index=True)
    # WhatsApp's 24-hour customer-service window opens at the customer's last inbound message.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["contact", "closed_at"], name="conv_contact_open_idx"),
        ]

    def __str__(self) -> str:
        return f"Conversation #{self.pk} ({self.state})"


class Message(models.Model):
    """An inbound or outbound WhatsApp message, with its raw element and its lifecycle status."""

    class Direction(models.TextChoices):
        INBOUND = "in", "Inbound"
        OUTBOUND = "out", "Outbound"

    class Status(models.TextChoices):
        # Inbound lifecycle: every inbound message ends in a terminal status (answered, handed off,
        # dropped with a reason, or dead-lettered).
        RECEIVED = "received", "Received"
        PROCESSING = "processing", "Processing"
        ANSWERED = "answered", "Answered"
        HANDED_OFF = "handed_off", "Handed off to a human"
        DROPPED = "dropped", "Dropped by policy"
        DEAD_LETTERED = "dead_lettered", "Dead-lettered"
        # Outbound lifecycle, advanced by the send and by Meta's status callbacks.
        PENDING = "pending", "Pending send"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    wamid = models.CharField(max_length=256, null=True, blank=True, unique=True)
    type = models.CharField(max_length=32)
    text = models.TextField(blank=True, default="")
    raw = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    status_reason = models.CharField(max_length=255, blank=True, default="")
    errors = models.JSONField(default=list, blank=True)
    sent_by_customer_at = models.DateTimeField(null=True, blank=True, help_text="WhatsApp's timestamp.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    correlation_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    # Outbound only: one reply per run; a retried send finds this row instead of sending twice.
    idempotency_key = models.CharField(max_length=128, null=True, blank=True, unique=True)

    class Meta:
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


class DeliveryStatus(models.Model):
    """Every status callback Meta sends, kept as received (it may arrive before our send returns)."""

    wamid = models.CharField(max_length=256, db_index=True)
    status = models.CharField(max_length=16)
    timestamp = models.DateTimeField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True)
    raw = models.JSONField(default=dict)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="statuses")
    received_at = models.DateTimeField(auto_now_add=True)
    correlation_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name_plural = "delivery statuses"

    def __str__(self) -> str:
        return f"{self.status} for {self.wamid}"


class UnhandledEvent(models.Model):
    """A webhook change we do not act on (other fields, shapes we cannot parse): kept, never a 500."""

    field = models.CharField(max_length=64, blank=True, default="")
    reason = models.CharField(max_length=255)
    raw = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    correlation_id = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"Unhandled {self.field or 'event'}: {self.reason}"
