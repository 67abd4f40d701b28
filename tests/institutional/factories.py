"""Factories for the institutional drafts and the product-team user."""

import factory
from django.contrib.auth.models import Group
from factory.django import DjangoModelFactory

from institutional.models import CompanyProfile, Constraint, Faq, Policy
from institutional.permissions import PRODUCT_TEAM_GROUP
from tests.factories import UserFactory as BaseUserFactory


class CompanyProfileFactory(DjangoModelFactory):
    class Meta:
        model = CompanyProfile
        django_get_or_create = ("id",)

    id = CompanyProfile.SINGLETON_ID
    name = "Pyloto"
    description = "Assistentes de atendimento no WhatsApp."
    services = "Plano Essencial — R$ 199/mês\nPlano Profissional — R$ 499/mês"
    service_hours = "Segunda a sexta, 8h às 18h"
    channels = "WhatsApp"
    tone_of_voice = "Cordial e objetivo."


class FaqFactory(DjangoModelFactory):
    class Meta:
        model = Faq

    question = factory.Sequence(lambda n: f"Pergunta {n:03d}?")
    answer = factory.Sequence(lambda n: f"Resposta {n:03d}.")
    keywords = "teste"
    priority = 50


class PolicyFactory(DjangoModelFactory):
    class Meta:
        model = Policy

    title = factory.Sequence(lambda n: f"Política {n:03d}")
    body = "Texto da política."
    priority = 50


class ConstraintFactory(DjangoModelFactory):
    class Meta:
        model = Constraint

    slug = factory.Sequence(lambda n: f"rule-{n}")
    title = factory.Sequence(lambda n: f"Regra {n}")
    description = "Nunca diga a palavra proibida."
    phrases = "palavra proibida"
    severity = Constraint.Severity.HIGH
    action = Constraint.Action.REPLACE
    safe_replacement = "Resposta segura."


class UserFactory(BaseUserFactory):
    """The shared user factory, staff by default (the institutional admin is for staff)."""

    is_staff = True
    password = factory.django.Password("s3cret-pass")


class ProductTeamUserFactory(UserFactory):
    @factory.post_generation
    def product_team(self, create, extracted, **kwargs):
        if create:
            self.groups.add(Group.objects.get(name=PRODUCT_TEAM_GROUP))
