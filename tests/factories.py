"""Shared factory-boy factories: users, contacts, conversations and messages."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone
from factory.django import DjangoModelFactory

from conversations.models import Contact, Conversation, Message
from conversations.states import State


class UserFactory(DjangoModelFactory):
    """A user; `UserFactory(permissions=["conversations.handle_conversation"])` grants permissions."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("password")
    is_active = True

    class Params:
        staff = factory.Trait(is_staff=True)

    @factory.post_generation
    def permissions(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        for dotted in extracted:
            app_label, codename = dotted.split(".", 1)
            self.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    wa_id = factory.Sequence(lambda n: f"55119{n:08d}")
    profile_name = factory.Sequence(lambda n: f"Cliente {n}")


class ConversationFactory(DjangoModelFactory):
    class Meta:
        model = Conversation

    contact = factory.SubFactory(ContactFactory)
    state = State.NEW
    last_activity_at = factory.LazyFunction(timezone.now)
    last_inbound_at = factory.LazyFunction(timezone.now)


class MessageFactory(DjangoModelFactory):
    """An inbound text message waiting for a run, unless told otherwise."""

    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    direction = Message.Direction.INBOUND
    wamid = factory.Sequence(lambda n: f"wamid.TEST{n:012d}")
    type = "text"
    text = factory.Sequence(lambda n: f"mensagem {n}")
    raw = factory.LazyAttribute(lambda message: {"id": message.wamid, "type": message.type})
    status = Message.Status.RECEIVED
    sent_by_customer_at = factory.LazyFunction(timezone.now)

    class Params:
        outbound = factory.Trait(direction=Message.Direction.OUTBOUND, status=Message.Status.SENT, wamid=None)
        # A bot reply the pipeline wrote and nothing has sent yet: its payload is its text.
        pending_reply = factory.Trait(
            direction=Message.Direction.OUTBOUND,
            status=Message.Status.PENDING,
            wamid=None,
            raw=factory.LazyAttribute(lambda message: {"kind": "text", "body": message.text, "preview_url": False}),
        )
