#!/usr/bin/env python3
"""PostgreSQL's own settings for a platform of a province's size: what they should be on this machine, what
the server has, and (with --apply) ALTER SYSTEM to set them.

PostgreSQL ships sized for a small machine: 128 MB of shared buffers, a checkpoint every 1 GB of WAL or
5 minutes. A province's database is tens of GB whose hot index pages are all over its tables: with the
defaults, every payment's index entries are read into the 128 MB pool from the operating system's cache and
written out again, and after each checkpoint the first change to a page writes its whole 8 kB image to the
WAL. The values below are the usual starting point of a dedicated database server (PostgreSQL's manual,
"Resource Consumption" and "WAL Configuration"), computed from the machine's memory:

  shared_buffers                25% of memory (needs a restart)
  effective_cache_size          75% of memory (what the planner may count on being cached)
  maintenance_work_mem          1/16 of memory, at most 2 GB (index builds, VACUUM)
  max_wal_size / min_wal_size   16 GB / 2 GB: checkpoints by time, not by WAL volume, under load
  checkpoint_timeout            15 min, spread over 90% of it (checkpoint_completion_target)
  wal_compression               lz4 (or on): full-page images are compressed

and, on Linux, huge pages for the shared memory (the manual, "Linux Huge Pages"): the kernel reserves as
many 2 MB pages as the server's `shared_memory_size_in_huge_pages` (vm.nr_hugepages) and the server, with
`huge_pages = try` (its default), maps its shared buffers on them at its next start. With 4 kB pages each
backend faults in every buffer page it touches and misses the TLB on a province's random pages: huge pages
took 8-19 % (13 % on the mean) off the posting's PostgreSQL CPU a payment on the province
(docs/benchmarks.md). Where a new shared_buffers waits for the restart, the server's figure is still the
old size's (72 pages for 128 MB): the pages are then sized for the new one, so that one restart maps both.
The kernel's
reservation is the machine's, so it is checked only for a server on this machine; --apply (as root) asks
the running kernel for them, and prints the line that keeps them across a reboot.

    .venv/bin/python deploy/postgresql_settings.py [--database-url URL] [--memory-gb N]   # compare
    .venv/bin/python deploy/postgresql_settings.py --apply                                # ALTER SYSTEM

--apply needs a superuser; settings that only a restart takes are listed with the command to restart.
It never restarts the server itself. Exit status: 0 when every setting is at least the recommendation,
1 when one is below it (after --apply: when a restart is still pending), 2 when the server can't be asked.
`make bench-province` prints this comparison before it measures (docs/benchmarks.md, "A province").
"""

import argparse
import math
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

MB = 1024 * 1024
GB = 1024 * MB


def machine_memory() -> int:
    """Bytes of physical memory (Linux and other POSIX systems)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@dataclass(frozen=True)
class Setting:
    name: str
    value: str  # as ALTER SYSTEM takes it
    bytes_or_number: float  # to compare with the server's, in the unit `current_value` returns


def _megabytes(n: int) -> int:
    return max(n // MB, 1)


def recommended(memory: int) -> list[Setting]:
    shared = _megabytes(memory // 4)
    cache = _megabytes(memory * 3 // 4)
    maintenance = min(_megabytes(memory // 16), 2048)
    return [
        Setting("shared_buffers", f"{shared}MB", shared * MB),
        Setting("effective_cache_size", f"{cache}MB", cache * MB),
        Setting("maintenance_work_mem", f"{maintenance}MB", maintenance * MB),
        Setting("max_wal_size", "16GB", 16 * GB),
        Setting("min_wal_size", "2GB", 2 * GB),
        Setting("checkpoint_timeout", "15min", 15 * 60),
        Setting("checkpoint_completion_target", "0.9", 0.9),
        Setting("wal_compression", "lz4", 1),  # "on" (pglz, slower) where the server was built without lz4
    ]


# pg_settings.unit → bytes per unit (sizes) or seconds (times)
_UNITS = {"8kB": 8192, "kB": 1024, "MB": MB, "B": 1, "s": 1, "ms": 0.001, "min": 60}


def current_value(row: tuple) -> float:
    """A pg_settings row (name, setting, unit, vartype) as bytes, seconds or a number; booleans and enums
    as 1 when on (any compression method counts as on)."""
    _name, setting, unit, vartype = row
    if vartype == "bool":
        return 1.0 if setting == "on" else 0.0
    if vartype == "enum":
        return 0.0 if setting == "off" else 1.0
    return float(setting) * _UNITS.get(unit or "", 1)


def server_settings(conn, names: list[str]) -> dict[str, tuple]:
    rows = conn.execute(
        "SELECT name, setting, unit, vartype, pending_restart, current_setting(name) "
        "FROM pg_settings WHERE name = ANY(%s)",
        [names],
    ).fetchall()
    return {row[0]: row for row in rows}


def compare(conn, wanted: list[Setting]) -> tuple[list[str], list[str], list[str]]:
    """(lines to print, names below the recommendation, names waiting for a restart)."""
    have = server_settings(conn, [s.name for s in wanted])
    lines, low, pending = [], [], []
    for setting in wanted:
        row = have[setting.name]
        shown, ok = row[5], current_value(row[:4]) >= setting.bytes_or_number * 0.999
        if row[4]:
            pending.append(setting.name)
        if not ok:
            low.append(setting.name)
        note = " (changed, takes effect at the next restart)" if row[4] else ""
        lines.append(setting_line(ok, setting.name, shown, setting.value, note))
    return lines, low, pending


def setting_line(ok: bool, name: str, shown, recommended: str, note: str = "") -> str:
    """One line of the comparison: a mark, the name, the server's value, the recommendation."""
    return f"  {'ok ' if ok else 'LOW'} {name:<30} {shown:>10}   recommended {recommended}{note}"


HUGE_PAGES_SYSCTL = Path("/proc/sys/vm/nr_hugepages")
COMPACT_MEMORY = Path("/proc/sys/vm/compact_memory")
MEMINFO = Path("/proc/meminfo")
_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class HugePages:
    """What the huge-page check found: pages the server needs, the kernel's pool, the server's setting."""

    needed: int  # the server's shared_memory_size_in_huge_pages
    total: int  # HugePages_Total: reserved by the kernel
    in_use: int  # HugePages_Total - HugePages_Free + HugePages_Rsvd: mapped by a running process
    setting: str  # the server's huge_pages: try, on or off
    own: int | None = None  # of those, mapped by this server (`mapped_huge_pages`); None: not known

    @property
    def others(self) -> int:
        """Pages another process maps (a second PostgreSQL server on this machine, say): the pool holds them,
        but this server cannot have them. Unknown (`own` None): none are counted, as before it was read."""
        return 0 if self.own is None else max(self.in_use - self.own, 0)

    @property
    def wanted(self) -> int:
        """The pool that leaves this server the pages it needs beside what the others hold."""
        return self.needed + self.others

    def verdict(self) -> tuple[str, bool, bool]:
        """(line to print, below the recommendation, waiting for a restart)."""
        low = self.setting == "off" or self.total < self.wanted
        mapped = self.in_use if self.own is None else self.own
        waiting = not low and mapped < self.needed
        note = " (reserved after the server started: it maps them at its next restart)" if waiting else ""
        if self.others:
            note += f" ({self.needed} for this server, {self.others} mapped by another process)"
        recommended = f"{self.wanted}, with huge_pages try or on (it is {self.setting})"
        line = setting_line(not low, "huge pages (vm.nr_hugepages)", self.total, recommended, note)
        return line, low, waiting


def meminfo_fields(text: str) -> dict[str, int]:
    """/proc/meminfo's text as numbers by name, each in its own unit (kB, or pages for HugePages_*)."""
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if value.split():
            fields[name] = int(value.split()[0])
    return fields


def meminfo_huge_pages(text: str) -> tuple[int, int]:
    """(HugePages_Total, pages in use) from /proc/meminfo's text."""
    fields = meminfo_fields(text)
    total = fields.get("HugePages_Total", 0)
    return total, total - fields.get("HugePages_Free", 0) + fields.get("HugePages_Rsvd", 0)


def huge_page_size(text: str) -> int:
    """The kernel's huge page size in bytes (Hugepagesize in /proc/meminfo's text; 2 MB on x86-64)."""
    return meminfo_fields(text).get("Hugepagesize", 2048) * 1024


def smaps_huge_pages(text: str, page_size: int) -> int:
    """Pages of `page_size` bytes that a process maps in hugetlb mappings, from its /proc/PID/smaps text
    (each mapping's Size comes before its KernelPageSize)."""
    size = pages = 0
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "Size":
            size = int(value.split()[0]) * 1024
        elif name == "KernelPageSize" and int(value.split()[0]) * 1024 == page_size:
            pages += size // page_size
    return pages


def mapped_huge_pages(conn, page_size: int) -> int | None:
    """Huge pages this server maps now: its shared memory, as this connection's backend inherited it from the
    postmaster (/proc/PID/smaps, readable by root and by the server's own user). None when they cannot be
    read, or the process id is not a PostgreSQL backend's here (a server in a container has its own ids)."""
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    try:
        if not Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
            return None
        return smaps_huge_pages(Path(f"/proc/{pid}/smaps").read_text(), page_size)
    except OSError:
        return None


def on_this_machine(host: str) -> bool:
    """A socket's directory, a loopback address, or a name that resolves to this machine's own address."""
    if host in _LOCAL_HOSTS or host.startswith("/"):
        return True
    try:
        address = socket.gethostbyname(host)
        return address.startswith("127.") or address == socket.gethostbyname(socket.gethostname())
    except OSError:
        return False


# Shared memory beyond the buffers themselves grows with them (buffer descriptors, the buffer table, the
# checkpointer's sort array): PostgreSQL 15 asked 6,182 MB for 6,026 MB of buffers and 144 MB for 128 MB,
# 2.4 % of the difference. Rounded up, an estimate errs by a few spare pages, not by a fallback to 4 kB.
SHARED_MEMORY_PER_BUFFER_BYTE = 1.025


def shared_buffers_after_restart(conn) -> tuple[int, int]:
    """(shared_buffers now, shared_buffers after the next restart), in bytes: the configuration files'
    value waits in pg_file_settings until then, as its last line, marked "could not be applied" (the view
    is read only by a superuser; otherwise, and for a value the server can't read, no change is known)."""
    now = int(current_value(server_settings(conn, ["shared_buffers"])["shared_buffers"][:4]))
    try:
        # A bare number is in the setting's unit, 8 kB blocks; anything else has its unit written.
        row = conn.execute(
            "SELECT CASE WHEN setting ~ '^[0-9]+$' THEN setting::bigint * 8192 "
            "ELSE pg_size_bytes(setting) END FROM pg_file_settings WHERE name = 'shared_buffers' "
            "ORDER BY seqno DESC LIMIT 1"
        ).fetchone()
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.InvalidParameterValue):
        row = None
    return now, row[0] if row else now


def huge_pages(conn) -> HugePages | None:
    """The check, or None where it does not apply: the server on another machine, no Linux huge pages, or a
    server that can't say how many it needs (PostgreSQL before 15). A shared_buffers waiting for the restart
    is counted in what it needs (SHARED_MEMORY_PER_BUFFER_BYTE)."""
    if not on_this_machine(conn.info.host or "") or not MEMINFO.exists():
        return None
    row = conn.execute(
        "SELECT current_setting('shared_memory_size_in_huge_pages', true), current_setting('huge_pages')"
    ).fetchone()
    if row[0] is None or int(row[0]) <= 0:
        return None
    meminfo = MEMINFO.read_text()
    total, in_use = meminfo_huge_pages(meminfo)
    now, after = shared_buffers_after_restart(conn)
    page_size = huge_page_size(meminfo)
    needed = int(row[0]) + math.ceil((after - now) * SHARED_MEMORY_PER_BUFFER_BYTE / page_size)
    own = mapped_huge_pages(conn, page_size)
    return HugePages(needed=max(needed, 1), total=total, in_use=in_use, setting=row[1], own=own)


def compare_all(conn, wanted: list[Setting], found: HugePages | None) -> tuple[list, list, list]:
    """`compare`, and the huge pages `found` where they apply (`huge_pages(conn)`)."""
    lines, low, pending = compare(conn, wanted)
    if found is not None:
        line, below, waiting = found.verdict()
        lines.append(line)
        low += ["huge pages"] if below else []
        pending += ["huge pages"] if waiting else []
    return lines, low, pending


def reserve_huge_pages(conn, found: HugePages) -> None:
    """Ask the running kernel for the pages the server needs (root only), and say what it gave."""
    if found.setting == "off":
        conn.execute("ALTER SYSTEM SET huge_pages = 'try'")  # not 'on': a server refusing to start is worse
    wanted = found.wanted  # this server's pages beside those another process maps
    if found.total >= wanted:
        return
    keep = f"echo 'vm.nr_hugepages = {wanted}' > /etc/sysctl.d/60-postgresql-huge-pages.conf"
    if os.geteuid() != 0:
        print(f"huge pages: as root, sysctl -w vm.nr_hugepages={wanted}; across reboots: {keep}")
        return
    try:
        # Memory the page cache fragmented may not give 2 MB pages: compact it first (dropping nothing).
        COMPACT_MEMORY.write_text("1\n")
        HUGE_PAGES_SYSCTL.write_text(f"{wanted}\n")
        given = int(HUGE_PAGES_SYSCTL.read_text())
    except OSError as exc:  # a container's read-only /proc/sys, say
        print(f"huge pages: the kernel refused ({exc}); on the host, vm.nr_hugepages={wanted}: {keep}")
        return
    print(f"huge pages: the kernel reserved {given} of the {wanted} asked; across reboots: {keep}")


def apply(conn, setting: Setting) -> None:
    try:
        conn.execute(f"ALTER SYSTEM SET {setting.name} = '{setting.value}'")
    except psycopg.errors.InvalidParameterValue:
        if setting.name != "wal_compression":
            raise
        conn.execute("ALTER SYSTEM SET wal_compression = 'on'")  # built without lz4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="the server to ask (default: DATABASE_URL)",
    )
    parser.add_argument("--memory-gb", type=float, help="size for this much memory (default: this machine's)")
    parser.add_argument("--apply", action="store_true", help="ALTER SYSTEM SET each one below it, and reload")
    args = parser.parse_args(argv)
    memory = int(args.memory_gb * GB) if args.memory_gb else machine_memory()
    wanted = recommended(memory)
    try:
        # libpq reads a postgres:// URL itself (host, port, user, password, database).
        with psycopg.connect(args.database_url, autocommit=True, connect_timeout=5) as conn:
            lines, low, pending = compare_all(conn, wanted, huge_pages(conn))
            server = f"{conn.info.host}:{conn.info.port}"
            print(f"PostgreSQL settings for {memory / GB:.0f} GB of memory ({server}):")
            print("\n".join(lines))
            if args.apply and low:
                for setting in wanted:
                    if setting.name in low:
                        apply(conn, setting)
                conn.execute("SELECT pg_reload_conf()")
                time.sleep(0.5)  # the reload reaches this backend as a signal, before its next query
                if "huge pages" in low or "shared_buffers" in low:
                    # Found after the reload: sized for the shared_buffers the restart will bring.
                    found = huge_pages(conn)
                    if found is not None:
                        reserve_huge_pages(conn, found)
                lines, low, pending = compare_all(conn, wanted, huge_pages(conn))
                print("after ALTER SYSTEM and a reload:")
                print("\n".join(lines))
    except psycopg.Error as exc:
        print(f"could not ask the server: {exc}".strip(), file=sys.stderr)
        return 2
    if pending or (args.apply and low):
        waiting = sorted(set(pending) | set(low))
        print(
            f"waiting for a restart: {', '.join(waiting)}. On Debian: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart"
        )
        return 1
    if low:
        print(f"below the recommendation: {', '.join(low)}. Set them with: {sys.argv[0]} --apply")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
