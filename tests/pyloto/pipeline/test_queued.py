"""Queued markers: a published run or send task is known to be queued, so the sweeper adds no duplicate."""

from datetime import timedelta

import pytest
from celery.signals import task_prerun
from django.conf import settings
from django.utils import timezone

from conversations.models import Message
from pyloto.pipeline import sweeper
from pyloto.pipeline.queued import KEY_PREFIX, RUN, SEND, queued_among
from pyloto.pipeline.tasks import run_conversation, send_reply
from pyloto.resilience.store import resilience_redis
from pyloto.supervisor import free_port
from tests.factories import MessageFactory

pytestmark = pytest.mark.django_db


def _waited(message: Message, seconds: float) -> None:
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds))


def test_a_published_task_is_queued_until_a_worker_starts_it():
    run_conversation.apply_async((41,))  # the real publish, into the test broker

    assert queued_among(RUN, [41, 42]) == {41}
    ttl_ms = resilience_redis().pttl(f"{KEY_PREFIX}{RUN}:41")
    assert 0 < ttl_ms <= settings.CELERY_VISIBILITY_TIMEOUT_S * 1000

    task_prerun.send(sender=run_conversation, task_id="t1", task=run_conversation, args=(41,), kwargs={})

    assert queued_among(RUN, [41]) == set()


def test_a_send_waiting_its_countdown_stays_queued_past_the_countdown():
    send_reply.apply_async((7,), countdown=600)

    ttl_ms = resilience_redis().pttl(f"{KEY_PREFIX}{SEND}:7")
    # Past the countdown itself: without it the marker would live only the visibility timeout (shorter).
    # The margin is the whole visibility timeout, so no stall between publish and read can fail this.
    assert settings.CELERY_VISIBILITY_TIMEOUT_S < 600
    assert ttl_ms > 600 * 1000
    assert queued_among(SEND, [7]) == {7}


def test_the_sweeper_re_drives_a_waiting_message_only_once_its_run_task_is_lost(enqueued):
    message = MessageFactory()
    run_conversation.apply_async((message.conversation_id,))
    _waited(message, 60)  # behind a backlog, a minute already

    sweeper.pipeline_sweep()
    assert enqueued["runs"] == []  # its task is still queued: a duplicate would only deepen the backlog

    resilience_redis().flushdb()  # Redis restarts without persistence: the task and its marker are gone
    _waited(message, 60)
    sweeper.pipeline_sweep()
    assert enqueued["runs"] == [message.conversation_id]


def test_the_sweeper_re_sends_an_unsent_reply_only_once_its_send_task_is_lost(enqueued, settings):
    reply = MessageFactory(outbound=True, status=Message.Status.PENDING, raw={"kind": "text", "body": "Oi"})
    send_reply.apply_async((reply.pk,))
    _waited(reply, settings.SWEEP_REDRIVE_AFTER_S + 30)

    sweeper.pipeline_sweep()
    assert enqueued["sends"] == []

    resilience_redis().delete(f"{KEY_PREFIX}{SEND}:{reply.pk}")  # lost: the marker went with the task
    _waited(reply, settings.SWEEP_REDRIVE_AFTER_S + 30)
    sweeper.pipeline_sweep()
    assert enqueued["sends"] == [reply.pk]


def test_without_redis_the_sweeper_re_drives_nothing(enqueued, settings):
    message = MessageFactory()
    _waited(message, 60)
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: Redis cannot say what is queued

    sweeper.pipeline_sweep()

    assert enqueued["runs"] == []
    assert Message.objects.get(pk=message.pk).updated_at < timezone.now() - timedelta(seconds=30)
