"""Every figure of `make bench-province` in one table at the end of its run, each beside its floor (issue 16:
"prints every figure above with its floor"), and what the run says about the two ratios of the posting.

Each benchmark prints its own figures as it goes. Where the run names a file in BENCH_FIGURES (the Makefile
does, for bench-province), each also adds every figure it printed with a floor to that file, one JSON line a
figure (`record`). Then

    python benchmarks/figures.py var/province_figures.jsonl

prints them as one table, in the order they were measured, with how many floors were met and missed. A
benchmark that stopped before its verdict adds nothing, and the table says which of the expected ones are
absent rather than passing over them.

The two ratios (docs/benchmarks.md, "Each at its best concurrency"): the posting one payment at a
time must reach 0.25× pgbench's rate, and the partner API 0.5× the posting called directly. On a machine kept
busy, the first needs a payment in at most CPUs ÷ (0.25 × pgbench's tps) of the machine; the second needs the
API's cost past the posting at most the posting's own. A cut in the posting moves the first toward its floor
and the second away from it, so the table ends with both measures from the same run (`window`)."""

import json
import math
import os
import sys
import unicodedata
from pathlib import Path

ENV = "BENCH_FIGURES"

# What `make bench-province` measures, by the `source` each benchmark records under: absent ones are named.
EXPECTED_SOURCES = (
    "admin_lists",
    "lookup_page",
    "post_payments",
    "post_payments --batch",
    "post_payments --desk",
    "partner_api",
    "partner_api --server granian",
    "import_bills",
    "reconcile",
    "settlement",
    "statement_import",
)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (NaN for none): the p50, p95 and p99 every benchmark prints."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(max(1, math.ceil(fraction * len(ordered))), len(ordered)) - 1]


def record(source: str, figure: str, shown: str, floor: str, *, met: bool | None, **data) -> None:
    """Add one figure to the run's file when BENCH_FIGURES names one (else nothing). `shown`: the figure as
    its benchmark printed it; `floor`: its floor in words; `met`: None for a figure with no floor. `data`:
    numbers `window` reads (JSON values)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = {"source": source, "figure": figure, "shown": shown, "floor": floor, "met": met, "data": data}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")


def read(path: Path) -> list[dict]:
    """The figures recorded in `path`, in order; none when it does not exist."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _columns(text: str) -> int:
    """How many terminal columns `text` takes: a Chinese character (a search term in a page's name) two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _padded(text: str, width: int) -> str:
    return text + " " * (width - _columns(text))


def table(figures: list[dict]) -> list[str]:
    """The figures as rows of text: figure, value, floor, verdict."""
    width = max([_columns(f["figure"]) for f in figures] + [6])
    shown_width = max([_columns(f["shown"]) for f in figures] + [5])
    rows = [
        f"{_padded('figure', width)}  {_padded('value', shown_width)}  floor",
        "-" * (width + shown_width + 30),
    ]
    for f in figures:
        verdict = "" if f["met"] is None else ("met" if f["met"] else "MISSED")
        floor = f"{f['floor']}  {verdict}".rstrip()
        rows.append(f"{_padded(f['figure'], width)}  {_padded(f['shown'], shown_width)}  {floor}")
    return rows


def window(figures: list[dict]) -> list[str]:
    """The two ratios of the posting measured in one run, as the machine time each asks of a payment."""
    posting = next((f["data"] for f in figures if f["data"].get("one_at_a_time")), None)
    api = next((f["data"] for f in figures if f["source"] == "partner_api"), None)  # production's, no what-if
    if not posting or not api or not posting.get("tps") or posting.get("machine_ms") is None:
        return ["the two ratios: not both measured in this run (the posting beside pgbench, and the API)"]
    cap = posting["cpus"] * 1000 / (posting["floor_ratio"] * posting["tps"])
    direct, past = api["direct_machine_ms"], api["api_machine_ms"] - api["direct_machine_ms"]
    return [
        "the two ratios, as the machine's CPU a payment (ms):",
        f"  the posting one at a time met needs at most {cap:.2f} ms on a busy machine "
        f"({posting['cpus']} CPUs ÷ ({posting['floor_ratio']} × {posting['tps']:.0f} tps)); it used "
        f"{posting['machine_ms']:.2f} ms",
        f"  the partner API met needs its cost past the posting ({past:.2f} ms) at most the posting's own "
        f"called directly ({direct:.2f} ms)",
        f"  both hold together only when the API's cost past the posting ≤ the posting's ≤ {cap:.2f} ms: "
        + (
            f"a window of {cap - past:.2f} ms here"
            if past <= cap
            else f"no window here: the API's cost past the posting is {past - cap:.2f} ms over that cap"
        ),
    ]


def summary(path: Path) -> list[str]:
    figures = read(path)
    if not figures:
        return [f"no figures recorded in {path}"]
    met = sum(f["met"] is True for f in figures)
    missed = [f["figure"] for f in figures if f["met"] is False]
    lines = table(figures)
    lines.append("")
    lines.append(f"{met} floor(s) met, {len(missed)} missed" + (f": {'; '.join(missed)}" if missed else ""))
    recorded = {f["source"] for f in figures}
    absent = [source for source in EXPECTED_SOURCES if source not in recorded]
    if absent:
        lines.append(f"recorded nothing (stopped before its verdict?): {', '.join(absent)}")
    lines += ["", *window(figures)]
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.split("\n\n")[2].strip(), file=sys.stderr)
        return 2
    print("\n".join(summary(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
