"""Tests of the WhatsApp channel: payloads, errors, the Cloud API client and the fake Graph server."""
