"""The Celery application: settings come from Django's (namespace CELERY), tasks are autodiscovered."""

import logging
import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("pyloto")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect(weak=False)
def _keep_django_logging(**kwargs: object) -> None:
    """Keep Django's LOGGING (structlog, JSON in production, PII masked) instead of Celery's own.

    Connecting any receiver stops Celery from installing its handlers on the root logger; django.setup()
    has normally applied LOGGING already, so this only fills in when nothing has.
    """
    if not logging.getLogger().handlers:
        from logging.config import dictConfig

        from django.conf import settings

        dictConfig(settings.LOGGING)
