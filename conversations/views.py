"""The WhatsApp webhook endpoint: verify, store each element as received, enqueue their reading (ADR 0016)."""

import json

import structlog
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from conversations.services.ingestion import webhook_store
from pyloto.pipeline.dispatch import status_elements_enqueue, webhook_elements_enqueue
from pyloto.whatsapp.signature import signature_is_valid

log = structlog.get_logger(__name__)


@method_decorator(csrf_exempt, name="dispatch")
class WhatsAppWebhookView(View):
    """GET: Meta's subscription handshake. POST: signed notifications, answered 200 once stored.

    A POST reads no more than each element's id: the elements are stored in one statement, then one
    task reads them (contacts, conversations, statuses, opt-outs). If the broker is down the 200
    still stands: the sweeper re-drives elements left unread.
    """

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest) -> HttpResponse:
        mode = request.GET.get("hub.mode")
        token = request.GET.get("hub.verify_token", "")
        if mode == "subscribe" and token and token == settings.WHATSAPP_VERIFY_TOKEN:
            return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
        log.warning("webhook_verification_refused", mode=mode)
        return HttpResponse("verification failed", status=403, content_type="text/plain")

    def post(self, request: HttpRequest) -> HttpResponse:
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return _error(413, "body too large")
        try:
            body = request.body
        except RequestDataTooBig:
            return _error(413, "body too large")
        if len(body) > limit:
            return _error(413, "body too large")
        if not signature_is_valid(
            app_secret=settings.WHATSAPP_APP_SECRET, body=body, header=request.headers.get("X-Hub-Signature-256")
        ):
            log.warning("webhook_signature_invalid", has_header="X-Hub-Signature-256" in request.headers)
            return _error(403, "invalid signature")
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            return _error(400, "body is not JSON")
        except RecursionError:
            return _error(400, "body is nested too deeply")
        # The correlation middleware bound this id to the request's logs and answers it as X-Correlation-ID.
        stored = webhook_store(body=body, payload=payload, correlation_id=request.correlation_id)
        if stored.ids and stored.statuses_only:
            status_elements_enqueue()
        elif stored.ids:
            webhook_elements_enqueue(element_ids=stored.ids)
        return JsonResponse({"status": "received"})


def _error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"error": detail}, status=status)
