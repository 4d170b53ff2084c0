"""``tunesmith produce`` speed: a 2-minute song composed, rendered, mixed and mastered (target <= 20 s on 2 cores).

Timed end to end as a user runs it: the ``tunesmith produce`` command in a fresh
process (Python start-up and imports included), a pop song of 52 bars at 104 BPM
(exactly 120 s), median of 3 seeds. Side by side, the same song made the long way —
``compose``, ``render``, ``mix``, ``master`` (WAV) and ``master`` (MP3) as five
commands one after another — so the ratio shows what running them as one job saves.

Usage: python benchmarks/produce_speed.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_result
from rich.console import Console
from rich.table import Table

TARGET_S = 20.0
BARS, TEMPO = 52, 104  # 52 bars of 4/4 at 104 BPM = 120.0 s
EXE = [sys.executable, "-m", "tunesmith.cli"]


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, run.stdout


def produce_once(seed: int, out: Path) -> tuple[float, dict]:
    took, stdout = timed(
        [
            *EXE,
            "produce",
            "--style",
            "pop",
            "--bars",
            str(BARS),
            "--tempo",
            str(TEMPO),
            "--seed",
            str(seed),
            "-o",
            str(out),
            "--json",
        ]
    )
    return took, json.loads(stdout)


def long_way(seed: int, out: Path) -> float:
    total = 0.0
    steps = [
        ["compose", "--style", "pop", "--bars", str(BARS), "--tempo", str(TEMPO), "--seed", str(seed), "-o", str(out)],
        ["render", str(out / "song.mid"), "-o", str(out / "stems")],
        ["mix", str(out / "stems"), "-o", str(out / "mix.wav"), "--genre", "pop"],
        ["master", str(out / "mix.wav"), "-o", str(out / "master.wav"), "--target", "streaming"],
        ["master", str(out / "mix.wav"), "-o", str(out / "master.mp3"), "--target", "streaming"],
    ]
    for step in steps:
        total += timed([*EXE, *step])[0]
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    seeds = list(range(1, args.runs + 1))
    produced, long = [], []
    stages: list[dict] = []
    duration = None
    with tempfile.TemporaryDirectory() as tmp:
        timed([*EXE, "--version"])  # warm the file cache and numba's on-disk cache
        for seed in seeds:
            took, doc = produce_once(seed, Path(tmp) / f"p{seed}")
            produced.append(took)
            stages.append(doc["timings_s"])
            duration = doc["song"]["duration_s"]
            long.append(long_way(seed, Path(tmp) / f"l{seed}"))
    med, med_long = statistics.median(produced), statistics.median(long)
    stage_median = {k: round(statistics.median(s[k] for s in stages), 2) for k in stages[0]}
    table = Table(title=f"produce: {BARS}-bar pop song ({duration:.0f} s), {len(seeds)} seeds, median wall time")
    for col in ("how", "seconds", "x real time", "target"):
        table.add_column(col)
    table.add_row(
        "tunesmith produce",
        f"{med:.1f}",
        f"{duration / med:.1f}",
        f"<= {TARGET_S:.0f} s " + ("pass" if med <= TARGET_S else "MISS"),
    )
    table.add_row("compose+render+mix+master×2 commands", f"{med_long:.1f}", f"{duration / med_long:.1f}", "")
    table.add_row("ratio (long way / produce)", f"{med_long / med:.2f}x", "", "")
    Console().print(table)
    Console().print("produce stages (median, s): " + ", ".join(f"{k} {v}" for k, v in stage_median.items()))
    path = write_result(
        "produce_speed",
        {
            "song_s": duration,
            "bars": BARS,
            "tempo_bpm": TEMPO,
            "seeds": seeds,
            "produce_s": produced,
            "produce_median_s": round(med, 2),
            "target_s": TARGET_S,
            "met": med <= TARGET_S,
            "long_way_s": long,
            "long_way_median_s": round(med_long, 2),
            "ratio": round(med_long / med, 2),
            "stages_median_s": stage_median,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
