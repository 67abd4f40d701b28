"""Sentry error reporting: on only when SENTRY_DSN is set, never with personal data in clear.

No default PII: users, IPs and cookies stay out. (`send_default_pii` is left unset, which the SDK
treats as False; SDK 2.75 deprecates passing it in favour of `data_collection`.) The webhook's
bodies, exception messages, local variables and log breadcrumbs can still hold phone numbers and
e-mails, so `before_send` and `before_breadcrumb` run every string of the event through the same
masking as the logs.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.utils import get_default_release

from pyloto.observability.masking import mask_value


def scrub_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """`before_send`: mask PII anywhere in the event (message, exception values, frames, request)."""
    return mask_value(event)


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """`before_breadcrumb`: the same masking for log lines and HTTP calls recorded as breadcrumbs."""
    return mask_value(crumb)


def init_sentry(
    *,
    dsn: str,
    environment: str,
    release: str = "",
    traces_sample_rate: float = 0.0,
    transport: Any = None,
) -> bool:
    """Initialise the SDK with the Django and Celery integrations; a no-op (False) without a DSN.

    `release` defaults to what the SDK detects (SENTRY_RELEASE, then the git sha); `transport` is
    for tests, which capture envelopes instead of sending them.
    """
    if not dsn:
        return False
    options: dict[str, Any] = {
        "dsn": dsn,
        "environment": environment,
        "release": release or get_default_release(),
        "before_send": scrub_event,
        "before_breadcrumb": scrub_breadcrumb,
        "traces_sample_rate": traces_sample_rate,
        "integrations": [
            DjangoIntegration(),
            # The integration ignores Celery's Retry: a task retried on a transient error is reported
            # once, when it finally fails.
            CeleryIntegration(propagate_traces=True),
            LoggingIntegration(),
        ],
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
    return True
