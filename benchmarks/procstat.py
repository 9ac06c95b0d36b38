"""CPU time read from /proc: what the benchmarks report beside wall-clock rates, which a shared VM makes
noisy (the same run moves by ±20 %), while CPU seconds per request or payment barely move."""

import os
import threading
from pathlib import Path


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a local process from /proc, or None (not Linux, not local, gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_seconds() -> float | None:
    """CPU seconds all CPUs spent busy since boot (everything but idle and iowait), from /proc/stat."""
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process's live children (gunicorn's workers under its master), or None."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    seconds = [proc_cpu_seconds(int(child)) for child in children]
    return sum(value for value in seconds if value is not None)


def machine_load() -> str:
    """The one-minute load average, as the benchmarks print it before and after a run ("?" off Linux)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


class PrivateMemoryPeak:
    """The highest private memory (RssAnon) of a local process while the block runs, sampled every 20 ms.

    A PostgreSQL backend's VmHWM counts every page of the shared buffer pool it has touched: with
    shared_buffers sized for a province (deploy/postgresql_settings.py) a backend that scanned 4 GB of
    tables "peaks" at 4 GB without holding a byte of its own. What it allocates itself (sorts, hashes,
    temporary buffers) is anonymous memory. `peak` is None where /proc cannot be read."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid, self.interval, self.peak = pid, interval, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _read(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def _sample(self) -> None:
        while True:
            value = self._read()
            if value is not None:
                self.peak = max(self.peak or 0, value)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "PrivateMemoryPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
