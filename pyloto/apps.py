"""App config for the shared platform package: hooks up observability in web and worker processes."""

import os
import time

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PylotoConfig(AppConfig):
    name = "pyloto"
    verbose_name = _("Plataforma Pyloto")

    def ready(self) -> None:
        # ready() runs in every process that sets Django up — gunicorn workers, Celery workers (the
        # Django fixup calls django.setup() before the first task) and management commands.
        from django.conf import settings

        from pyloto.observability.correlation import install_celery_propagation
        from pyloto.observability.metrics import install_celery_metrics
        from pyloto.observability.sentry import init_sentry

        # One clock in every process: Django points the OS zone at TIME_ZONE when its settings load,
        # and whatever reads the OS zone (Celery beat's banner, third-party log formats) would then print
        # -03:00 beside our UTC lines. Dates shown to people go through TIME_ZONE with zoneinfo, never
        # through the OS zone, so putting the OS zone back to UTC changes no page.
        os.environ["TZ"] = "UTC"
        time.tzset()
        install_celery_propagation()
        install_celery_metrics()
        init_sentry(
            dsn=settings.SENTRY_DSN,
            environment=settings.ENVIRONMENT_NAME,
            release=settings.SENTRY_RELEASE,
            traces_sample_rate=settings.SENTRY_TRACES_SAMPLE_RATE,
        )
