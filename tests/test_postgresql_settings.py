"""deploy/postgresql_settings.py: the server settings a province needs, sized from the machine's memory,
compared with what the running server has; a setting below them is named and the exit status says so."""

import mmap
import os
import socket
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from tests.support import database_url, load_file_module

SCRIPT = settings.BASE_DIR / "deploy" / "postgresql_settings.py"


MAP_HUGETLB = getattr(mmap, "MAP_HUGETLB", 0x40000)  # Linux's flag; in the mmap module from Python 3.13


def load_script():
    return load_file_module(SCRIPT, "postgresql_settings")


def test_the_recommendation_is_sized_from_memory():
    script = load_script()
    wanted = {s.name: s.value for s in script.recommended(24 * script.GB)}
    assert wanted["shared_buffers"] == "6144MB"
    assert wanted["effective_cache_size"] == "18432MB"
    assert wanted["maintenance_work_mem"] == "1536MB"
    assert wanted["max_wal_size"] == "16GB" and wanted["checkpoint_timeout"] == "15min"
    small = {s.name: s.value for s in script.recommended(4 * script.GB)}
    assert small["shared_buffers"] == "1024MB" and small["maintenance_work_mem"] == "256MB"
    huge = {s.name: s.value for s in script.recommended(256 * script.GB)}
    assert huge["maintenance_work_mem"] == "2048MB", "capped at 2 GB"


def test_server_values_are_read_in_their_units():
    script = load_script()
    assert script.current_value(("shared_buffers", "16384", "8kB", "integer")) == 128 * script.MB
    assert script.current_value(("max_wal_size", "1024", "MB", "integer")) == script.GB
    assert script.current_value(("checkpoint_timeout", "300", "s", "integer")) == 300
    assert script.current_value(("wal_compression", "pglz", None, "enum")) == 1
    assert script.current_value(("wal_compression", "off", None, "enum")) == 0


def test_the_running_server_is_compared_and_a_low_setting_named(db):
    url = database_url()
    # Sized for a machine with a thousand times this one's memory, every size is below it: named, exit 1.
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--database-url", url, "--memory-gb", "24000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "LOW shared_buffers" in result.stdout
    named = ("below the recommendation: shared_buffers", "waiting for a restart")
    assert any(text in result.stdout for text in named)


def test_an_unreachable_server_is_said_so():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--database-url", "postgres://postgres@127.0.0.1:1/postgres"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "could not ask the server" in result.stderr


MEMINFO = """MemTotal:       24591912 kB
HugePages_Total:    3200
HugePages_Free:      225
HugePages_Rsvd:      116
HugePages_Surp:        0
Hugepagesize:       2048 kB
"""


def test_huge_pages_in_use_are_read_from_meminfo():
    script = load_script()
    # Pages touched (3200 - 225) and pages the server mapped but has not touched yet (116).
    assert script.meminfo_huge_pages(MEMINFO) == (3200, 3091)
    assert script.meminfo_huge_pages("MemTotal: 1 kB\n") == (0, 0)


def test_huge_pages_are_judged_against_what_the_server_needs():
    script = load_script()

    def judged(**found):
        return script.HugePages(**{"needed": 3091, "total": 3200, "in_use": 3091, "setting": "try", **found})

    line, low, waiting = judged().verdict()
    assert line.startswith("  ok  huge pages") and not low and not waiting
    line, low, waiting = judged(total=0, in_use=0).verdict()
    assert line.startswith("  LOW huge pages") and "recommended 3091" in line and low and not waiting
    _line, low, _waiting = judged(setting="off").verdict()
    assert low, "reserved pages a server started with huge_pages off never uses"
    line, low, waiting = judged(in_use=0).verdict()
    assert not low and waiting and "next restart" in line


def test_huge_pages_another_server_maps_are_not_this_servers():
    """Two PostgreSQL servers on one machine share the kernel's pool. Pages the other maps are in use, but
    not by this server: counted as its own, they hid that the pool is short (the server would fall back to
    4 kB pages at its restart) and that it is not on them now."""
    script = load_script()

    def judged(**found):
        return script.HugePages(**{"needed": 3091, "total": 3200, "setting": "try", **found})

    line, low, waiting = judged(in_use=3000, own=0).verdict()
    assert low and not waiting, "3,000 of 3,200 held by the other: 200 left for 3,091"
    assert "recommended 6091" in line and "3000 mapped by another process" in line
    line, low, waiting = judged(in_use=3000, own=3000).verdict()
    assert not low and waiting, "its own 3,000 now; the pool holds the 3,091 its restart asks"
    line, low, waiting = judged(total=6200, in_use=6091, own=3091).verdict()
    assert line.startswith("  ok  huge pages") and not low and not waiting
    assert judged(in_use=3091).others == 0, "not known whose: as before, all of them this server's"


def test_the_pages_a_process_maps_are_read_from_its_smaps():
    script = load_script()
    smaps = (
        "7f2898200000-7f2a1a800000 rw-s 00000000 00:11 14874    /anon_hugepage (deleted)\n"
        "Size:            6330368 kB\nKernelPageSize:     2048 kB\nShared_Hugetlb:   118784 kB\n"
        "55d0c0a00000-55d0c0b00000 r--p 00000000 08:01 1234    /usr/lib/postgresql/15/bin/postgres\n"
        "Size:               1024 kB\nKernelPageSize:        4 kB\n"
    )
    assert script.smaps_huge_pages(smaps, 2 * script.MB) == 3091
    assert script.smaps_huge_pages(smaps, script.GB) == 0, "no mapping of 1 GB pages"


def test_pages_another_process_holds_are_counted_as_others(db):
    """This test's own process maps one huge page from the real kernel's pool, as a second server would: the
    check still finds the server's own pages, and one more held by another."""
    script = load_script()
    url = database_url()
    with script.psycopg.connect(url, autocommit=True) as conn:
        before = script.huge_pages(conn)
        if before is None or before.own is None:
            pytest.skip("no Linux huge pages here, or the server's process cannot be read")
        needed = conn.execute("SELECT current_setting('shared_memory_size_in_huge_pages')").fetchone()[0]
        assert before.own in (0, int(needed)), "the server maps all its shared memory on huge pages, or none"
        meminfo = script.MEMINFO.read_text()
        fields = script.meminfo_fields(meminfo)
        if fields["HugePages_Free"] - fields["HugePages_Rsvd"] < 1:
            pytest.skip("no free huge page in the kernel's pool to hold")
        page = script.huge_page_size(meminfo)
        held = mmap.mmap(-1, page, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS | MAP_HUGETLB)
        try:
            during = script.huge_pages(conn)
        finally:
            held.close()
    assert (during.own, during.others) == (before.own, before.others + 1)
    assert during.wanted == before.wanted + 1


def test_the_running_server_on_this_machine_has_its_huge_pages_checked(db):
    url = database_url()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--database-url", url], capture_output=True, text=True, timeout=60
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('shared_memory_size_in_huge_pages', true)")
        needed = cursor.fetchone()[0]
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert "huge pages (vm.nr_hugepages)" in result.stdout
    assert f"recommended {needed}," in result.stdout


def test_the_kernel_is_asked_only_about_a_server_on_this_machine():
    script = load_script()
    assert script.on_this_machine("127.0.0.1") and script.on_this_machine("/var/run/postgresql")
    assert script.on_this_machine(socket.gethostname())
    assert not script.on_this_machine("db.invalid"), "a name that resolves nowhere"
    assert not script.on_this_machine("192.0.2.1"), "another machine (TEST-NET-1)"


def test_apply_asks_the_kernel_for_the_pages_and_says_what_it_gave(tmp_path, monkeypatch, capsys):
    script = load_script()
    monkeypatch.setattr(script, "HUGE_PAGES_SYSCTL", tmp_path / "nr_hugepages")
    monkeypatch.setattr(script, "COMPACT_MEMORY", tmp_path / "compact_memory")
    short = script.HugePages(needed=3091, total=0, in_use=0, setting="try")
    script.reserve_huge_pages(None, short)
    said = capsys.readouterr().out
    if os.geteuid() != 0:
        assert "as root, sysctl -w vm.nr_hugepages=3091" in said
        return
    assert (tmp_path / "nr_hugepages").read_text() == "3091\n"
    assert "the kernel reserved 3091 of the 3091 asked" in said
    assert "vm.nr_hugepages = 3091' > /etc/sysctl.d/" in said, "the line that keeps them across a reboot"
    # A kernel that refuses (a container's read-only /proc/sys): said, not raised.
    monkeypatch.setattr(script, "HUGE_PAGES_SYSCTL", tmp_path)  # a directory: writing it fails
    script.reserve_huge_pages(None, short)
    assert "the kernel refused" in capsys.readouterr().out


def test_huge_pages_are_sized_for_the_shared_buffers_the_restart_brings(db):
    """--apply sets shared_buffers and reserves the huge pages in one go: the server's own figure is still
    the old size's until the restart, so the pages are sized for the new one (one restart maps both).

    The server's configuration changes for a moment, and is put back: no other test reads what it would
    map at its next start but this module's, which run in one process, one after another (loadscope)."""
    script = load_script()
    url = database_url()
    with script.psycopg.connect(url, autocommit=True) as conn:
        found = script.huge_pages(conn)
        if found is None:
            return  # no Linux huge pages here: nothing to size
        now, after = script.shared_buffers_after_restart(conn)
        kept = conn.execute(
            "SELECT setting FROM pg_file_settings WHERE name = 'shared_buffers' "
            "AND sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1"
        ).fetchone()
        try:
            conn.execute(f"ALTER SYSTEM SET shared_buffers = '{after // script.MB + 1024}MB'")
            conn.execute("SELECT pg_reload_conf()")
            grown = script.huge_pages(conn)
        finally:
            restore = f"SET shared_buffers = '{kept[0]}'" if kept else "RESET shared_buffers"
            conn.execute(f"ALTER SYSTEM {restore}")
            conn.execute("SELECT pg_reload_conf()")
        assert script.shared_buffers_after_restart(conn) == (now, after), "the server's own setting is back"
    # 1 GB more buffers in 2 MB pages, with the 2.5 % of shared memory that grows with them.
    page = script.huge_page_size(script.MEMINFO.read_text())
    assert grown.needed - found.needed == -(-int((1024 * script.MB) * 1.025) // page)
    assert script.huge_page_size("Hugepagesize:    1048576 kB\n") == script.GB
