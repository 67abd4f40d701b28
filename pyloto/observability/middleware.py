"""HTTP middleware: a correlation id per request (answered as X-Correlation-ID) and webhook metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from pyloto.observability import metrics
from pyloto.observability.correlation import HTTP_HEADER, correlation_scope, new_correlation_id

WEBHOOK_URL_NAME = "whatsapp-webhook"


class CorrelationIdMiddleware:
    """Bind a fresh correlation id for the request and return it in the X-Correlation-ID header.

    It sits first in MIDDLEWARE, before django-structlog's RequestMiddleware, so `request_started`
    and `request_finished` carry the id too. The webhook's ingestion stores `request.correlation_id`
    (the same value as `current_correlation_id()`) on the messages it persists, and every task
    published while handling the request inherits it. A client-supplied id is not trusted: it
    would let any caller splice its lines into another message's trail.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        with correlation_scope(new_correlation_id()) as cid:
            request.correlation_id = cid  # type: ignore[attr-defined]
            response = self.get_response(request)
        # A view that minted its own id for what it stored has the last word on the header.
        if HTTP_HEADER not in response:
            response[HTTP_HEADER] = cid
        self._observe(request, response, time.perf_counter() - started)
        return response

    @staticmethod
    def _observe(request: HttpRequest, response: HttpResponse, elapsed: float) -> None:
        match = getattr(request, "resolver_match", None)
        if match is None or match.url_name != WEBHOOK_URL_NAME:
            return
        if request.method == "POST":
            metrics.WEBHOOK_LATENCY.observe(elapsed)
        if response.status_code >= 500:
            metrics.ERRORS.labels(component="webhook").inc()
