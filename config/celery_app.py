"""The Celery application: settings come from Django's (namespace CELERY), tasks are autodiscovered."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("pyloto")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
