"""The Redis restart that killed workers (acks_late, unacknowledged messages), reproduced at kombu's level."""

import pytest
from kombu import Connection, Exchange, Queue
from kombu.transport.redis import Transport as KombuRedisTransport

from pyloto.broker import Transport
from tests.fakes.services import PrivateRedis

QUEUE = Queue("fault-test", Exchange("fault-test"), "fault-test")


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def _close_after_a_restart(url: str, transport: type) -> tuple[Connection, list]:
    """What Celery's consumer does when Redis dies under it: two channels each hold an unacked task."""
    connection = Connection(url, transport=transport)
    with connection.Producer() as producer:
        for number in range(4):
            producer.publish({"n": number}, exchange=QUEUE.exchange, routing_key="fault-test", declare=[QUEUE])
    channels = []
    for _ in range(2):
        channel = connection.channel()
        channel.basic_qos(0, 1, False)
        assert QUEUE(channel).get(no_ack=False) is not None  # acks_late: taken, not yet acknowledged
        channels.append(channel)
    return connection, channels


def _errors_closing_channels_after_redis_died(server: PrivateRedis, transport: type) -> tuple[Connection, list, list]:
    connection, channels = _close_after_a_restart(server.url, transport)
    server.stop()
    connection.collect(socket_timeout=0.1)
    connection.close()
    errors = []
    for channel in channels:
        try:
            channel.close()
        except Exception as exc:  # recording what kombu raises is the point
            errors.append(exc)
    return connection, channels, errors


def test_kombus_own_transport_raises_attribute_error_closing_a_channel_of_a_released_connection(private_redis):
    connection, _, errors = _errors_closing_channels_after_redis_died(private_redis, KombuRedisTransport)

    # The upstream behaviour this module works around: not a connection error, so the worker dies.
    assert any(isinstance(exc, AttributeError) and "hostname" in str(exc) for exc in errors)
    assert not any(isinstance(exc, connection.connection_errors) for exc in errors)


def test_our_transport_turns_it_into_a_connection_error_every_close_path_ignores(private_redis):
    connection, channels, errors = _errors_closing_channels_after_redis_died(private_redis, Transport)

    assert errors, "the restore still cannot reach Redis"
    assert all(isinstance(exc, connection.connection_errors) for exc in errors)
    assert all(channel.closed for channel in channels)


def test_the_celery_app_uses_our_transport_for_a_redis_broker():
    from config.celery_app import app

    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)


def _clients_built_for(transport: type, url: str, *, messages: int) -> int:
    """How many redis clients a channel builds to publish, take and acknowledge `messages` messages."""
    connection = Connection(url, transport=transport)
    channel = connection.channel()
    built = []
    original = channel._create_client

    def counting(asynchronous: bool = False):
        built.append(asynchronous)
        return original(asynchronous=asynchronous)

    channel._create_client = counting
    with connection.Producer(channel) as producer:
        for number in range(messages):
            producer.publish({"n": number}, exchange=QUEUE.exchange, routing_key="fault-test", declare=[QUEUE])
    channel.basic_qos(0, 1, False)
    for _ in range(messages):
        message = QUEUE(channel).get(no_ack=False)
        assert message is not None
        message.ack()
    connection.close()
    return len(built)


def test_kombus_own_channel_builds_a_redis_client_for_every_publish_and_ack(private_redis):
    assert _clients_built_for(KombuRedisTransport, private_redis.url, messages=20) >= 40


def test_our_channel_builds_its_client_once(private_redis):
    assert _clients_built_for(Transport, private_redis.url, messages=20) <= 2
