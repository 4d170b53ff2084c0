"""Recommendations on Last.fm-2K (HetRec 2011) beside a popularity baseline and implicit's default ALS.

Data and split (``../shared/data/README.md``): ``user_artists.dat`` imported with
``tunesmith.recommend.history.import_history`` (the same path as ``tunesmith history
import``); for each user with at least 10 artists, 20 % of their artists are held out as
the test set (``tunesmith.recommend.split.holdout``, seed 0: users in ascending id order,
each user's artists in ascending id order, one ``numpy.random.default_rng(0)`` permutation
per user, the first round(0.2 n) held out).

Tuning (on by default, off with ``--quick`` or ``--no-tune``): a *validation* split is
carved from the training part the same way with seed 1, and the hyper-parameters (ALS
factors, regularisation, confidence alpha; neighbour count and blend weight) are chosen by
NDCG@10 on it, by coordinate ascent from the shipped defaults over ``SEARCH``. The
held-out 20 % is used only for the final figures. The shipped defaults (``CFParams()``)
are the values this search picked; the script says whether it agrees.

Peers, side by side on the same split:
* popularity: items by number of listeners in training, played ones removed;
* implicit's default ALS exactly as the issue specifies: ``AlternatingLeastSquares(
  factors=100, regularization=0.01, alpha=1.0, iterations=15)``, fitted on raw play counts,
  ``recommend(..., filter_already_liked_items=True)``, seed 0.
Ours is evaluated through the product: the training part is written back to a generic
``user,item,plays`` file, imported into a fresh database, and ranked by
``Recommender.recommend`` — the code behind ``tunesmith recommend`` (the run also checks
that ``tunesmith recommend --all-users -n 10 --json`` prints the same lists).

Metrics at 10 over the evaluated users: NDCG, Recall, MAP (``tunesmith.recommend.metrics``);
homogenisation: catalogue coverage (distinct items recommended to anyone) and the Gini index
of item exposure over all 17,632 artists. Diversity sweep: ``--diversity`` 0 … 1.

Targets (issue 8): NDCG@10 >= 1.15x default ALS and >= 2x popularity; at diversity 0.5
coverage >= 2x popularity's with NDCG@10 within 5 % of the best setting; training <= 10 s;
one user's recommendations <= 5 ms at p95; library scan >= 20 files/s for 3-minute tracks
(synthetic, musically varied 44.1 kHz stereo WAVs written with soundfile), on 2 cores.

Usage: python benchmarks/recommend_eval.py [--quick] [--no-tune] [--scan-files N]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from _common import SHARED_DATA, write_result
from rich.console import Console
from rich.table import Table

from tunesmith.recommend.collaborative import CFParams, CollaborativeModel, popularity, top_n
from tunesmith.recommend.history import connect, import_history, load_interactions
from tunesmith.recommend.hybrid import Recommender
from tunesmith.recommend.metrics import evaluate
from tunesmith.recommend.playlist import pool_size, rerank
from tunesmith.recommend.split import Split, holdout, natural_order

DATA = SHARED_DATA / "lastfm_hetrec2011"
K = 10
DIVERSITIES = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Values tried per hyper-parameter; coordinate ascent from the shipped defaults (see tune()).
SEARCH = {
    "factors": (16, 24, 32, 48, 64, 96),
    "regularization": (1.0, 2.0, 5.0, 10.0, 20.0, 50.0),
    "alpha": (0.5, 1.0, 2.0, 4.0),
    "neighbours": (50, 100, 200, 400, 800),
    "blend": (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
}
console = Console(width=140)


# --------------------------------------------------------------------------------------
# Helpers


def ranked_from_model(model: CollaborativeModel, split: Split) -> dict[int, np.ndarray]:
    return {u: model.recommend(u, K)[0] for u in split.test}


def tune(val: Split, n_items: int, threads: int | None) -> tuple[CFParams, list[dict[str, object]]]:
    """Coordinate ascent on the validation split, from the shipped defaults.

    Each round sweeps every hyper-parameter over its ``SEARCH`` values with the others
    fixed and keeps the best (validation NDCG@10); rounds repeat until one changes
    nothing (at most four). Every setting is fitted once (results are cached).
    """
    rows: list[dict[str, object]] = []
    cache: dict[CFParams, float] = {}
    fitted: dict[tuple, CollaborativeModel] = {}

    def score(p: CFParams) -> float:
        if p not in cache:
            als_key = (p.factors, p.regularization, p.alpha, p.iterations, p.seed, p.neighbours)
            m = fitted.get(als_key)
            if m is None:
                fitted.clear()  # keep one fitted model: the blend is re-weighted without refitting
                m = fitted[als_key] = CollaborativeModel.fit(val.train, p, threads)
            m.params = p
            cache[p] = evaluate(ranked_from_model(m, val), val.test, n_items)["ndcg"]
            rows.append({**dataclasses.asdict(p), "val_ndcg": round(cache[p], 4)})
            console.print(f"  val  {dataclasses.asdict(p)}  NDCG@10 {cache[p]:.4f}", highlight=False)
        return cache[p]

    best = CFParams()
    for _ in range(4):
        before = best
        for name, values in SEARCH.items():
            for v in values:
                candidate = dataclasses.replace(best, **{name: v})
                if score(candidate) > score(best):
                    best = candidate
        if best == before:
            break
    return best, rows


def default_als_ranked(train, split: Split, seed: int = 0) -> tuple[dict[int, np.ndarray], float]:
    """implicit's AlternatingLeastSquares with the issue's defaults on raw counts."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        model = AlternatingLeastSquares(factors=100, regularization=0.01, alpha=1.0, iterations=15, random_state=seed)
        t0 = time.perf_counter()
        model.fit(train, show_progress=False)
        fit_s = time.perf_counter() - t0
        users = np.array(sorted(split.test), dtype=np.int64)
        ids, _ = model.recommend(users, train[users], N=K, filter_already_liked_items=True)
    return {int(u): ids[i] for i, u in enumerate(users)}, fit_s


def popularity_ranked(train, split: Split) -> dict[int, np.ndarray]:
    pop = popularity(train)
    out = {}
    for u in split.test:
        s = pop.copy()
        s[train.indices[train.indptr[u] : train.indptr[u + 1]]] = -np.inf
        out[u] = top_n(s, K)[0]
    return out


def write_training_db(interactions, train, folder: Path) -> Path:
    """The training part as a generic TSV with the original ids, imported into a new database."""
    tsv = folder / "train_user_artists.tsv"
    coo = train.tocoo()
    with open(tsv, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(["userID", "artistID", "weight"])
        for u, i, v in sorted(zip(coo.row, coo.col, coo.data, strict=True)):
            w.writerow([interactions.users[u], interactions.items[i], f"{v:g}"])
    db = folder / "train.sqlite"
    import_history(tsv, db)
    return db


def product_ranked(rec: Recommender, interactions, split: Split, diversity: float) -> dict[int, np.ndarray]:
    """Rank through Recommender.recommend and map the item ids back to the full data's columns."""
    col_of = {str(x): i for i, x in enumerate(interactions.items)}
    out = {}
    for u in split.test:
        report = rec.recommend(str(interactions.users[u]), n=K, diversity=diversity)
        out[u] = np.array([col_of[r.item] for r in report.items], dtype=np.int64)
    return out


def synth_track(path: Path, seconds: float, seed: int, rate: int = 44_100) -> dict[str, object]:
    """A musically varied synthetic track: tempo, key and mode, timbre, drums and level all drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(70, 170))
    tonic = int(rng.integers(12))
    minor = bool(rng.integers(2))
    scale = np.array([0, 2, 3, 5, 7, 8, 10] if minor else [0, 2, 4, 5, 7, 9, 11])
    timbres = [np.array([1.0]), 1 / np.arange(1, 9), 1 / np.arange(1, 16, 2), np.array([1, 0.5, 0.8, 0.2, 0.4])]
    partials = timbres[int(rng.integers(len(timbres)))]
    n = int(seconds * rate)
    out = np.zeros(n, np.float32)
    step = 60.0 / bpm / 2  # eighth notes
    seg = int(step * rate)
    tt = np.arange(seg) / rate
    env = np.exp(-tt * rng.uniform(3, 12)).astype(np.float32)
    # The tonic and fifth are drawn more often, as in real tunes, so the key is audible.
    weights = np.array([3, 1, 1.5, 1, 2.5, 1, 1])
    for k in range(int(seconds / step)):
        deg = scale[rng.choice(7, p=weights / weights.sum())]
        f0 = 440.0 * 2 ** ((tonic + deg - 9 + 12 * int(rng.integers(-1, 1))) / 12)
        wave = sum(a * np.sin(2 * np.pi * f0 * (h + 1) * tt) for h, a in enumerate(partials) if f0 * (h + 1) < 15_000)
        a0 = k * seg
        if a0 >= n:
            break
        out[a0 : a0 + seg] += (0.3 * env * wave)[: n - a0]
    kseg = int(0.15 * rate)
    kt = np.arange(kseg) / rate
    kick = (np.sin(2 * np.pi * 60 * kt * (1 + 2 * np.exp(-kt * 30))) * np.exp(-kt * 25)).astype(np.float32)
    for b in np.arange(0, seconds, 2 * step):
        i = int(b * rate)
        out[i : i + kseg] += 0.6 * kick[: max(0, min(kseg, n - i))]
    if rng.integers(2):  # hi-hats on the off-beats
        hseg = int(0.03 * rate)
        hat = (rng.standard_normal(hseg) * np.exp(-np.arange(hseg) / rate * 150)).astype(np.float32)
        for b in np.arange(step, seconds, 2 * step):
            i = int(b * rate)
            out[i : i + hseg] += 0.15 * hat[: max(0, min(hseg, n - i))]
    out *= 10 ** (rng.uniform(-12, -1) / 20) / max(1e-9, float(np.abs(out).max()))
    stereo = np.stack([out, 0.9 * out], axis=1)
    sf.write(str(path), stereo, rate, subtype="PCM_16")
    return {"bpm": bpm, "tonic": tonic, "minor": minor}


def scan_speed(n_files: int, seconds: float, workers: int) -> dict[str, object]:
    """Library scan throughput on ``n_files`` synthetic tracks of ``seconds`` each."""
    from tunesmith.recommend.library import scan_library

    with tempfile.TemporaryDirectory(prefix="tunesmith-scan-") as tmp:
        root = Path(tmp)
        lib = root / "music"
        lib.mkdir()
        truth = {}
        for i in range(n_files):
            path = lib / f"Artist {i % 8} - Track {i:02d}.wav"
            truth[path.name] = synth_track(path, seconds, seed=1000 + i)
        warm = root / "warm"
        warm.mkdir()
        synth_track(warm / "warm.wav", 5.0, seed=1)
        scan_library(warm, root / "warm.sqlite", workers=workers)  # imports and tables, outside the timing
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        report = scan_library(lib, root / "lib.sqlite", workers=workers)
        wall = time.perf_counter() - t0
        again = scan_library(lib, root / "lib.sqlite", workers=workers)
        # The command as a user runs it, start-up included (a third database, so nothing is cached).
        t1 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "tunesmith.cli",
                "library",
                "scan",
                str(lib),
                "--db",
                str(root / "cli.sqlite"),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        cli_wall = time.perf_counter() - t1
        cli_doc = json.loads(proc.stdout) if proc.returncode == 0 else {}
        conn = connect(root / "lib.sqlite")
        rows = conn.execute("SELECT path, tempo_bpm FROM tracks").fetchall()
        conn.close()
        tempo_err = [
            min(abs(t / truth[Path(p).name]["bpm"] - r) for r in (0.5, 1.0, 2.0)) for p, t in rows if t is not None
        ]
    return {
        "files": n_files,
        "track_s": seconds,
        "workers": workers,
        "analysed": report.analysed,
        "failed": len(report.failed),
        "wall_s": round(wall, 3),
        "files_per_s": round(report.analysed / wall, 2),
        "cpu_s": report.cpu_s,
        "cpu_ms_per_file": round(1e3 * report.cpu_s / max(1, report.analysed), 1),
        # What the same work gives on `workers` idle cores: files over CPU seconds per core.
        "files_per_s_from_cpu": round(report.analysed / (report.cpu_s / workers), 2) if report.cpu_s else None,
        "load_average_before": round(load_before, 2),
        "rescan_s": round(again.seconds, 3),
        "rescan_analysed": again.analysed,
        "cli_wall_s": round(cli_wall, 3),
        "cli_files_per_s": round(cli_doc.get("analysed", 0) / cli_wall, 2) if cli_doc else None,
        "tempo_within_4pct_share": round(float(np.mean(np.array(tempo_err) < 0.04)), 3) if tempo_err else None,
    }


def measure_latency(rec: Recommender, data, split: Split, quick: bool) -> dict[str, float]:
    """Wall and CPU time of ``rec.recommend(user, n=10)`` per test user, after a warm-up, ms."""
    users = [str(data.users[u]) for u in sorted(split.test)]
    for name in users[:50]:
        rec.recommend(name, n=K)
    wall, cpu = [], []
    load_before = os.getloadavg()[0]
    for name in users[:500] if quick else users:
        t0, c0 = time.perf_counter(), time.thread_time()
        rec.recommend(name, n=K)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    explain = []
    for name in users[:300]:
        t0 = time.perf_counter()
        rec.recommend(name, n=30, explain=True)
        explain.append(time.perf_counter() - t0)
    w, c = np.array(wall) * 1e3, np.array(cpu) * 1e3
    return {
        "users": len(w),
        "p50": round(float(np.percentile(w, 50)), 3),
        "p95": round(float(np.percentile(w, 95)), 3),
        "p99": round(float(np.percentile(w, 99)), 3),
        "cpu_p50": round(float(np.percentile(c, 50)), 3),
        "cpu_p95": round(float(np.percentile(c, 95)), 3),
        "explain_n30_p95": round(float(np.percentile(np.array(explain) * 1e3, 95)), 3),
        "load_average_before": round(load_before, 2),
    }


def measure_incremental(data, train_db: Path, params: CFParams, work: Path) -> tuple[float, str]:
    """Import a new user with 20 artists, then time the Recommender that brings the model up to date."""
    extra = work / "new_user.tsv"
    rng = np.random.default_rng(7)
    picked = rng.choice(len(data.items), 20, replace=False)
    extra.write_text(
        "userID\tartistID\tweight\n"
        + "".join(f"new-user\t{data.items[i]}\t{int(rng.integers(1, 500))}\n" for i in picked)
    )
    import_history(extra, train_db)
    t0 = time.perf_counter()
    rec = Recommender(train_db, params=params)
    return time.perf_counter() - t0, str(rec.model_info["collaborative"])


def speed_line(latency: dict[str, float], scan: dict[str, object]) -> None:
    console.print(
        f"latency p50 {latency['p50']:.2f} ms, p95 {latency['p95']:.2f} ms, p99 {latency['p99']:.2f} ms over "
        f"{latency['users']} users (n=30 with --explain: p95 {latency['explain_n30_p95']:.2f} ms); CPU time per "
        f"call p50 {latency['cpu_p50']:.2f} ms, p95 {latency['cpu_p95']:.2f} ms; load average "
        f"{latency['load_average_before']} on {os.cpu_count()} cores",
        highlight=False,
    )
    console.print(
        f"library scan: {scan['analysed']} × {scan['track_s']:.0f} s WAVs on {scan['workers']} workers "
        f"in {scan['wall_s']:.2f} s = {scan['files_per_s']:.1f} files/s (command incl. start-up: "
        f"{scan['cli_wall_s']:.2f} s = {scan['cli_files_per_s']} files/s; rescan {scan['rescan_s']:.2f} s, "
        f"{scan['rescan_analysed']} re-analysed; tempo within 4 % (or x2/x0.5) on "
        f"{scan['tempo_within_4pct_share']:.0%}); CPU {scan['cpu_ms_per_file']} ms per file = "
        f"{scan['files_per_s_from_cpu']} files/s on {scan['workers']} idle cores; load average "
        f"{scan['load_average_before']}",
        highlight=False,
    )


# --------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="no tuning grid, 10 scan files, fewer timing repeats")
    ap.add_argument("--no-tune", action="store_true", help="skip the validation grid (use the shipped defaults)")
    ap.add_argument("--scan-files", type=int, default=40)
    ap.add_argument("--threads", type=int, default=None, help="training threads (default: one per core)")
    ap.add_argument("--only-tune", action="store_true", help="run the validation search, print its choice, stop")
    ap.add_argument("--speed-only", action="store_true", help="only the speed figures (results/recommend_speed.json)")
    args = ap.parse_args()
    if not (DATA / "user_artists.dat").exists():
        console.print(f"shared data not available: {DATA}")
        return 1
    do_tune = not (args.quick or args.no_tune)
    n_scan = 10 if args.quick else args.scan_files
    result: dict[str, object] = {"k": K, "quick": args.quick}

    with tempfile.TemporaryDirectory(prefix="tunesmith-rec-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        report = import_history(DATA / "user_artists.dat", work / "full.sqlite", names=DATA / "artists.dat")
        import_s = time.perf_counter() - t0
        data = load_interactions(connect(work / "full.sqlite"))
        console.print(
            f"imported {report.rows} rows ({report.users} users, {report.items} artists, {report.bad_rows} bad) "
            f"in {import_s:.2f} s",
            highlight=False,
        )
        user_order = natural_order(data.users)
        item_rank = np.empty(len(data.items), np.int64)
        item_rank[natural_order(data.items)] = np.arange(len(data.items))
        split = holdout(data.plays, 0.2, 10, seed=0, user_order=user_order, item_rank=item_rank)
        n_items = data.plays.shape[1]
        held = sum(len(v) for v in split.test.values())
        console.print(f"test split: {len(split.test)} users, {held} held-out (user, artist) pairs", highlight=False)
        result["data"] = {
            "rows": report.rows,
            "users": report.users,
            "items": report.items,
            "test_users": len(split.test),
            "held_out": held,
            "import_s": round(import_s, 2),
        }

        if args.speed_only:
            train_db = write_training_db(data, split.train, work)
            fits = []
            for _ in range(3):
                t0 = time.perf_counter()
                CollaborativeModel.fit(split.train, CFParams(), args.threads)
                fits.append(time.perf_counter() - t0)
            Recommender(train_db)  # trains and saves the model the latency run loads
            latency = measure_latency(Recommender(train_db), data, split, args.quick)
            incremental_s, incremental_how = measure_incremental(data, train_db, CFParams(), work)
            scan = scan_speed(n_scan, 180.0, workers=os.cpu_count() or 1)
            console.print(
                f"training {statistics.median(fits):.2f} s (median of 3: {[round(x, 2) for x in fits]}) · "
                f"incremental update {incremental_s:.2f} s ({incremental_how})",
                highlight=False,
            )
            speed_line(latency, scan)
            payload = {
                "train_s": round(statistics.median(fits), 3),
                "train_runs_s": [round(x, 3) for x in fits],
                "incremental_update_s": round(incremental_s, 3),
                "latency_ms": latency,
                "library_scan": scan,
            }
            console.print(f"wrote {write_result('recommend_speed', payload)}")
            return 0

        # -- tuning on validation only ---------------------------------------------------
        shipped = CFParams()
        params = shipped
        if do_tune:
            console.print("[bold]tuning on the validation split (seed 1, carved from training)[/]")
            val = holdout(split.train, 0.2, 10, seed=1, user_order=user_order, item_rank=item_rank)
            params, grid_rows = tune(val, n_items, args.threads)
            result["tuning"] = {"grid": grid_rows, "chosen": dataclasses.asdict(params)}
            agree = params == shipped
            console.print(
                f"validation picked {dataclasses.asdict(params)}; shipped defaults "
                f"{'agree' if agree else 'DIFFER: ' + str(dataclasses.asdict(shipped))}",
                highlight=False,
            )
            result["tuning"]["shipped_defaults_agree"] = agree
            if args.only_tune:
                return 0
            # The diversity mapping, checked on validation too.
            m = CollaborativeModel.fit(val.train, params, args.threads)
            lift = np.log1p(m.listeners) / np.log1p(m.listeners.max())  # as Recommender.popularity
            sweep = {}
            for d in DIVERSITIES:
                ranked = {}
                for u in val.test:
                    cols, _ = m.recommend(u, pool_size(K, d))
                    picks = rerank(m.factor_similarity(cols), K, d, popularity=lift[cols]) if d > 0 else list(range(K))
                    ranked[u] = cols[picks]
                e = evaluate(ranked, val.test, n_items)
                sweep[str(d)] = {"ndcg": round(e["ndcg"], 4), "coverage": e["coverage"]}
            result["tuning"]["diversity_validation"] = sweep
            console.print(f"validation diversity sweep: {sweep}", highlight=False)

        # -- peers --------------------------------------------------------------------
        rows: dict[str, dict[str, float]] = {}
        rows["popularity"] = evaluate(popularity_ranked(split.train, split), split.test, n_items)
        als_ranked, als_fit_s = default_als_ranked(split.train.astype(np.float32), split)
        rows["implicit ALS (defaults)"] = evaluate(als_ranked, split.test, n_items) | {"train_s": als_fit_s}

        # -- ours, through the product --------------------------------------------------
        train_db = write_training_db(data, split.train, work)
        t0 = time.perf_counter()
        rec = Recommender(train_db, params=params, threads=args.threads, retrain=True)
        first_use_s = time.perf_counter() - t0
        fits = []
        for _ in range(1 if args.quick else 3):
            t0 = time.perf_counter()
            CollaborativeModel.fit(split.train, params, args.threads)
            fits.append(time.perf_counter() - t0)
        train_s = statistics.median(fits)
        sweep_rows = {}
        for d in DIVERSITIES:
            sweep_rows[d] = evaluate(product_ranked(rec, data, split, d), split.test, n_items)
        ours = sweep_rows[0.0] | {"train_s": train_s}
        rows["tunesmith (ours)"] = ours

        # The CLI prints the same lists (checked once, outside the quick run).
        cli_same = None
        if not args.quick:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tunesmith.cli",
                    "recommend",
                    "--all-users",
                    "-n",
                    str(K),
                    "--json",
                    "--db",
                    str(train_db),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            cli = {d["user"]: d["items"] for d in map(json.loads, proc.stdout.splitlines())}
            inproc = {name: items for name, items in rec.recommend_all(K)}
            cli_same = cli == inproc
            console.print(f"`tunesmith recommend --all-users` matches the in-process ranking: {cli_same}")

        # -- speed: one user's recommendations, incremental update --------------------
        latency = measure_latency(Recommender(train_db, params=params), data, split, args.quick)
        incremental_s, incremental_how = measure_incremental(data, train_db, params, work)

    # -- library scan speed -------------------------------------------------------------
    scan = scan_speed(n_scan, 180.0, workers=os.cpu_count() or 1)

    # -- report -------------------------------------------------------------------------
    pop, als = rows["popularity"], rows["implicit ALS (defaults)"]
    table = Table(title=f"Last.fm-2K, {len(split.test)} test users, @{K}", title_justify="left")
    for col in ("model", "NDCG", "Recall", "MAP", "coverage", "Gini", "NDCG ÷ ALS", "NDCG ÷ pop", "train s"):
        table.add_column(col, justify="right" if col != "model" else "left")
    for name, r in rows.items():
        table.add_row(
            name,
            f"{r['ndcg']:.4f}",
            f"{r['recall']:.4f}",
            f"{r['map']:.4f}",
            str(r["coverage"]),
            f"{r['gini']:.4f}",
            f"{r['ndcg'] / als['ndcg']:.2f}",
            f"{r['ndcg'] / pop['ndcg']:.2f}",
            f"{r['train_s']:.2f}" if "train_s" in r else "—",
        )
    console.print(table)
    div = Table(title="diversity sweep (ours, MMR + rank relevance)", title_justify="left")
    for col in ("diversity", "NDCG", "Recall", "MAP", "coverage", "cov ÷ pop", "Gini", "NDCG ÷ best"):
        div.add_column(col, justify="right")
    best_ndcg = max(r["ndcg"] for r in sweep_rows.values())
    for d, r in sweep_rows.items():
        div.add_row(
            f"{d:.2f}",
            f"{r['ndcg']:.4f}",
            f"{r['recall']:.4f}",
            f"{r['map']:.4f}",
            str(r["coverage"]),
            f"{r['coverage'] / pop['coverage']:.1f}",
            f"{r['gini']:.4f}",
            f"{r['ndcg'] / best_ndcg:.3f}",
        )
    console.print(div)
    p95 = latency["p95"]
    checks = {
        "ndcg_vs_als >= 1.15": (ours["ndcg"] / als["ndcg"], ours["ndcg"] / als["ndcg"] >= 1.15),
        "ndcg_vs_pop >= 2": (ours["ndcg"] / pop["ndcg"], ours["ndcg"] / pop["ndcg"] >= 2.0),
        "div0.5 coverage_vs_pop >= 2": (
            sweep_rows[0.5]["coverage"] / pop["coverage"],
            sweep_rows[0.5]["coverage"] / pop["coverage"] >= 2.0,
        ),
        "div0.5 ndcg within 5% of best": (
            sweep_rows[0.5]["ndcg"] / best_ndcg,
            sweep_rows[0.5]["ndcg"] >= 0.95 * best_ndcg,
        ),
        "training <= 10 s": (train_s, train_s <= 10.0),
        "p95 latency <= 5 ms": (p95, p95 <= 5.0),
        "scan >= 20 files/s": (scan["files_per_s"], scan["files_per_s"] >= 20.0),
    }
    console.print(
        f"training {train_s:.2f} s (median of {len(fits)}; first use incl. load and save {first_use_s:.2f} s) · "
        f"incremental update after a new user: {incremental_s:.2f} s ({incremental_how})",
        highlight=False,
    )
    speed_line(latency, scan)
    for name, (value, ok) in checks.items():
        console.print(f"  {'PASS' if ok else 'FAIL'}  {name}: {value:.3f}", highlight=False)

    def clean(r: dict[str, float]) -> dict[str, float]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}

    result |= {
        "params": dataclasses.asdict(params),
        "models": {k: clean(v) for k, v in rows.items()},
        "diversity": {str(d): clean(r) for d, r in sweep_rows.items()},
        "speed": {
            "train_s": round(train_s, 3),
            "train_runs_s": [round(x, 3) for x in fits],
            "first_use_s": round(first_use_s, 3),
            "default_als_train_s": round(als_fit_s, 3),
            "incremental_update_s": round(incremental_s, 3),
            "incremental_how": incremental_how,
            "latency_ms": latency,
            "library_scan": scan,
        },
        "cli_matches_in_process": cli_same,
        "checks": {k: {"value": round(float(v), 4), "pass": bool(ok)} for k, (v, ok) in checks.items()},
    }
    path = write_result("recommend_eval_quick" if args.quick else "recommend_eval", result)
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
