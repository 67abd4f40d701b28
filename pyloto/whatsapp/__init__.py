"""The WhatsApp channel: webhook signature and parsing, Cloud API payloads and client."""
