"""The WhatsApp webhook endpoint (thin: verify, parse, hand to the ingestion service)."""

from django.views import View


class WhatsAppWebhookView(View):
    pass
