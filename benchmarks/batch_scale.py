"""``tunesmith batch master`` at catalogue scale: 1 vs 2 local workers, a local Ray, and a resume after a kill.

The catalogue: 40 real-length songs (3 minutes each, 44.1 kHz stereo FLAC), made by looping the
four recordings in ``../shared/data/mixes`` from different starting points and at different
levels, so no two files are alike. Each configuration runs as a user runs it — the
``tunesmith batch master`` command in a fresh process, start-up included:

1. the local process pool with 1 worker, then with 2 (target: speed-up >= 1.7x on 2 cores);
2. a local Ray limited to 2 CPUs (``--ray --workers 2``): outputs identical to the local pool's,
   wall time within 15 % of it (Ray's start-up, reported separately, left out of the ratio);
3. the 2-worker batch killed (SIGKILL, whole process group) once half the songs are done, then
   run again: it must skip what was finished and leave every output correct.

"Identical" compares each output's content hash (``tunesmith.provenance.content``): every byte
of the file except its provenance label, whose C2PA instance id and signature are new for every
file written, by design. Whole-file hashes are reported beside it.

The machine is shared: the load average before and after each run and the CPU time of the items
are recorded, so a speed-up lost to other people's work can be told from one lost to the batch.

Usage: python benchmarks/batch_scale.py [--songs 40] [--seconds 180] [--work DIR] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from _common import SHARED_DATA, write_result
from rich.console import Console
from rich.table import Table

EXE = [sys.executable, "-m", "tunesmith.cli", "batch", "master"]
SPEEDUP_TARGET = 1.7
RAY_OVERHEAD_TARGET = 0.15


def load_average() -> list[float]:
    """1-, 5- and 15-minute load averages of the machine."""
    return [round(v, 2) for v in os.getloadavg()]


def make_songs(folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` songs of ``seconds`` each, looped from the shared recordings (cached in ``folder``)."""
    recordings = sorted((SHARED_DATA / "mixes").glob("*.ogg"))
    if not recordings:
        sys.exit(f"needs the shared recordings in {SHARED_DATA / 'mixes'}")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / f".made-{count}x{seconds:g}s"
    songs = [folder / f"song-{i:03d}.flac" for i in range(count)]
    if stamp.exists() and all(p.exists() for p in songs):
        return songs
    sources = [sf.read(str(r), dtype="float32", always_2d=True) for r in recordings]
    for i, path in enumerate(songs):
        audio, rate = sources[i % len(sources)]
        start = int((i // len(sources)) * 7.3 * rate) % len(audio)  # another starting point per lap
        frames = int(seconds * rate)
        looped = np.concatenate([audio[start:], *([audio] * (frames // len(audio) + 1))])[:frames]
        gain = 10 ** (-0.25 * (i // len(sources)) / 20)  # and another level
        sf.write(str(path), looped * gain, rate, subtype="PCM_16")
    stamp.touch()
    return songs


def run_cli(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a batch command; its JSON summary plus wall time, reaped children's CPU time and load averages.

    ``tree_cpu_s`` counts only processes the command reaps itself (the driver; Ray's daemons): local
    workers are children of the forkserver, so the items' own ``cpu_s`` sums are the figure to use.
    """
    before_load = load_average()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    run = subprocess.run([*EXE, *args, "--json"], capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode not in (0, 1):
        sys.exit(f"batch failed ({run.returncode}): {run.stderr.strip()}")
    doc = json.loads(run.stdout)
    doc["cli_wall_s"] = round(wall, 2)
    doc["tree_cpu_s"] = round((cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime), 2)
    doc["load_before"], doc["load_after"] = before_load, load_average()
    return doc


def manifest(out: Path) -> list[dict[str, Any]]:
    """The rows of ``batch.jsonl``."""
    return [json.loads(line) for line in (out / "batch.jsonl").read_text().splitlines()]


def hashes(out: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Content and whole-file SHA-256 of every master in ``out``."""
    from tunesmith.provenance.content import content_sha256

    content, whole = {}, {}
    for p in sorted(out.glob("*.wav")):
        content[p.name] = content_sha256(p)
        whole[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return content, whole


def kill_half_way(songs_dir: Path, out: Path, count: int) -> dict[str, Any]:
    """Start the 2-worker batch, SIGKILL its process group once half the songs are done, and look."""
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.Popen(
        [*EXE, str(songs_dir), "-o", str(out), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    journal = out / ".batch-journal.jsonl"
    t0 = time.perf_counter()
    while proc.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= count // 2:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_after = time.perf_counter() - t0
    recipes = sorted(out.glob("*.wav.recipe.json"))
    leftovers = sorted(p.name for p in out.iterdir() if p.name.startswith(".") and ".part" in p.name)
    return {
        "killed_after_s": round(killed_after, 2),
        "finished_before_kill": len(recipes),
        "masters_without_recipe": sum(not (p.parent / f"{p.name}.recipe.json").exists() for p in out.glob("*.wav")),
        "temporary_files_left": leftovers,
        "manifest_written": (out / "batch.csv").exists(),
    }


def per_item(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Median wall and CPU seconds per item made, and the workers' peak memory."""
    made = [r for r in rows if r["status"] == "ok"]
    return {
        "item_wall_s_median": round(statistics.median(r["seconds"] for r in made), 3),
        "item_cpu_s_median": round(statistics.median(r["cpu_s"] for r in made), 3),
        "item_cpu_s_sum": round(sum(r["cpu_s"] for r in made), 2),
        "worker_peak_rss_mb_max": max(r["peak_rss_mb"] or 0 for r in made),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--songs", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/tunesmith-batch-scale"))
    ap.add_argument("--keep", action="store_true", help="Keep the outputs (several GB).")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="rounds of the 1-worker / 2-worker runs, in mirrored order so a drifting machine speed cancels",
    )
    args = ap.parse_args()
    console = Console()

    t = time.perf_counter()
    songs = make_songs(args.work / "songs", args.songs, args.seconds)
    songs_dir = songs[0].parent
    input_mb = sum(p.stat().st_size for p in songs) / 2**20
    console.print(
        f"{len(songs)} songs of {args.seconds:g} s ({input_mb:.0f} MiB FLAC) ready in {time.perf_counter() - t:.0f} s"
    )

    # Warm the file cache and numba's on-disk cache with one song, so run 1 pays no first-time cost.
    warm = args.work / "warm"
    (warm / "in").mkdir(parents=True, exist_ok=True)
    shutil.copy(songs[0], warm / "in" / songs[0].name)
    run_cli([str(warm / "in"), "-o", str(warm / "out"), "--workers", "1", "--redo"])

    runs: dict[str, dict[str, Any]] = {}
    outs = {name: args.work / f"out-{name}" for name in ("w1", "w2", "ray", "kill")}
    # "w1_1t" is one worker whose items run on one thread (TUNESMITH_THREADS=1, which the batch's
    # core share then keeps at 1): the speed-up of 2 workers over it is pure process scaling, with
    # no help or cost from an item's own threads.
    outs["w1_1t"] = args.work / "out-w1_1t"
    local: list[tuple[str, list[str], dict[str, str] | None]] = [
        ("w1", ["--workers", "1"], None),
        ("w2", ["--workers", "2"], None),
        ("w1_1t", ["--workers", "1"], {"TUNESMITH_THREADS": "1"}),
    ]
    # This VM's speed drifts by up to a quarter within the hour, so the local runs go in rounds
    # of mirrored order (w1 w2 w1_1t, then w1_1t w2 w1, ...): a steady drift then weighs on each
    # configuration alike, and each round gives its own w1/w2 ratio beside the median.
    rounds: dict[str, list[dict[str, Any]]] = {}
    order = [local if r % 2 == 0 else local[::-1] for r in range(max(1, args.rounds))]
    plan = [step for one in order for step in one]
    if not args.skip_ray:
        plan.append(("ray", ["--ray", "--workers", "2"], None))
    for name, extra, env in plan:
        shutil.rmtree(outs[name], ignore_errors=True)
        console.print(f"run {name} … (load {load_average()})")
        doc = run_cli([str(songs_dir), "-o", str(outs[name]), *extra], env)
        doc |= per_item(manifest(outs[name]))
        console.print(f"  {doc['seconds']:.1f} s, items' CPU {doc['item_cpu_s_sum']:.0f} s")
        rounds.setdefault(name, []).append(doc)
    for name, docs in rounds.items():
        runs[name] = dict(docs[-1])
        runs[name]["seconds_rounds"] = [d["seconds"] for d in docs]
        runs[name]["item_cpu_s_sum_rounds"] = [d["item_cpu_s_sum"] for d in docs]
        runs[name]["seconds"] = round(statistics.median(runs[name]["seconds_rounds"]), 2)
        runs[name]["items_per_min"] = round(60 * len(songs) / runs[name]["seconds"], 2)

    content_w2, whole_w2 = hashes(outs["w2"])
    content_w1, whole_w1 = hashes(outs["w1"])
    content_1t, _ = hashes(outs["w1_1t"])
    identical = {
        "w1_vs_w2": content_w1 == content_w2,
        "w1_vs_w2_whole_file": whole_w1 == whole_w2,
        "w1_1t_vs_w2": content_1t == content_w2,
    }
    if "ray" in runs:
        content_ray, whole_ray = hashes(outs["ray"])
        identical |= {"ray_vs_w2": content_ray == content_w2, "ray_vs_w2_whole_file": whole_ray == whole_w2}

    console.print("kill half-way, then resume …")
    killed = kill_half_way(songs_dir, outs["kill"], len(songs))
    resumed = run_cli([str(songs_dir), "-o", str(outs["kill"]), "--workers", "2"])
    content_kill, _ = hashes(outs["kill"])
    killed |= {
        "resume": {
            k: resumed[k] for k in ("ok", "skipped", "failed", "pending", "seconds", "load_before", "load_after")
        },
        "all_outputs_correct": content_kill == content_w2 and len(content_kill) == len(songs),
        "skipped_equals_finished_before_kill": resumed["skipped"] == killed["finished_before_kill"],
        "leftovers_after_resume": sorted(p.name for p in outs["kill"].iterdir() if ".part" in p.name),
    }

    # Memory: the single worker of run 1 after its first item and after its last (does it grow with the
    # batch?), and a fresh worker given one song three times as long (does it grow with the item?).
    console.print("memory: one song 3x as long …")
    rss = [r["peak_rss_mb"] for r in manifest(outs["w1"]) if r["status"] == "ok"]
    long_dir = args.work / "long"
    long_dir.mkdir(exist_ok=True)
    long_song = long_dir / "long.flac"
    if not long_song.exists():
        parts = [sf.read(str(p), dtype="float32", always_2d=True) for p in songs[:3]]
        sf.write(str(long_song), np.concatenate([a for a, _ in parts]), parts[0][1], subtype="PCM_16")
    long_out = args.work / "out-long"
    shutil.rmtree(long_out, ignore_errors=True)
    long_run = run_cli([str(long_dir), "-o", str(long_out), "--workers", "1"])
    long_row = manifest(long_out)[0]
    memory = {
        "song_float32_mib": round(args.seconds * 44_100 * 2 * 4 / 2**20, 1),
        "worker_rss_mib_w1_min_max_over_batch": [min(rss), max(rss)],
        "long_song_s": long_row["duration_s"],
        "long_song_float32_mib": round(long_row["duration_s"] * 44_100 * 2 * 4 / 2**20, 1),
        "long_song_worker_rss_mib": long_row["peak_rss_mb"],
        "long_song_item_s": long_row["seconds"],
        "long_song_cpu_s": long_row["cpu_s"],
        "long_run_s": long_run["seconds"],
    }
    shutil.rmtree(long_out, ignore_errors=True)

    w1, w2 = runs["w1"], runs["w2"]
    speedup = w1["seconds"] / w2["seconds"]
    # Round r's w2 ran between its w1 and w1_1t, so each round's ratio is a close-in-time pair.
    speedup_rounds = [a / b for a, b in zip(w1["seconds_rounds"], w2["seconds_rounds"], strict=True)]
    speedup_1t = runs["w1_1t"]["seconds"] / w2["seconds"]
    cpu_ratio = w2["item_cpu_s_sum"] / w1["item_cpu_s_sum"]
    result: dict[str, Any] = {
        "songs": len(songs),
        "song_s": args.seconds,
        "input_mib": round(input_mb, 1),
        "runs": runs,
        "speedup_1_to_2_workers": round(speedup, 3),
        "speedup_1_to_2_workers_rounds": [round(x, 3) for x in speedup_rounds],
        "rounds": max(1, args.rounds),
        "speedup_1_to_2_workers_one_thread_items": round(speedup_1t, 3),
        "speedup_target": SPEEDUP_TARGET,
        "speedup_met": speedup >= SPEEDUP_TARGET,
        "cpu_per_item_ratio_w2_over_w1": round(cpu_ratio, 3),
        "identical": identical,
        "kill_and_resume": killed,
        "memory": memory,
    }
    if "ray" in runs:
        ray = runs["ray"]
        overhead = (ray["seconds"] - ray["engine_start_s"]) / (w2["seconds"] - w2["engine_start_s"]) - 1.0
        result |= {
            "ray_start_s": ray["engine_start_s"],
            "ray_overhead_vs_local_pool": round(overhead, 3),
            "ray_overhead_with_start": round(ray["seconds"] / w2["seconds"] - 1.0, 3),
            "ray_overhead_target": RAY_OVERHEAD_TARGET,
            "ray_overhead_met": overhead <= RAY_OVERHEAD_TARGET,
        }

    table = Table(title=f"batch master: {len(songs)} songs x {args.seconds:g} s on {os.cpu_count()} cores")
    for col in (
        "run",
        "wall s",
        "items/min",
        "item CPU s (median)",
        "items' CPU s",
        "peak RSS MiB",
        "load before→after",
    ):
        table.add_column(col)
    for name, r in runs.items():
        table.add_row(
            name,
            f"{r['seconds']:.1f}" + (f" (Ray start {r['engine_start_s']:.1f})" if name == "ray" else ""),
            f"{r['items_per_min']:.1f}",
            f"{r['item_cpu_s_median']:.2f}",
            f"{r['item_cpu_s_sum']:.0f}",
            f"{r['worker_peak_rss_mb_max']:.0f}",
            f"{r['load_before'][0]} → {r['load_after'][0]}",
        )
    console.print(table)
    console.print(
        f"speed-up 1→2 workers {speedup:.2f}x (target ≥ {SPEEDUP_TARGET}: "
        f"{'met' if speedup >= SPEEDUP_TARGET else 'MISSED'});"
        f" CPU per item with 2 workers / with 1: {cpu_ratio:.2f};"
        f" per round: {', '.join(f'{x:.2f}x' for x in speedup_rounds)}"
    )
    console.print(f"speed-up over one worker whose items use one thread (w1_1t): {speedup_1t:.2f}x")
    if "ray" in runs:
        console.print(
            f"Ray vs local pool: {100 * result['ray_overhead_vs_local_pool']:+.1f} % without its "
            f"{result['ray_start_s']:.1f} s start-up ({100 * result['ray_overhead_with_start']:+.1f} % with it); "
            f"target ≤ +{100 * RAY_OVERHEAD_TARGET:.0f} %"
        )
    console.print(f"identical outputs (content hashes): {identical}")
    console.print(f"kill half-way and resume: {killed}")
    console.print(f"memory: {memory}")
    path = write_result("batch_scale", result)
    console.print(f"wrote {path}")
    if not args.keep:
        for out in outs.values():
            shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(warm, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
