"""App config for the shared platform package (management commands, checks)."""

from django.apps import AppConfig


class PylotoConfig(AppConfig):
    name = "pyloto"
    verbose_name = "Pyloto platform"
