"""kombu's Redis transport, made to survive a Redis restart under acks_late (Celery 5.7, kombu 5.7).

When the broker connection drops, Celery's consumer collects the connection and then closes it;
collecting releases the transport (`transport.client = None`). Closing the channels restores their
unacknowledged messages to Redis, and Redis is down, so the first restore raises and the channels
after it are left open. When the consumer's restart later closes one of those, its restore asks the
released transport for the host name and fails with `AttributeError("'NoneType' object has no
attribute 'hostname'")`. That is not a connection error, so nothing ignores it, and the worker dies
with "Unrecoverable error" — with acks_late there are always unacknowledged messages.

The workaround: a channel whose transport was released raises redis' ConnectionError instead, which
every close path already ignores. The messages it could not restore stay in Redis' unacked index
and are handed out again after the visibility timeout (with AOF; a Redis without persistence lost
them anyway, and the sweeper re-drives their runs and sends). tests/pyloto/test_broker.py reproduces
the crash with kombu's own transport and shows it gone with this one; the report for kombu's
maintainers (reproduction, versions, the same fix proposed upstream) is
docs/operations/kombu-redis-restart-bug.md.
"""

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection was released (Redis restarted)")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
