"""One beat for the whole installation (CELERY_BEAT_SCHEDULER = "config.beat:GuardedScheduler").

Two beats would run every periodic task twice (two nightly settlements, two reminder rounds). The running
beat holds a Redis key (`SET key token NX EX ttl`) and refreshes its TTL at every tick (at most every
CELERY_BEAT_MAX_LOOP_INTERVAL seconds). A second beat finds the key held and refuses to start with a clear
log line; if the first dies, its key expires within BEAT_LOCK_TTL_SECONDS and a beat started then (systemd
restarts it, or a standby machine's) takes over. A beat that finds its key taken by another stops rather
than run beside it; one that finds it merely expired (it could not tick for longer than the TTL) takes it
again.
"""

import logging
import os
import socket
import uuid

import redis
from celery.beat import PersistentScheduler
from django.conf import settings

logger = logging.getLogger(__name__)

LOCK_KEY = "billpay:celery-beat:lock"

# Refresh the TTL only if the key is still ours: 1 refreshed, 0 lost.
_REFRESH = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('expire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class BeatAlreadyRunning(SystemExit):
    pass


class BeatLock:
    def __init__(self, url: str | None = None, ttl: int | None = None):
        self.client = redis.Redis.from_url(url or settings.BEAT_LOCK_URL, socket_timeout=5)
        self.ttl = ttl or settings.BEAT_LOCK_TTL_SECONDS
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        return bool(self.client.set(LOCK_KEY, self.token, nx=True, ex=self.ttl))

    def holder(self) -> str:
        value = self.client.get(LOCK_KEY)
        return value.decode() if value else "nobody"

    def refresh(self) -> bool:
        return bool(self.client.eval(_REFRESH, 1, LOCK_KEY, self.token, self.ttl))

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, LOCK_KEY, self.token)


class GuardedScheduler(PersistentScheduler):
    """Celery's file-backed scheduler, run only while this beat holds the installation's beat lock."""

    lock: BeatLock | None = None

    def setup_schedule(self):
        self.lock = BeatLock()
        if not self.lock.acquire():
            message = (
                f"another celery beat is running (beat lock {LOCK_KEY} held by {self.lock.holder()}); "
                "this one refuses to start: run exactly one beat per installation"
            )
            logger.critical(message)
            raise BeatAlreadyRunning(message)
        logger.info("celery beat: holding the beat lock %s as %s", LOCK_KEY, self.lock.token)
        super().setup_schedule()

    def tick(self, *args, **kwargs):
        if self.lock is not None:
            try:
                held = self.lock.refresh()
            except redis.RedisError:  # Redis away for a moment: keep going until the TTL says otherwise
                logger.warning("celery beat: could not refresh the beat lock", exc_info=True)
                held = True
            if not held and self.lock.acquire():
                # Gone, not taken by another beat: this one could not tick for longer than the TTL (a stall,
                # e.g. the broker's reconnect backoff after Redis was away), or Redis lost the key. No other
                # beat holds it, so this one takes it again and goes on; stopping would leave the
                # installation with no beat at all (Celery ends beat with a clean exit, which systemd's
                # Restart=on-failure does not restart). Found by the cluster run (deploy/cluster.py).
                logger.warning("celery beat: the beat lock %s had expired; taken again", LOCK_KEY)
                held = True
            if not held:
                message = f"celery beat: lost the beat lock {LOCK_KEY} to {self.lock.holder()}; stopping"
                logger.critical(message)
                raise BeatAlreadyRunning(message)
        return super().tick(*args, **kwargs)

    def close(self):
        super().close()
        if self.lock is not None:
            try:
                self.lock.release()
            except redis.RedisError:
                logger.warning("celery beat: could not release the beat lock", exc_info=True)
