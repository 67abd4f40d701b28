"""The Celery queues, named once; every task states which one it runs on."""

from enum import StrEnum


class Queue(StrEnum):
    # Database work on prefork workers: ingestion follow-ups, run orchestration, finalize, sweeper.
    PIPELINE = "pipeline"
    # Pure, DB-free LLM calls on a high-concurrency I/O pool (threads): prompt in, JSON out.
    LLM = "llm"
    # Outbound WhatsApp Cloud API calls (send, mark-as-read); I/O bound, retried on transient errors.
    DELIVERY = "delivery"
