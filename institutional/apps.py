"""App config for the institutional context."""

from django.apps import AppConfig


class InstitutionalConfig(AppConfig):
    name = "institutional"
    verbose_name = "Institutional context"
