"""kombu's Redis transport, made to survive a Redis restart and to stop building a client per command.

Two fixes on kombu 5.7's `kombu.transport.redis.Channel` (Celery 5.7, redis-py 8.1):

**One client per channel.** `Channel.conn_or_acquire()` (every publish, ack, reject and restore)
builds a new `redis.Redis(connection_pool=...)` each time. redis-py 8 copies its ~170 response
callbacks into a case-insensitive dict in every `Redis.__init__` (measured 0.2-0.9 ms of CPU each on
this project's machine): that, times a publish and an ack per task, was most of Celery's cost per
task. The channel now keeps one client bound to its pool and hands it out (a redis-py client with a
connection pool is thread-safe: each command checks a connection out of the pool); a new pool (after
a reconnect) gets a new client. docs/performance.md has the text reported upstream.

**Surviving a Redis restart under acks_late.**

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

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    _pool_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        yield self.pool_client()

    def pool_client(self) -> Any:
        """The channel's one client on its (synchronous) pool, rebuilt only when the pool is."""
        pool = self.pool
        cached = self._pool_client
        if cached is None or cached.connection_pool is not pool:
            cached = self._pool_client = self._create_client()
        return cached

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection was released (Redis restarted)")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
