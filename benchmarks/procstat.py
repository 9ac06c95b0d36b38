"""CPU time read from /proc: what the benchmarks report beside wall-clock rates, which a shared VM makes
noisy (the same run moves by ±20 %), while CPU seconds per request or payment barely move."""

import os
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
