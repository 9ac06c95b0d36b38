"""benchmarks/figures.py: `make bench-province` ends with every figure beside its floor in one table, names
the benchmarks that recorded nothing, and puts the two ratios of the posting side by side as machine time."""

import json
import sys
from pathlib import Path

import pytest
from django.conf import settings

sys.path.insert(0, str(Path(settings.BASE_DIR) / "benchmarks"))
import figures  # scripts beside their own modules, not a package
import import_bills


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    path = tmp_path / "figures.jsonl"
    monkeypatch.setenv(figures.ENV, str(path))
    return path


def test_nothing_is_written_unless_the_run_names_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv(figures.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    figures.record("reconcile", "1M × 1M reconciliation", "14.10 s", "<= 20 s", met=True)
    assert list(tmp_path.iterdir()) == []


def test_the_table_gives_each_figure_its_floor_and_verdict_and_counts_them(recorded):
    figures.record("reconcile", "1M × 1M reconciliation", "14.10 s", "<= 20 s", met=True)
    figures.record("post_payments --desk", "posting desk ÷ pgbench", "795/s", "(informative)", met=None)
    figures.record("partner_api", "partner API ÷ post_payment direct", "0.41x", ">= 0.5x", met=False)

    lines = figures.summary(recorded)

    row = {line.split("  ")[0].strip(): line for line in lines[2:5]}
    assert row["1M × 1M reconciliation"].endswith("<= 20 s  met")
    assert row["posting desk ÷ pgbench"].endswith("(informative)")
    assert row["partner API ÷ post_payment direct"].endswith(">= 0.5x  MISSED")
    assert "1 floor(s) met, 1 missed: partner API ÷ post_payment direct" in lines
    absent = next(line for line in lines if line.startswith("recorded nothing")).split(": ", 1)[1].split(", ")
    assert "admin_lists" in absent and "settlement" in absent and "partner_api --server granian" in absent
    assert "reconcile" not in absent and "partner_api" not in absent


def test_the_columns_line_up_past_a_chinese_search_term(recorded):
    figures.record(
        "admin_lists", "portal: slowest p95", "25.1 ms (portal: biller search 自来水)", "<= 100 ms", met=True
    )
    figures.record("admin_lists", "outlets: slowest p95", "40.7 ms (outlets: nearest)", "<= 100 ms", met=True)
    rows = figures.table(figures.read(recorded))
    assert {figures._columns(row.split("<=")[0]) for row in rows[2:]} == {
        figures._columns(rows[0].split("floor")[0])
    }


def test_the_two_ratios_are_put_as_the_machine_time_each_asks_of_a_payment(recorded):
    figures.record(
        "post_payments",
        "post_payment ÷ pgbench",
        "837/s ÷ 3658 tps = 0.23x",
        ">= 0.25x",
        met=False,
        one_at_a_time=True,
        tps=4000.0,
        floor_ratio=0.25,
        cpus=2,
        machine_ms=2.16,
    )
    figures.record(
        "partner_api",
        "partner API ÷ post_payment direct",
        "0.52x",
        ">= 0.5x",
        met=True,
        direct_machine_ms=1.90,
        api_machine_ms=3.70,
    )

    text = "\n".join(figures.window(figures.read(recorded)))

    # 2 CPUs ÷ (0.25 × 4000 tps) = 2.00 ms a payment at most; the API's cost past the posting 1.80 ms.
    assert "at most 2.00 ms on a busy machine" in text and "it used 2.16 ms" in text
    assert "its cost past the posting (1.80 ms) at most the posting's own called directly (1.90 ms)" in text
    assert "a window of 0.20 ms here" in text


def test_no_window_is_said_when_the_api_costs_more_past_the_posting_than_the_posting_may(recorded):
    posting = {"one_at_a_time": True, "tps": 4000, "floor_ratio": 0.25, "cpus": 2, "machine_ms": 2.2}
    figures.record("post_payments", "p", "", "", met=False, **posting)
    figures.record("partner_api", "a", "", "", met=False, direct_machine_ms=2.0, api_machine_ms=4.3)

    assert (
        "no window here: the API's cost past the posting is 0.30 ms over that cap"
        in figures.window(figures.read(recorded))[-1]
    )


def test_a_run_without_both_ratios_says_so(recorded):
    batches = {"one_at_a_time": False, "tps": 4000, "floor_ratio": 0.25, "cpus": 2, "machine_ms": 1.0}
    figures.record("post_payments --batch", "batches", "", "", met=True, **batches)
    assert figures.window(figures.read(recorded)) == [
        "the two ratios: not both measured in this run (the posting beside pgbench, and the API)"
    ]


def test_a_benchmark_records_its_verdict_and_nothing_when_its_checks_failed(recorded):
    assert import_bills.verdict([("rows", True)], 22.9, 110.0, 40.0, strict=False) == 0
    assert import_bills.verdict([("rows", True)], 41.0, 110.0, 40.0, strict=True) == 3
    assert import_bills.verdict([("rows", False)], 10.0, 110.0, 40.0, strict=False) == 1

    lines = [json.loads(line) for line in recorded.read_text().splitlines()]
    assert [(line["shown"], line["met"]) for line in lines] == [
        ("22.9 s, 110 MB", True),
        ("41.0 s, 110 MB", False),
    ]
    assert lines[0]["floor"] == "<= 40 s, <= 500 MB"


def test_the_command_prints_the_summary_and_refuses_a_wrong_call(recorded, capsys):
    figures.record("reconcile", "1M × 1M reconciliation", "14.10 s", "<= 20 s", met=True)
    assert figures.main([str(recorded)]) == 0
    assert "1 floor(s) met, 0 missed" in capsys.readouterr().out
    assert figures.main([]) == 2
    assert figures.main([str(recorded.parent / "none.jsonl")]) == 0
    assert "no figures recorded in" in capsys.readouterr().out


def test_the_percentile_every_benchmark_prints_is_the_nearest_rank_of_unsorted_values():
    values = [float(value) for value in range(100, 0, -1)]  # 100 … 1, as measured: not sorted
    assert [figures.percentile(values, q) for q in (0.50, 0.95, 0.99, 1.0)] == [50.0, 95.0, 99.0, 100.0]
    assert figures.percentile([7.0], 0.99) == 7.0
    assert figures.percentile([], 0.5) != figures.percentile([], 0.5)  # NaN: nothing was measured


def test_a_what_if_server_is_shown_without_a_verdict_and_leaves_the_window_to_production(recorded):
    posting = {"one_at_a_time": True, "tps": 3500.0, "floor_ratio": 0.25, "cpus": 2, "machine_ms": 1.8}
    figures.record("post_payments", "post_payment ÷ pgbench", "0.29x", ">= 0.25x", met=True, **posting)
    # The what-if first: the window still reads production's figure, whatever the order.
    figures.record(
        "partner_api --server granian",
        "partner API ÷ post_payment direct, under granian (what-if)",
        "0.51x",
        "(informative; the floor is 0.5x)",
        met=None,
        direct_machine_ms=1.7,
        api_machine_ms=3.0,
    )
    figures.record(
        "partner_api",
        "partner API ÷ post_payment direct",
        "0.44x",
        ">= 0.5x",
        met=False,
        direct_machine_ms=1.7,
        api_machine_ms=3.6,
    )
    lines = figures.summary(recorded)
    assert "1 floor(s) met, 1 missed: partner API ÷ post_payment direct" in lines
    what_if = next(line for line in lines if "what-if" in line)
    assert "met" not in what_if.replace("(informative; the floor is 0.5x)", "")
    assert any("cost past the posting (1.90 ms)" in line for line in lines)  # 3.6 - 1.7: production's
