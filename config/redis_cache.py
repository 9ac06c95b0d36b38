"""Django's Redis cache, made cheap to call: every payment asks it once (the outbox relay's mark,
billing.outbox), a signed API request once more (its nonce and rate limit, config.ratelimit), and every
portal page once (its rate limit).

- One Redis client object per connection pool instead of a new one for every cache call: building a
  `redis.Redis` (its table of response callbacks) cost more Python than the round trip itself (about a third
  of a millisecond on the 2-core machine; docs/benchmarks.md, "Partner API").
- Each thread sends its single commands on a connection of its own, not one borrowed from the pool and given
  back: redis-py 8 times every command, and counts every borrow and return of a connection, for metrics
  nobody collects here. A `SET NX` cost 73–87 µs of the process's CPU that way and 23–31 µs on the thread's
  own connection (2026-12-06). The rate limiter kept such a connection for itself; now every cache call has
  one. Pipelines (`set_many`, `delete_many`) still borrow from the pool.
- hiredis (a dependency) packs the commands and parses the replies in C: 43,000 instructions fewer a
  payment, 143,000 fewer a signed API request (callgrind, 2026-12-06).
"""

import os
import threading

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _OwnConnectionRedis(redis.Redis):
    """A client whose single commands go over its thread's own connection, made afresh in a forked child.

    A connection that broke (Redis restarted, the socket timed out) is closed and the command sent once more
    on a new one, as redis-py's default retry does; a second failure is raised to the cache's caller."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._own = threading.local()

    def _own_connection(self):
        own = self._own
        if getattr(own, "pid", None) != os.getpid():
            pool = self.connection_pool  # its settings; the pool neither lends nor counts this connection
            own.connection, own.pid = pool.connection_class(**pool.connection_kwargs), os.getpid()
        return own.connection

    def execute_command(self, *args, **options):
        connection = self._own_connection()
        for attempt in (1, 2):
            try:
                connection.send_command(*args)  # connects first when closed
                return self.parse_response(connection, args[0], **options)
            except (redis.ConnectionError, redis.TimeoutError):
                connection.disconnect()
                if attempt == 2:
                    raise


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._client = _OwnConnectionRedis
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = super().get_client(key, write=write)
        return client


class ReusingRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient
