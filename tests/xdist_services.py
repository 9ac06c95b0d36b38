"""Each pytest-xdist worker (`make test` runs two) gets Redis databases of its own.

Every test empties the cache (tests/conftest.py) and the broker's queues live beside it; two workers sharing a
Redis database would empty each other's rate-limit counters, nonces and queued tasks. Loaded with `-p` (see
pyproject.toml) so that it runs before pytest-django reads the settings; PostgreSQL needs nothing here:
pytest-django gives each worker its own test database (test_billpay_gw0, …).
"""

import os
import re

# Worker N's databases are N × 8 above the configured ones (Redis has 16: worker 0 keeps 0–7, worker 1 8–15).
STRIDE = 8
URLS = {
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/1",
}


def _shifted(url: str, by: int) -> str:
    match = re.fullmatch(r"(rediss?://[^/]+)(?:/(\d+))?", url)
    if match is None:
        return url
    return f"{match[1]}/{(int(match[2] or 0) + by) % 16}"


def _give_this_worker_its_own_redis() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    by = int(worker[2:]) * STRIDE
    if not by:
        return
    for name, default in URLS.items():
        os.environ[name] = _shifted(os.environ.get(name, default), by)
    for name in ("CACHE_URL", "BEAT_LOCK_URL"):
        if name in os.environ:
            os.environ[name] = _shifted(os.environ[name], by)


_give_this_worker_its_own_redis()
