"""Send pacing in Redis: slots per number and per recipient, reserved atomically, waited for, pushed back."""

import threading

import pytest

from pyloto.resilience.pacing import pacing_penalize, pacing_reserve_number, pacing_reserve_pair

NUMBER = "100000000000001"


@pytest.fixture
def shape(settings):
    settings.WHATSAPP_NUMBER_RATE_PER_S = 10.0  # one slot every 100 ms
    settings.WHATSAPP_NUMBER_BURST = 1
    settings.WHATSAPP_PAIR_INTERVAL_S = 6.0
    settings.WHATSAPP_PAIR_BURST = 2
    settings.WHATSAPP_PACING_MAX_WAIT_S = 60.0


def test_slots_on_one_number_are_spaced_by_its_rate(shape):
    waits = [pacing_reserve_number(phone_number_id=NUMBER, now=1000.0).wait_s for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_one_recipient_gets_its_burst_then_one_slot_per_interval(shape):
    waits = [
        pacing_reserve_pair(phone_number_id=NUMBER, recipient="5511900000001", now=1000.0).wait_s for _ in range(4)
    ]
    assert waits == pytest.approx([0.0, 0.0, 6.0, 12.0])
    # Another customer is not held up by the first one's pair limit, nor is the number.
    assert pacing_reserve_pair(phone_number_id=NUMBER, recipient="5511900000002", now=1000.0).wait_s == 0.0
    assert pacing_reserve_number(phone_number_id=NUMBER, now=1000.0).wait_s == 0.0


def test_a_slot_too_far_away_is_not_reserved(shape, settings):
    settings.WHATSAPP_PACING_MAX_WAIT_S = 0.25
    assert [pacing_reserve_number(phone_number_id=NUMBER, now=1000.0).reserved for _ in range(4)] == [True] * 3 + [
        False
    ]
    refused = pacing_reserve_number(phone_number_id=NUMBER, now=1000.0)
    assert not refused.reserved and refused.wait_s == pytest.approx(0.3)
    # Nothing was taken: once time moves on, the next slot is the fourth one.
    assert pacing_reserve_number(phone_number_id=NUMBER, now=1000.1).wait_s == pytest.approx(0.2)


def test_concurrent_workers_never_share_a_slot(shape):
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for index in range(20):
            slot = pacing_reserve_number(phone_number_id=NUMBER, now=1000.0)
            with lock:
                waits.append(round(slot.wait_s, 3))

    threads = [threading.Thread(target=take) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(waits) == [round(i * 0.1, 3) for i in range(100)]


def test_whatsapps_refusal_pushes_the_bucket_back_for_everyone(shape):
    pacing_penalize(phone_number_id=NUMBER, recipient=None, pause_s=2.0, now=1000.0)
    assert pacing_reserve_number(phone_number_id=NUMBER, now=1000.0).wait_s == pytest.approx(2.0)
    pacing_penalize(phone_number_id=NUMBER, recipient="5511900000003", pause_s=9.0, now=1000.0)
    slot = pacing_reserve_pair(phone_number_id=NUMBER, recipient="5511900000003", now=1000.0)
    assert slot.wait_s == pytest.approx(9.0)


def test_asking_whether_a_recipient_is_free_reserves_nothing(shape):
    for _ in range(2):
        pacing_reserve_pair(phone_number_id=NUMBER, recipient="5511900000001", now=1000.0)
    for _ in range(3):
        peek = pacing_reserve_pair(phone_number_id=NUMBER, recipient="5511900000001", max_wait_s=-1, now=1000.0)
        assert not peek.reserved and peek.wait_s == pytest.approx(6.0)


def test_a_slot_is_taken_for_when_the_send_will_really_go(shape):
    pacing_reserve_pair(phone_number_id=NUMBER, recipient="5511900000001", now=1000.0)
    pacing_reserve_pair(phone_number_id=NUMBER, recipient="5511900000001", now=1000.0)
    late = pacing_reserve_pair(phone_number_id=NUMBER, recipient="5511900000001", after_s=4.0, now=1000.0)
    assert late.reserved and late.wait_s == pytest.approx(2.0)
