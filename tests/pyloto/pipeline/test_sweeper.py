"""The sweeper's recovery rules: leases kept alive by heartbeats, sends stopped or lost, ambiguous sends."""

import uuid
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from prometheus_client import REGISTRY

from conversations.models import Conversation, DeadLetter, Message
from conversations.services.ingestion import webhook_ingest
from conversations.services.runs import run_begin
from pyloto.observability.metrics import ambiguous_replies_count
from pyloto.pipeline import sweeper
from pyloto.pipeline.heartbeat import KEY_PREFIX, beating, run_heartbeat, run_key_of, runs_alive
from pyloto.resilience.store import resilience_redis
from pyloto.whatsapp import simulator
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def reply(status: str, *, age_s: float, attempts: int = 0, ambiguous_age_s: float | None = None) -> Message:
    now = timezone.now()
    message = MessageFactory(
        outbound=True,
        status=status,
        send_attempts=attempts,
        idempotency_key=f"run:{uuid.uuid4().hex}",
        run_key=uuid.uuid4().hex,
        raw={"kind": "text", "body": "Olá!", "preview_url": False},
    )
    Message.objects.filter(pk=message.pk).update(
        created_at=now - timedelta(seconds=age_s),
        updated_at=now - timedelta(seconds=age_s),
        send_ambiguous_since=None if ambiguous_age_s is None else now - timedelta(seconds=ambiguous_age_s),
    )
    message.refresh_from_db()
    return message


def events(event: str) -> float:
    return REGISTRY.get_sample_value("pyloto_ambiguous_sends_total", {"event": event}) or 0.0


def test_a_live_run_keeps_its_lease_past_expiry_and_a_dead_one_is_reclaimed(enqueued, settings):
    live_conversation, dead_conversation = ConversationFactory(), ConversationFactory()
    MessageFactory(conversation=live_conversation)
    MessageFactory(conversation=dead_conversation)
    live = run_begin(conversation_id=live_conversation.pk, lease_seconds=1)
    dead = run_begin(conversation_id=dead_conversation.pk, lease_seconds=1)
    run_heartbeat(live.token)  # a worker is executing one of its tasks

    counts = sweeper.pipeline_sweep(now=timezone.now() + timedelta(seconds=5))

    assert counts["leases_renewed"] == 1 and counts["leases_reclaimed"] == 1
    assert Conversation.objects.get(pk=live_conversation.pk).run_token == live.token
    assert Conversation.objects.get(pk=live_conversation.pk).run_lease_expires_at > timezone.now()
    assert Conversation.objects.get(pk=dead_conversation.pk).run_token is None
    assert enqueued["runs"] == [dead_conversation.pk]
    assert runs_alive([live.token, dead.token]) == {live.token}


def test_the_heartbeat_finds_the_run_of_every_pipeline_task():
    payload = {"run_key": "r1", "messages": []}
    assert run_key_of((payload,), {}) == "r1"  # decide_state
    assert run_key_of(({"payload": payload, "decision": {}},), {}) == "r1"  # the chord's header tasks
    assert run_key_of(([{"part": "reply"}],), {"run_key": "r1", "conversation_id": 1}) == "r1"  # finalize
    assert run_key_of((42,), {}) is None  # run_conversation: it beats itself once it holds the lease


def test_a_reply_whose_send_task_was_lost_is_sent_again(enqueued, settings):
    settings.SWEEP_REDRIVE_AFTER_S = 15
    lost = reply("pending", age_s=20)
    just_queued = reply("pending", age_s=2)

    sweeper.pipeline_sweep()

    assert enqueued["sends"] == [lost.pk]
    assert just_queued.pk not in enqueued["sends"]


def test_a_send_waiting_for_its_pacing_slot_is_left_alone_until_that_time_is_past(enqueued, settings):
    settings.SWEEP_REDRIVE_AFTER_S = 15
    now = timezone.now()
    # The 1 000th reply to one customer waits its turn for hours: neither re-driven nor given up meanwhile.
    waiting = reply("pending", age_s=settings.SWEEP_DEAD_LETTER_AFTER_S + 60)
    slot_passed_just_now = reply("pending", age_s=60)
    slot_lost = reply("pending", age_s=60)
    Message.objects.filter(pk=waiting.pk).update(next_attempt_at=now + timedelta(seconds=30))
    Message.objects.filter(pk=slot_passed_just_now.pk).update(next_attempt_at=now - timedelta(seconds=5))
    # Its task should have come 20 s ago (lost with a worker or with Redis): sent again now.
    Message.objects.filter(pk=slot_lost.pk).update(next_attempt_at=now - timedelta(seconds=20))

    counts = sweeper.pipeline_sweep(now=now)

    assert enqueued["sends"] == [slot_lost.pk]
    assert counts["sends_given_up"] == 0
    assert Message.objects.get(pk=waiting.pk).status == "pending"


def test_an_unsent_reply_is_re_driven_once_per_redrive_period_oldest_first_a_batch_a_sweep(
    enqueued, settings, monkeypatch
):
    settings.SWEEP_REDRIVE_AFTER_S = 15
    monkeypatch.setattr(sweeper, "REDRIVE_BATCH", 2)
    newest, oldest, middle = reply("pending", age_s=20), reply("pending", age_s=40), reply("pending", age_s=30)

    sweeper.pipeline_sweep()
    assert enqueued["sends"] == sorted([oldest.pk, middle.pk])
    sweeper.pipeline_sweep()  # seconds later: the re-driven sends are still queued behind a backlog
    assert enqueued["sends"] == [*sorted([oldest.pk, middle.pk]), newest.pk]

    sweeper.pipeline_sweep(now=timezone.now() + timedelta(seconds=16))
    assert sorted(enqueued["sends"][3:]) == sorted([oldest.pk, middle.pk])


def test_a_send_stopped_on_transient_errors_is_re_driven_once_no_retry_can_still_be_waiting(enqueued, settings):
    settings.SEND_BACKOFF_MAX_S = 60
    waiting_for_its_retry = reply("pending", age_s=50, attempts=3)
    stopped = reply("pending", age_s=60 + settings.SEND_CLAIM_TIMEOUT_S + 1, attempts=12)

    sweeper.pipeline_sweep()

    assert enqueued["sends"] == [stopped.pk]
    assert waiting_for_its_retry.pk not in enqueued["sends"]


def test_a_reply_unsent_past_the_dead_letter_budget_fails_and_is_dead_lettered(enqueued, settings):
    hopeless = reply("pending", age_s=settings.SWEEP_DEAD_LETTER_AFTER_S + 1, attempts=12)

    assert sweeper.pipeline_sweep()["sends_given_up"] == 1

    hopeless.refresh_from_db()
    assert hopeless.status == "failed"
    assert DeadLetter.objects.get(message=hopeless).error_code == "unsent"
    assert hopeless.pk not in enqueued["sends"]


def test_a_claim_held_past_any_live_send_is_ambiguous_and_resent_as_no_status_confirmed_it(enqueued, settings):
    settings.SEND_CONFIRM_WINDOW_S = 30
    in_flight = reply("sending", age_s=1, attempts=1)
    lost = reply("sending", age_s=settings.SEND_CLAIM_TIMEOUT_S + 1, attempts=1)
    detected, resent = events("detected_worker_lost"), events("resent")

    counts = sweeper.pipeline_sweep()

    # The window counts from the attempt: Meta would have posted `sent` long before the claim timed out.
    assert counts["sends_ambiguous"] == 1 and counts["sends_resent"] == 1
    assert events("detected_worker_lost") == detected + 1 and events("resent") == resent + 1
    lost.refresh_from_db()
    assert lost.status == "pending" and lost.status_reason.startswith("resent")
    assert enqueued["sends"] == [lost.pk]
    in_flight.refresh_from_db()
    assert in_flight.status == "sending" and in_flight.send_ambiguous_since is None


def test_an_ambiguous_timeout_waits_for_its_status_webhook_then_is_resent(enqueued, settings):
    settings.SEND_CONFIRM_WINDOW_S = 30
    unsure = reply("sending", age_s=5, attempts=1, ambiguous_age_s=5)

    sweeper.pipeline_sweep()

    assert enqueued["sends"] == []
    assert ambiguous_replies_count() == 1  # the gauge staff and the alert watch
    sweeper.pipeline_sweep(now=timezone.now() + timedelta(seconds=30))
    unsure.refresh_from_db()
    assert unsure.status == "pending" and enqueued["sends"] == [unsure.pk]
    assert ambiguous_replies_count() == 0


def test_an_ambiguous_send_waits_while_webhooks_of_its_confirm_window_are_still_unread(enqueued, settings):
    from conversations.models import WebhookElement

    settings.SEND_CONFIRM_WINDOW_S = 30
    unsure = reply("sending", age_s=60, attempts=1, ambiguous_age_s=60)
    # Stored 10 s after the claim, not read yet (the ingest step is behind a backlog): it may be the status.
    element = WebhookElement.objects.create(
        key="wamid.X|sent|5511", body={}, received_at=unsure.send_ambiguous_since + timedelta(seconds=10)
    )

    sweeper.pipeline_sweep()
    assert enqueued["sends"] == []

    WebhookElement.objects.filter(pk=element.pk).update(processed_at=timezone.now())  # it was another message's
    sweeper.pipeline_sweep()
    assert enqueued["sends"] == [unsure.pk]


def test_an_ambiguous_send_confirmed_by_a_status_webhook_is_never_resent(enqueued, settings):
    settings.SEND_CONFIRM_WINDOW_S = 30
    unsure = reply("sending", age_s=40, attempts=1, ambiguous_age_s=5)
    confirmed = events("confirmed")
    status = simulator.status_element(wamid="wamid.FROM-META", status="sent")
    status["biz_opaque_callback_data"] = unsure.idempotency_key

    webhook_ingest(payload=simulator.webhook_body(statuses=[status]), correlation_id="c-1")

    unsure.refresh_from_db()
    assert unsure.status == "sent" and unsure.wamid == "wamid.FROM-META"
    assert unsure.send_ambiguous_since is None and unsure.sent_at is not None
    assert events("confirmed") == confirmed + 1
    sweeper.pipeline_sweep(now=timezone.now() + timedelta(minutes=5))
    assert enqueued["sends"] == []


def test_two_sweeps_never_overlap(enqueued):
    # Another worker's sweep, on its own database session.
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [sweeper._SWEEP_LOCK_ID])
        assert sweeper.pipeline_sweep() == {"skipped": 1}
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [sweeper._SWEEP_LOCK_ID])
        assert "skipped" not in sweeper.pipeline_sweep()
    finally:
        other.close()


def test_a_run_being_prepared_beats_so_a_long_transcription_does_not_lose_its_lease(enqueued):
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation)
    lease = run_begin(conversation_id=conversation.pk, lease_seconds=1)

    with beating(lease.token):
        counts = sweeper.pipeline_sweep(now=timezone.now() + timedelta(seconds=5))

    assert counts["leases_renewed"] == 1 and counts["leases_reclaimed"] == 0
    assert Conversation.objects.get(pk=conversation.pk).run_token == lease.token


def test_a_run_waiting_for_its_next_task_stays_alive_longer_than_one_executing(settings):
    import redis as redis_lib

    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    with beating("run-executing"):
        executing_ttl = client.pttl(KEY_PREFIX + "run-executing")
    # Its task ended: the next one is queued (maybe behind a backlog), and that is not death.
    queued_ttl = client.pttl(KEY_PREFIX + "run-executing")

    assert 0 < executing_ttl <= settings.RUN_LEASE_SECONDS * 1000
    # Alive for as long as the broker can still deliver that next task.
    assert settings.RUN_LEASE_SECONDS * 1000 < queued_ttl <= settings.CELERY_VISIBILITY_TIMEOUT_S * 1000


@pytest.mark.parametrize(
    ("state", "queued"),
    [("SUCCESS", True), ("RETRY", True), ("FAILURE", False)],
)
def test_a_task_that_failed_outright_leaves_its_run_one_lease_while_one_that_handed_on_leaves_it_queued(
    settings, state, queued
):
    """A finalize that failed on a PostgreSQL restart queued nothing: its run must not look alive for minutes."""
    import redis as redis_lib
    from celery.signals import task_postrun, task_prerun

    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    run_key = f"run-{state.lower()}"
    task_id = uuid.uuid4().hex
    task_prerun.send(sender=None, task_id=task_id, task=None, args=(), kwargs={"run_key": run_key})
    task_postrun.send(sender=None, task_id=task_id, task=None, args=(), kwargs={}, retval=None, state=state)
    ttl_ms = client.pttl(KEY_PREFIX + run_key)

    lease_ms = settings.RUN_LEASE_SECONDS * 1000
    if queued:
        assert lease_ms < ttl_ms <= settings.CELERY_VISIBILITY_TIMEOUT_S * 1000
    else:
        assert 0 < ttl_ms <= lease_ms


def test_a_task_that_ran_across_a_redis_restart_leaves_its_run_one_lease_not_the_visibility_timeout(settings):
    import redis as redis_lib

    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    with beating("run-across"):
        client.flushdb()  # Redis restarts without persistence: what this task queued may be gone
    ttl_ms = client.pttl(KEY_PREFIX + "run-across")

    # Not "queued" for five minutes: a chord that lost its counter would never finalize.
    assert 0 < ttl_ms <= settings.RUN_LEASE_SECONDS * 1000


def test_a_live_lease_is_renewed_before_it_runs_out_so_no_duplicate_run_can_take_it(enqueued, settings):
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation)
    lease = run_begin(conversation_id=conversation.pk, lease_seconds=settings.SWEEP_INTERVAL_S)
    run_heartbeat(lease.token)

    assert sweeper.pipeline_sweep()["leases_renewed"] == 1

    renewed = Conversation.objects.get(pk=conversation.pk).run_lease_expires_at
    assert renewed > lease.expires_at
    # A duplicate run task now finds the lease held, as it is: nothing to steal.
    assert run_begin(conversation_id=conversation.pk) is None


def test_a_waiting_message_is_re_driven_once_per_redrive_period_not_every_sweep(enqueued, settings):
    settings.SWEEP_REDRIVE_AFTER_S = 15
    message = MessageFactory()
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(seconds=20))

    sweeper.pipeline_sweep()
    sweeper.pipeline_sweep()  # the next sweep, seconds later: its run task is still queued

    assert enqueued["runs"] == [message.conversation_id]
    later = timezone.now() + timedelta(seconds=16)
    sweeper.pipeline_sweep(now=later)
    assert enqueued["runs"] == [message.conversation_id, message.conversation_id]


def test_a_duplicate_run_task_takes_over_an_expired_lease_only_when_its_heartbeat_stopped():
    from pyloto.pipeline.heartbeat import run_is_alive
    from pyloto.pipeline.run import run_launch

    conversation = ConversationFactory()
    MessageFactory(conversation=conversation)
    lease = run_begin(conversation_id=conversation.pk, lease_seconds=1)
    Conversation.objects.filter(pk=conversation.pk).update(run_lease_expires_at=timezone.now() - timedelta(seconds=1))
    run_heartbeat(lease.token, queued=True)  # its next task waits behind a backlog

    assert run_launch(conversation_id=conversation.pk).outcome == "busy"
    assert Conversation.objects.get(pk=conversation.pk).run_token == lease.token

    resilience_redis().delete(KEY_PREFIX + lease.token)  # its worker died: the heartbeat lapses
    Conversation.objects.filter(pk=conversation.pk).update(run_lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = run_begin(conversation_id=conversation.pk, holder_is_alive=run_is_alive)
    assert taken is not None and taken.token != lease.token
