"""Fixtures for tests that run the whole pipeline: a real Celery worker on every queue and the demo content."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command

from config.celery_app import app
from pyloto.queues import Queue


@pytest.fixture
def worker(transactional_db):
    """One embedded worker (threads pool) on the pipeline, llm and delivery queues."""
    with start_worker(
        app,
        pool="threads",
        concurrency=12,
        perform_ping_check=False,
        shutdown_timeout=30,
        queues=[queue.value for queue in Queue],
        loglevel="WARNING",
    ) as running:
        yield running


@pytest.fixture
def demo_release(transactional_db):
    call_command("seed_demo", verbosity=0)


@pytest.fixture
def llm_on(fake_openai, settings):
    """The LLM path: the real openai SDK against the fake, no SDK-level retries (our tasks retry)."""
    settings.LLM_SDK_MAX_RETRIES = 0
    return fake_openai
