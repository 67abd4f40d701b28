"""Per-contact rate limit: a Redis sliding window, one notice per window, atomic across workers."""

import threading
import time

import pytest

from pyloto.resilience.rate_limit import contact_rate_check, contact_rate_reset

T0 = 1_700_000_000.0


@pytest.fixture
def limit(settings):
    settings.CONTACT_RATE_LIMIT_MESSAGES = 3
    settings.CONTACT_RATE_LIMIT_WINDOW_S = 10.0
    return settings


def test_messages_under_the_limit_are_allowed(limit):
    decisions = [contact_rate_check(contact_id=1, now=T0 + i) for i in range(3)]

    assert [d.allowed for d in decisions] == [True, True, True]
    assert {d.reason for d in decisions} == {"within_limit"}
    assert not any(d.notify for d in decisions)


def test_over_the_limit_only_the_first_blocked_message_gets_a_notice(limit):
    for i in range(3):
        contact_rate_check(contact_id=1, now=T0 + i)

    blocked = [contact_rate_check(contact_id=1, now=T0 + 3 + i * 0.1) for i in range(4)]

    assert [d.allowed for d in blocked] == [False] * 4
    assert [d.notify for d in blocked] == [True, False, False, False]
    assert {d.reason for d in blocked} == {"rate_limited"}
    # The first admitted message (at T0) leaves the window at T0 + 10.
    assert blocked[0].retry_after_s == pytest.approx(7.0)


def test_contacts_have_separate_windows(limit):
    for i in range(4):
        contact_rate_check(contact_id=1, now=T0 + i)

    assert contact_rate_check(contact_id=2, now=T0 + 4).allowed is True


def test_the_window_slides_and_a_new_limited_spell_gets_a_new_notice(limit):
    for i in range(3):
        contact_rate_check(contact_id=1, now=T0 + i)
    assert contact_rate_check(contact_id=1, now=T0 + 5).notify is True

    # At T0 + 10 the message of T0 has left the window: one slot, not three.
    assert contact_rate_check(contact_id=1, now=T0 + 10).allowed is True
    again = contact_rate_check(contact_id=1, now=T0 + 10.5)
    # Refused within the window of the notice given at T0 + 5: dropped silently.
    assert (again.allowed, again.notify) == (False, False)

    # At T0 + 16 the window holds T0 + 10 only: two more are admitted, then a new spell is told again.
    assert contact_rate_check(contact_id=1, now=T0 + 16).allowed is True
    assert contact_rate_check(contact_id=1, now=T0 + 17).allowed is True
    later = contact_rate_check(contact_id=1, now=T0 + 18)
    assert (later.allowed, later.notify) == (False, True)


def test_the_window_expires_on_redis_clock(settings):
    settings.CONTACT_RATE_LIMIT_MESSAGES = 2
    # Wide enough that three Redis round trips fit in it on a loaded machine; the sleep only has to outlast it.
    settings.CONTACT_RATE_LIMIT_WINDOW_S = 2.0
    assert contact_rate_check(contact_id=7).allowed is True
    assert contact_rate_check(contact_id=7).allowed is True
    assert contact_rate_check(contact_id=7).allowed is False

    time.sleep(2.1)

    assert contact_rate_check(contact_id=7).allowed is True


def test_reset_forgets_the_window_and_the_notice(limit):
    for i in range(4):
        contact_rate_check(contact_id=1, now=T0 + i)

    contact_rate_reset(contact_id=1)

    assert contact_rate_check(contact_id=1, now=T0 + 4).allowed is True
    for i in range(2):
        contact_rate_check(contact_id=1, now=T0 + 5 + i)
    assert contact_rate_check(contact_id=1, now=T0 + 7).notify is True


def test_concurrent_workers_admit_exactly_the_limit_and_notify_once(settings):
    settings.CONTACT_RATE_LIMIT_MESSAGES = 20
    settings.CONTACT_RATE_LIMIT_WINDOW_S = 60.0
    start = threading.Barrier(50)
    decisions = []
    lock = threading.Lock()

    def send():
        start.wait()
        decision = contact_rate_check(contact_id=42)
        with lock:
            decisions.append(decision)

    threads = [threading.Thread(target=send) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(decisions) == 50
    assert sum(d.allowed for d in decisions) == 20
    assert sum(d.notify for d in decisions) == 1


def test_without_redis_messages_are_let_through(settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"

    decision = contact_rate_check(contact_id=1)

    assert decision.allowed is True
    assert decision.reason == "limiter_unavailable"


def test_embedded_mode_does_not_limit(settings):
    settings.EMBEDDED = True
    settings.CONTACT_RATE_LIMIT_MESSAGES = 1

    decisions = [contact_rate_check(contact_id=1) for _ in range(3)]

    assert all(d.allowed for d in decisions)
    assert {d.reason for d in decisions} == {"limiter_disabled"}
