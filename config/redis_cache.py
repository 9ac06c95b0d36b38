"""Django's Redis cache, with one Redis client object per connection pool instead of a new one for every
cache call: building a `redis.Redis` (its table of response callbacks) cost more Python than the round trip
itself (about a third of a millisecond on the 2-core machine), and the partner API makes several cache calls
a request (docs/benchmarks.md, "Partner API"). The clients share their pool as before; a pool renews its
connections itself in a forked process."""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
