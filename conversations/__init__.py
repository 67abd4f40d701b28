"""Conversations: contacts, conversations with their state machine, messages, ingestion and delivery."""
