"""Does ``tunesmith learn`` learn a style? Three contrasting collections, learned and composed in.

Usage::

    python benchmarks/style_eval.py [--pieces 50] [--workers 2] [--skip-speed]

The three collections are material the models never saw (``../shared/data/README.md``):

* **Bach**: held-out chorales of music21's corpus (sorted ``getComposer('bach')``, ``i % 5 == 4``;
  the files as they are — the few ``.rntxt``/``.krn`` ones are skipped and listed by learn);
* **O'Neill**: held-out tunes of O'Neill's 1850 (running folk index ``i % 10 == 9``), each
  written to its own ``.abc`` file from its book;
* **POP909**: the held-out songs 819–909 (MIDI as distributed: 1/4 metre, played off the grid).

Each is learned with ``learn_style`` into a temporary styles folder, then ``--pieces`` songs are
composed in each learned style (seeds 0…n-1, the style's own form). Judged on the melody
track, the part the style's models write:

(a) **classifier**: a logistic regression on histograms of pitch class, interval, note length
    and inter-onset interval, trained on *real* pieces of the three collections that were not
    learned from (Bach chorales and O'Neill tunes of the training split, POP909 songs 001–818,
    up to ``--real`` each); the share of generated pieces it assigns to the collection their
    style was learned from (target ≥ 80 %). Its accuracy on the learned-from pieces is shown
    beside, as the ceiling.
(b) **Yang–Lerch overlapping area** (Yang & Lerch 2020): for each feature, the intra-set
    distances of the real learned-from pieces of a collection against the inter-set distances
    between the generated pieces of a style and those real pieces, each smoothed by a Gaussian
    KDE; the overlapping area of the two densities. The matching collection should score
    higher than the other two, for each style and feature.
(c) **copies**: the longest run of consecutive notes any generated melody shares with any line
    (every pitched track) of any source file of its collection (target: below 8); accompaniment
    tracks are reported too, for information.

A speed run learns 100 POP909 training songs (001–100) and reports wall and CPU time
(target ≤ 5 min on 2 cores). Prints tables and writes ``benchmarks/results/style_eval.json``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SHARED_DATA, write_result  # noqa: E402

COLLECTIONS = ("bach", "oneill", "pop909")
LENGTH_BINS = np.array([0.0, 0.2, 0.3, 0.4, 0.6, 0.8, 1.1, 1.6, 2.2, 3.2, 4.5, 1e9])  # beats


# ---------------------------------------------------------------------------------------------- data
def bach_paths(held_out: bool) -> list[Path]:
    """Bach corpus files of the split (sorted ``getComposer('bach')``, ``i % 5 == 4`` held out)."""
    from music21 import corpus

    paths = sorted(Path(p) for p in corpus.getComposer("bach"))
    return [p for i, p in enumerate(paths) if (i % 5 == 4) == held_out]


def oneill_tunes(held_out: bool) -> list[tuple[str, str]]:
    """``(name, ABC text)`` of O'Neill's 1850 tunes of the split (running folk index ``i % 10 == 9`` held out).

    The running index counts every tune (``X:`` header) of the sorted Essen, O'Neill and Ryan's
    files, as ``tunesmith.models.melody_data`` does.
    """
    import re

    from tunesmith.models.melody_data import folk_paths

    out, index = [], 0
    for collection, path in folk_paths():
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        starts = [m.start() for m in re.finditer(r"^X:", text, flags=re.MULTILINE)]
        chunks = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)] or [text]
        header = text[: starts[0]] if starts else ""
        for number, chunk in enumerate(chunks, 1):
            if collection == "oneills1850" and (index % 10 == 9) == held_out:
                out.append((f"{Path(path).stem}-{number:02d}", header + chunk))
            index += 1
    return out


def pop909_paths(ids: range) -> list[Path]:
    return [SHARED_DATA / "pop909" / f"{i:03d}" / f"{i:03d}.mid" for i in ids]


def make_folder(name: str, base: Path, dev: bool = False) -> Path:
    """The learned-from folder of a collection: its held-out pieces (with ``dev``, a slice of the
    training split instead, for developing without looking at the held-out pieces)."""
    folder = base / name
    folder.mkdir(parents=True)
    if name == "bach":
        paths = bach_paths(held_out=False)[1::4] if dev else bach_paths(held_out=True)
        for p in paths:
            shutil.copy(p, folder / p.name)
    elif name == "oneill":
        tunes = oneill_tunes(held_out=False)[1::9] if dev else oneill_tunes(held_out=True)
        for stem, text in tunes:
            (folder / f"{stem}.abc").write_text(text, encoding="utf-8")
    else:
        for p in pop909_paths(range(5, 819, 9) if dev else range(819, 910)):
            if p.exists():
                shutil.copy(p, folder / p.name)
    return folder


def reference_folder(name: str, base: Path, count: int, dev: bool = False) -> Path:
    """Real pieces of a collection that were *not* learned from (evenly spread over its training split;
    with ``dev``, avoiding the slice that was learned from)."""
    folder = base / f"{name}-reference"
    folder.mkdir(parents=True)
    if name == "bach":
        paths = [p for p in bach_paths(held_out=False) if p.suffix in (".mxl", ".xml")]
        paths = [p for i, p in enumerate(paths) if i % 4 != 1] if dev else paths
        for p in paths[:: max(1, len(paths) // count)][:count]:
            shutil.copy(p, folder / p.name)
    elif name == "oneill":
        tunes = oneill_tunes(held_out=False)
        tunes = [t for i, t in enumerate(tunes) if i % 9 != 1] if dev else tunes
        for stem, text in tunes[:: max(1, len(tunes) // count)][:count]:
            (folder / f"{stem}.abc").write_text(text, encoding="utf-8")
    else:
        ids = [i for i in range(1, 819) if not (dev and i % 9 == 5)]
        for p in pop909_paths(ids[:: max(1, len(ids) // count)][:count]):
            shutil.copy(p, folder / p.name)
    return folder


def read_melodies(folder: Path, workers: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Melodies (``(n, 3)`` onset, duration, pitch) of a folder's pieces, and every pitched line's step ids."""
    from tunesmith.learn.learn import _read_all
    from tunesmith.learn.read import scan

    tasks = [(str(p), str(folder), False) for p in scan(folder)]
    melodies, lines = [], []
    for result in _read_all(tasks, workers):
        for piece in result.pieces:
            if len(piece.melody) >= 8:
                melodies.append(piece.melody)
            lines += [(piece.source, line) for line in piece.lines]
    return melodies, lines


# ---------------------------------------------------------------------------------------------- features
def features(melody: np.ndarray) -> dict[str, np.ndarray]:
    """Yang–Lerch style histograms of a melody: pitch class, interval, note length, inter-onset interval."""
    pitch = melody[:, 2].astype(int)
    pch = np.bincount(pitch % 12, minlength=12).astype(float)
    iv = np.clip(np.diff(pitch), -12, 12) + 12
    ivh = np.bincount(iv, minlength=25).astype(float)
    length = np.histogram(melody[:, 1], LENGTH_BINS)[0].astype(float)
    ioi = np.histogram(np.diff(melody[:, 0]), LENGTH_BINS)[0].astype(float)
    out = {"pitch_class": pch, "interval": ivh, "note_length": length, "ioi": ioi}
    return {k: v / max(v.sum(), 1.0) for k, v in out.items()}


FEATURES = ("pitch_class", "interval", "note_length", "ioi")


def matrix(rows: list[dict[str, np.ndarray]], names: tuple[str, ...] = FEATURES) -> np.ndarray:
    return np.array([np.concatenate([r[n] for n in names]) for r in rows])


def overlap_area(intra: np.ndarray, inter: np.ndarray) -> float:
    """Overlapping area of the Gaussian-KDE densities of two sets of distances (Yang & Lerch)."""
    from scipy.stats import gaussian_kde

    both = np.concatenate([intra, inter])
    lo, hi = both.min(), both.max()
    pad = 0.1 * (hi - lo + 1e-9)
    grid = np.linspace(lo - pad, hi + pad, 1000)

    def density(x: np.ndarray) -> np.ndarray:
        if np.ptp(x) < 1e-12:
            x = x + np.random.default_rng(0).normal(0, 1e-6, len(x))
        return gaussian_kde(x)(grid)

    p, q = density(intra), density(inter)
    return float(np.trapezoid(np.minimum(p, q), grid))


def yang_lerch(gen: list[dict], real: list[dict], feature: str) -> dict[str, float]:
    """Overlapping areas of the inter-set distance PDF (generated to real) with each set's intra-set PDF.

    Yang & Lerch compare the inter-set PDF with the intra-set PDF of the training (here: real) set;
    their toolbox reports it against the generated set's intra-set PDF as well. Against the real set
    alone, a collection whose pieces differ widely among themselves (POP909's keys and rhythms)
    overlaps almost anything; the generated set's own spread balances that. Both are reported,
    and their mean.
    """
    from scipy.spatial.distance import cdist, pdist

    r = np.array([x[feature] for x in real])
    g = np.array([x[feature] for x in gen])
    inter = cdist(g, r).ravel()
    out = {"real": overlap_area(pdist(r), inter), "generated": overlap_area(pdist(g), inter)}
    return {**{k: round(v, 3) for k, v in out.items()}, "mean": round((out["real"] + out["generated"]) / 2, 3)}


# ---------------------------------------------------------------------------------------------- main
def cpu_seconds() -> float:
    """CPU time of this process and its finished children, seconds."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pieces", type=int, default=50, help="songs composed per learned style")
    ap.add_argument("--real", type=int, default=100, help="real reference pieces per collection (classifier)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--dev", action="store_true", help="learn slices of the training splits instead (for development)")
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (styles, folders)")
    args = ap.parse_args()
    if not (SHARED_DATA / "pop909").exists():
        sys.exit(f"needs {SHARED_DATA / 'pop909'}")
    from rich.console import Console
    from rich.table import Table

    from tunesmith.compose import ComposeOptions, compose
    from tunesmith.learn.learn import learn_style
    from tunesmith.learn.piece import top_line
    from tunesmith.models.originality import OriginalityIndex, longest_overlap

    console = Console()
    load = os.getloadavg()
    base = args.keep or Path(tempfile.mkdtemp(prefix="style_eval."))
    base.mkdir(parents=True, exist_ok=True)
    os.environ["TUNESMITH_STYLES"] = str(base / "styles")
    result: dict = {
        "load_average_start": [round(x, 2) for x in load],
        "pieces_per_style": args.pieces,
        "learned_from": "training-split slices (--dev)" if args.dev else "held-out pieces",
    }
    try:
        learned, sources, refs, gens, learn_rows, copy_rows = {}, {}, {}, {}, {}, {}
        for c in COLLECTIONS:
            folder = base / c
            if not (args.keep and folder.exists()):
                folder = make_folder(c, base, args.dev)
            t0, c0 = time.perf_counter(), cpu_seconds()
            report = learn_style(folder, f"eval-{c}", force=True, workers=args.workers)
            learn_rows[c] = {
                "files": report.files,
                "files_used": report.files_used,
                "pieces": report.pieces,
                "skipped": len(report.skipped),
                "wall_s": round(time.perf_counter() - t0, 1),
                "cpu_s": round(cpu_seconds() - c0, 1),
                "style": report.style,
                "fine_tuning": report.adapters,
            }
            console.print(f"learned {c}: {learn_rows[c]['pieces']} pieces in {learn_rows[c]['wall_s']} s")
            learned[c] = report
            sources[c] = read_melodies(folder, args.workers)
            ref = base / f"{c}-reference"
            if not (args.keep and ref.exists()):
                ref = reference_folder(c, base, args.real, args.dev)
            refs[c] = read_melodies(ref, args.workers)[0]
        for c in COLLECTIONS:
            t0 = time.perf_counter()
            melodies, others, failed = [], [], 0
            index = OriginalityIndex.from_steps(sources[c][1])
            for seed in range(args.pieces):
                comp = compose(ComposeOptions(style=f"eval-{c}", seed=seed))
                track = next((t for t in comp.score.tracks if t.role == "melody"), None)
                if track is None or len(track.notes) < 8:
                    failed += 1
                    continue
                melodies.append(top_line(track.notes))
                for t in comp.score.tracks:
                    if not t.is_drum and t.role != "melody" and t.notes:
                        others.append(index.longest_overlap(top_line(t.notes)))
            gens[c] = melodies
            overlaps = [index.longest_overlap(m) for m in melodies]
            copy_rows[c] = {
                "pieces": len(melodies),
                "failed": failed,
                "compose_s_per_piece": round((time.perf_counter() - t0) / max(1, args.pieces), 2),
                "melody_max_overlap_with_sources": int(max(overlaps, default=0)),
                "melodies_with_8_plus": int(sum(o >= 8 for o in overlaps)),
                "melody_max_overlap_with_training": int(max((longest_overlap(m) for m in melodies), default=0)),
                "accompaniment_max_overlap_with_sources": int(max(others, default=0)),
            }
            console.print(f"composed {len(melodies)} pieces in style eval-{c}")

        # (a) classifier trained on real pieces that were not learned from.
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x_train = np.vstack([matrix([features(m) for m in refs[c]]) for c in COLLECTIONS])
        y_train = np.concatenate([[i] * len(refs[c]) for i, c in enumerate(COLLECTIONS)])
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5))
        clf.fit(x_train, y_train)
        class_rows = {}
        for i, c in enumerate(COLLECTIONS):
            pred_gen = clf.predict(matrix([features(m) for m in gens[c]]))
            pred_src = clf.predict(matrix([features(m) for m in sources[c][0]]))
            class_rows[c] = {
                "generated": len(pred_gen),
                "generated_correct": round(float(np.mean(pred_gen == i)), 3),
                "assigned": {COLLECTIONS[k]: int(np.sum(pred_gen == k)) for k in range(3)},
                "real_learned_from_correct": round(float(np.mean(pred_src == i)), 3),
                "reference_pieces": len(refs[c]),
            }
        overall = float(
            np.mean(
                [np.mean(clf.predict(matrix([features(m) for m in gens[c]])) == i) for i, c in enumerate(COLLECTIONS)]
            )
        )

        # (b) Yang-Lerch overlapping areas: generated style x real collection, per feature.
        real_feats = {c: [features(m) for m in sources[c][0]] for c in COLLECTIONS}
        gen_feats = {c: [features(m) for m in gens[c]] for c in COLLECTIONS}
        oa = {
            g: {f: {r: yang_lerch(gen_feats[g], real_feats[r], f) for r in COLLECTIONS} for f in FEATURES}
            for g in COLLECTIONS
        }
        variants = ("real", "generated", "mean")
        for g in COLLECTIONS:
            oa[g]["all features"] = {
                r: {v: round(float(np.mean([oa[g][f][r][v] for f in FEATURES])), 3) for v in variants}
                for r in COLLECTIONS
            }
        wins = {
            v: {
                g: {
                    f: all(oa[g][f][g][v] > oa[g][f][r][v] for r in COLLECTIONS if r != g)
                    for f in (*FEATURES, "all features")
                }
                for g in COLLECTIONS
            }
            for v in variants
        }

        speed = None
        if not args.skip_speed:
            folder = base / "speed"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            for p in pop909_paths(range(1, 101)):
                shutil.copy(p, folder / p.name)
            t0, c0 = time.perf_counter(), cpu_seconds()
            rep = learn_style(folder, "speed-pop100", force=True, workers=args.workers)
            speed = {
                "files": rep.files,
                "pieces": rep.pieces,
                "wall_s": round(time.perf_counter() - t0, 1),
                "cpu_s": round(cpu_seconds() - c0, 1),
                "stages_s": rep.timings_s,
                "target_s": 300,
            }
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    load_end = os.getloadavg()

    table = Table(title="learned styles")
    for col in ("collection", "files", "used", "pieces", "skipped", "wall s", "CPU s", "metre", "tag", "held-out NLL"):
        table.add_column(col)
    for c, r in learn_rows.items():
        heads = r["fine_tuning"].get("heads", [])
        nll = ", ".join(f"{h['head']} {h['valid_nll_before']}→{h['valid_nll_after']}" for h in heads)
        table.add_row(
            c,
            str(r["files"]),
            str(r["files_used"]),
            str(r["pieces"]),
            str(r["skipped"]),
            str(r["wall_s"]),
            str(r["cpu_s"]),
            r["style"]["metre"],
            r["style"]["melody_tag"],
            nll,
        )
    console.print(table)
    table = Table(title=f"(a) classifier on generated melodies (overall {overall:.1%}; target ≥ 80 %)")
    for col in ("style", "correct", "assigned bach/oneill/pop909", "real learned-from correct"):
        table.add_column(col)
    for c, r in class_rows.items():
        a = r["assigned"]
        table.add_row(
            c,
            f"{r['generated_correct']:.1%}",
            f"{a['bach']}/{a['oneill']}/{a['pop909']}",
            f"{r['real_learned_from_correct']:.1%}",
        )
    console.print(table)
    table = Table(
        title="(b) Yang–Lerch overlapping area, generated style (rows) vs real collection (columns): "
        "mean of the two intra-set references (vs real intra / vs generated intra)"
    )
    table.add_column("style / feature")
    for r in COLLECTIONS:
        table.add_column(r)
    table.add_column("matching highest: mean (real, gen)")
    for g in COLLECTIONS:
        for f in (*FEATURES, "all features"):
            cells = [
                f"{oa[g][f][r]['mean']:.3f} ({oa[g][f][r]['real']:.2f} / {oa[g][f][r]['generated']:.2f})"
                for r in COLLECTIONS
            ]
            verdict = " ".join("yes" if wins[v][g][f] else "NO" for v in ("mean", "real", "generated"))
            table.add_row(f"{g} / {f}", *cells, verdict)
    console.print(table)
    table = Table(title="(c) longest run of consecutive notes shared with a source file (copy = 8+)")
    for col in ("style", "melodies", "max (melody)", "melodies 8+", "max vs training", "max (accompaniment)"):
        table.add_column(col)
    for c, r in copy_rows.items():
        table.add_row(
            c,
            str(r["pieces"]),
            str(r["melody_max_overlap_with_sources"]),
            str(r["melodies_with_8_plus"]),
            str(r["melody_max_overlap_with_training"]),
            str(r["accompaniment_max_overlap_with_sources"]),
        )
    console.print(table)
    if speed:
        console.print(
            f"speed: {speed['files']} POP909 MIDI files learned in {speed['wall_s']} s wall, "
            f"{speed['cpu_s']} s CPU (target ≤ 300 s); stages {speed['stages_s']}"
        )
    console.print(f"load average at start {load[0]:.2f}, at end {load_end[0]:.2f} (2 cores shared)")
    result.update(
        {
            "learn": learn_rows,
            "classifier": {"overall_correct": round(overall, 3), "per_style": class_rows, "target": 0.8},
            "yang_lerch_oa": oa,
            "matching_highest": wins,
            "copies": copy_rows,
            "speed": speed,
            "load_average_end": [round(x, 2) for x in load_end],
        }
    )
    path = write_result("style_eval_dev" if args.dev else "style_eval", result)
    console.print(f"results: {path}")


if __name__ == "__main__":
    main()
