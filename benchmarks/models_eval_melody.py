"""The melody model and the originality guard on held-out data, beside baselines trained on the same data.

Held-out data only for the figures: POP909 songs 819–909 and the folk tunes of music21's
corpus with running index ``i % 10 == 9`` (``tunesmith.models.melody_data``). The
n-gram's order is chosen on the validation slices of the training split.

* **NLL per event** (a note or a rest: pitch and duration, nats) of every held-out run
  under the model and under an interpolated Kneser–Ney n-gram over the same event tokens
  (pitch relative to the tonic × duration), counted on the same training runs; per corpus.
* **MusPy-style metrics** of 500 melodies generated over held-out POP909 passages (8 bars of
  regular 4/4 starting on a phrase boundary: their chords, key and metre) and of 500
  generated over held-out folk tunes (their bars, metre, pickup, estimated chords, key, up to
  16 bars), beside the real melodies of the same passages and the baselines: the rule-based
  ``compose`` writer (POP909 passages; it writes 4/4 only) and samples of the n-gram. Pitch-class
  entropy, scale consistency, pitch range, groove consistency, chord tones on strong beats,
  notes in key, notes per bar; mean ± sd and the overlapping area (OA) of each metric's
  distribution with the real one (1 = the same distribution).
* **Originality**: the longest run of consecutive notes each of 1,000 generated melodies (the
  conditions above) shares with the training set, with the guard off (the raw model: the share
  the guard rejects) and on (what ``compose`` gets), beside the held-out real melodies, the
  rule-based writer and the n-gram samples; and whole songs: the model writing the melody of
  ``compose``'s songs (10 styles × seeds) with the guard, and the time it takes.

Usage: python benchmarks/models_eval_melody.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import SHARED_DATA, write_result
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tunesmith.compose.harmony import Slot
from tunesmith.compose.melody import write_melody
from tunesmith.compose.style import get_style
from tunesmith.models import melody as mm
from tunesmith.models import melody_data as md
from tunesmith.models import originality
from tunesmith.models.chord import QUALITIES
from tunesmith.models.ngram import KneserNey
from tunesmith.score import metrics
from tunesmith.score.theory import Chord, Key
from tunesmith.score.types import ChordSymbol, Note, Score, TimeSignature, Track

POP909 = SHARED_DATA / "pop909"
CACHE = Path(__file__).resolve().parents[1] / ".cache-train"
console = Console(width=150)
GEN_RANGE = (48, 84)  # MIDI range every generator may use: three octaves, wider than the real tunes need
GEN_CENTRE = 67.0  # register the model's pull aims at (about the middle of the real melodies)
STRIDE_BARS = 8  # POP909 passages: 8 bars from a phrase boundary
FOLK_BARS = 16  # folk tunes: up to 16 full bars
CORPORA = {"POP909": ("pop",), "folk songs (Essen)": ("song",), "folk dance tunes": ("dance",)}


# ------------------------------------------------------------------------------------------ data
def load_tunes(quick: bool) -> tuple[list[md.Tune], list[md.Tune], list[md.Tune]]:
    """Training, validation and held-out tunes (POP909 + folk)."""
    dev = md.load_pop909_cached(POP909, CACHE, held_out=False) + md.load_folk(CACHE, ("train", "valid"))
    test = md.load_pop909_cached(POP909, CACHE, held_out=True) + md.load_folk(CACHE, ("test",))
    train = [t for t in dev if t.split == "train"]
    valid = [t for t in dev if t.split == "valid"]
    if quick:
        valid, test = valid[::3], test[::4]
    return train, valid, test


def runs_by_tag(tunes: list[md.Tune], encoded: list[list[mm.Events]]) -> dict[str, list[mm.Events]]:
    out: dict[str, list[mm.Events]] = {}
    for t, runs in zip(tunes, encoded, strict=True):
        out.setdefault(t.tag, []).extend(runs)
    return out


# ------------------------------------------------------------------------------------------ NLL
def ngram_nll(g: KneserNey, runs: list[mm.Events]) -> tuple[float, int]:
    """Total NLL (nats) and event count of runs under an n-gram over joint event tokens."""
    total, count = 0.0, 0
    ctx = g.order - 1
    for r in runs:
        toks = r.joint.tolist()
        for i, tok in enumerate(toks):
            p = g.distribution(toks[max(0, i - ctx) : i])[tok]
            total -= math.log(max(p, 1e-300))
            count += 1
    return total, count


def model_nll(model: mm.MelodyModel, runs: list[mm.Events]) -> tuple[float, float, int]:
    """Total pitch NLL, duration NLL (nats) and event count of runs under the model."""
    p_tot = d_tot = 0.0
    n = 0
    for r in runs:
        p, d = model.score(r)
        p_tot += float(p.sum())
        d_tot += float(d.sum())
        n += len(r)
    return p_tot, d_tot, n


def evaluate_nll(model: mm.MelodyModel, train: dict, valid: dict, test: dict) -> tuple[dict, KneserNey]:
    """Per-event NLL on held-out runs: model vs the Kneser–Ney n-gram (order chosen on validation)."""
    sequences = [r.joint.tolist() for runs in train.values() for r in runs]
    vocab = mm.N_PITCH * mm.N_DUR
    scores = {}
    grams = {}
    for order in (2, 3, 4):
        grams[order] = KneserNey(order, vocab).fit(sequences)
        per_tag = [ngram_nll(grams[order], valid[t]) for t in valid]
        scores[order] = float(np.mean([tot / max(1, c) for tot, c in per_tag]))
    order = min(scores, key=scores.get)
    gram = grams[order]
    out: dict[str, object] = {"ngram_order_chosen": order, "ngram_valid_nll": scores}
    rows = {}
    for name, tags in {**CORPORA, "folk (all)": ("song", "dance")}.items():
        runs = [r for t in tags for r in test.get(t, [])]
        if not runs:
            continue
        p, d, n = model_nll(model, runs)
        g_tot, g_n = ngram_nll(gram, runs)
        rows[name] = {
            "events": n,
            "model_nll": (p + d) / n,
            "model_pitch_nll": p / n,
            "model_duration_nll": d / n,
            f"ngram{order}_nll": g_tot / g_n,
            "ratio_model_to_ngram": (p + d) / n / (g_tot / g_n),
        }
    out["held_out"] = rows
    return out, gram


# ------------------------------------------------------------------------------------------ conditions
class Condition:
    """A held-out passage to write a melody for: its timeline, phrases, real notes and key."""

    def __init__(self, tune: md.Tune, first_bar: int, last_bar: int) -> None:
        tl = mm.timeline_of_tune(tune)
        tl = mm.extend_bars(tl, int(tl.bar_starts[-1] + tl.bar_lengths[-1]))
        phrase = np.arange(len(tl.bar_starts), dtype=np.int64) - first_bar
        final = np.zeros(len(tl.bar_starts), dtype=bool)
        final[last_bar - 1] = True
        self.tl = replace(tl, phrase_bar=phrase, final=final)
        self.tune = tune
        self.start = int(tl.bar_starts[first_bar])
        self.end = int(tl.bar_starts[last_bar - 1] + tl.bar_lengths[last_bar - 1])
        self.origin = self.start / mm.TICKS  # beats: the passage is reported from 0
        self.numerator, self.denominator = int(tl.numerators[first_bar]), int(tl.denominators[first_bar])
        self.bars = last_bar - first_bar
        k = int(np.clip(np.searchsorted(tune.keys[:, 0], self.origin, side="right") - 1, 0, len(tune.keys) - 1))
        self.key = Key(int(tune.keys[k, 1]), "minor" if tune.keys[k, 2] else "major")
        self.phrases: list[tuple[int, int, str | None, float]] = []
        for b in range(first_bar, last_bar, 4):
            a, e = (
                int(tl.bar_starts[b]),
                int(tl.bar_starts[min(b + 4, last_bar) - 1] + tl.bar_lengths[min(b + 4, last_bar) - 1]),
            )
            self.phrases.append((a, e, "chord", GEN_CENTRE))
        c = self.tl.chord_at(np.array([self.end - 1]))[0]
        if c >= 0 and int(self.tl.chord_roots[c]) == self.key.tonic:
            self.phrases[-1] = (*self.phrases[-1][:2], "tonic", GEN_CENTRE)
        on = tune.notes[:, 0]
        inside = (on >= self.origin - 1e-6) & (on < self.end / mm.TICKS - 1e-6)
        real = tune.notes[inside]
        self.real = [
            Note(float(n[0]) - self.origin, float(min(n[1], self.end / mm.TICKS - n[0])), int(n[2])) for n in real
        ]

    def chords(self) -> list[ChordSymbol]:
        """The passage's chord symbols, from beat 0."""
        out = []
        for a, b, r, q in self.tune.chords:
            a, b = max(a, self.origin), min(b, self.end / mm.TICKS)
            if b > a:
                out.append(ChordSymbol(a - self.origin, b - a, Chord(int(r), QUALITIES[int(q)])))
        return out

    def shift(self, notes: list[Note]) -> list[Note]:
        return [Note(n.start - self.origin, n.duration, n.pitch, n.velocity) for n in notes]


def pop_conditions(tunes: list[md.Tune], count: int) -> list[Condition]:
    """``count`` POP909 passages of 8 regular 4/4 bars from a phrase boundary, spread over the songs."""
    found = []
    for t in tunes:
        if len(t.notes) == 0 or len(t.chords) == 0:
            continue
        bars = t.bars
        first = int(np.clip(np.searchsorted(bars[:, 0], t.notes[0, 0], side="right") - 1, 0, len(bars) - 1))
        for b in range(first, len(bars) - STRIDE_BARS + 1, STRIDE_BARS):
            if not np.allclose(bars[b : b + STRIDE_BARS, 1], 4.0):
                continue
            a, e = bars[b, 0], bars[b + STRIDE_BARS - 1, 0] + 4.0
            if np.sum((t.notes[:, 0] >= a) & (t.notes[:, 0] < e)) >= 12:
                found.append((t, b))
    pick = np.unique(np.linspace(0, len(found) - 1, min(count, len(found))).round().astype(int))
    return [Condition(found[i][0], found[i][1], found[i][1] + STRIDE_BARS) for i in pick]


def folk_conditions(tunes: list[md.Tune], count: int) -> list[Condition]:
    """``count`` held-out folk tunes (evenly spread), from the first full bar, up to 16 bars in whole phrases."""
    usable = [t for t in tunes if len(t.bars) - int(t.pickup) >= 4]
    pick = np.unique(np.linspace(0, len(usable) - 1, min(count, len(usable))).round().astype(int))
    out = []
    for i in pick:
        t = usable[i]
        first = int(t.pickup)
        n = min(FOLK_BARS, (len(t.bars) - first) // 4 * 4)
        out.append(Condition(t, first, first + n))
    return out


# ------------------------------------------------------------------------------------------ generators
def generate_model(
    model: mm.MelodyModel, cond: Condition, seed: int, guard: bool
) -> tuple[list[Note], mm.MelodyReport]:
    rng = np.random.default_rng(seed)
    events, report = mm.write_phrases(model, cond.tl, cond.phrases, rng, *GEN_RANGE, guard=guard)
    return cond.shift(mm.events_to_notes(cond.tl, events)), report


def generate_rules(cond: Condition, seed: int) -> list[Note]:
    """The rule-based ``compose`` writer over the passage's chords (4/4 passages only)."""
    style = get_style("pop")
    slots = [Slot(c.start, c.duration, c.chord) for c in cond.chords()]
    if not slots:
        return []
    return write_melody(style, cond.key, [("verse", 0, cond.bars, 0.7)], slots, np.random.default_rng(seed), GEN_RANGE)


def generate_ngram(g: KneserNey, cond: Condition, seed: int) -> list[Note]:
    """Samples of the n-gram (tokens relative to the key, no chords or metre) until the passage is full."""
    rng = np.random.default_rng(seed)
    toks: list[int] = []
    t = cond.start
    notes = []
    ctx = g.order - 1
    while t < cond.end:
        p = g.distribution(toks[max(0, len(toks) - ctx) :])
        tok = int(rng.choice(len(p), p=p / p.sum()))
        pitch, dur = divmod(tok, mm.N_DUR)
        if pitch >= mm.N_PITCH:
            continue
        toks.append(tok)
        ticks = min(dur + 1, cond.end - t)
        if pitch != mm.REST:
            absolute = pitch - 1 + mm.P_LO + int(cond.tl.tonic_at(np.array([t]))[0])
            while absolute < GEN_RANGE[0]:
                absolute += 12
            while absolute > GEN_RANGE[1]:
                absolute -= 12
            notes.append(Note(t / mm.TICKS - cond.origin, 0.95 * ticks / mm.TICKS, absolute))
        t += ticks
    return notes


# ------------------------------------------------------------------------------------------ metrics
METRICS = (
    "pitch_class_entropy",
    "scale_consistency",
    "pitch_range",
    "groove_consistency",
    "strong_beat_chord_tones",
    "in_key",
    "notes_per_bar",
)


def melody_metrics(notes: list[Note], cond: Condition) -> dict[str, float]:
    """The MusPy-style metrics (and two conditioning checks) of one melody over its passage."""
    track = Track("melody", tuple(notes), role="melody")
    score = Score(
        tracks=(track,),
        time_signatures=(TimeSignature(0.0, cond.numerator, cond.denominator),),
        chords=tuple(cond.chords()),
    )
    pitches = [n.pitch for n in notes]
    return {
        "pitch_class_entropy": metrics.pitch_class_entropy(track),
        "scale_consistency": metrics.scale_consistency(track),
        "pitch_range": float(max(pitches) - min(pitches)) if pitches else float("nan"),
        "groove_consistency": metrics.groove_consistency(track, score),
        "strong_beat_chord_tones": metrics.strong_beat_chord_tone_rate(score, track),
        "in_key": metrics.pitch_in_key_rate(track, cond.key),
        "notes_per_bar": len(notes) / cond.bars,
    }


def overlap_area(a: np.ndarray, b: np.ndarray, bins: int = 20) -> float:
    """Overlapping area of two samples' histograms on shared bins (1 = same distribution, 0 = disjoint)."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return float("nan")
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    if hi <= lo:
        return 1.0
    edges = np.linspace(lo, hi, bins + 1)
    pa = np.histogram(a, edges)[0] / len(a)
    pb = np.histogram(b, edges)[0] / len(b)
    return float(np.minimum(pa, pb).sum())


def summarise(sets: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean, sd and overlapping area with the real melodies, per set and metric."""
    real = {m: np.array([r[m] for r in sets["real"]], dtype=float) for m in METRICS}
    out = {}
    for name, rows in sets.items():
        out[name] = {}
        for m in METRICS:
            v = np.array([r[m] for r in rows], dtype=float)
            out[name][m] = {
                "mean": float(np.nanmean(v)) if np.isfinite(v).any() else float("nan"),
                "sd": float(np.nanstd(v)) if np.isfinite(v).any() else float("nan"),
                "oa_with_real": overlap_area(v, real[m]),
            }
    return out


# ------------------------------------------------------------------------------------------ originality
def overlap_stats(values: list[int]) -> dict[str, float]:
    v = np.array(values, dtype=float)
    return {
        "melodies": len(v),
        "max": int(v.max()) if len(v) else 0,
        "median": float(np.median(v)) if len(v) else float("nan"),
        "p95": float(np.percentile(v, 95)) if len(v) else float("nan"),
        "share_ge_8": float(np.mean(v >= originality.COPY_NOTES)) if len(v) else float("nan"),
    }


def compose_songs(seeds: int) -> dict[str, object]:
    """The model writing the melody of ``compose``'s songs (guard on): overlap, redraws, time."""
    from tunesmith.compose import ComposeOptions, compose, list_styles
    from tunesmith.compose.song import part_range

    overlaps, redraws, times, phrases = [], 0, [], 0
    for style_name in [s if isinstance(s, str) else s.name for s in list_styles()]:
        for seed in range(seeds):
            comp = compose(ComposeOptions(style=style_name, seed=seed))
            style = comp.style
            melody_part = next((p for p in style.parts if p.role == "melody"), None)
            if melody_part is None:
                continue
            spans = [
                (s.name, s.start_bar, s.bars, style.section(s.name).energy)
                for s in comp.sections
                if melody_part.name in style.section(s.name).parts
            ]
            if not spans:
                continue
            slots = [Slot(c.start, c.duration, c.chord) for c in comp.score.chords if c.chord is not None]
            report = mm.MelodyReport()
            t0 = time.perf_counter()
            notes = mm.write_melody_model(
                style, comp.key, spans, slots, np.random.default_rng(seed), part_range(melody_part), report=report
            )
            times.append(time.perf_counter() - t0)
            overlaps.append(originality.longest_overlap(notes))
            redraws += report.resampled
            phrases += report.phrases
    return {
        "songs": len(overlaps),
        "overlap": overlap_stats(overlaps),
        "phrases": phrases,
        "phrases_redrawn": redraws,
        "seconds_per_song_median": float(np.median(times)) if times else float("nan"),
    }


# ------------------------------------------------------------------------------------------ main
def evaluate(quick: bool) -> dict[str, object]:
    """Every figure of the module docstring; ``quick`` uses a quarter of the held-out data and 100 + 100 melodies."""
    t0 = time.perf_counter()
    model = mm.MelodyModel()
    train_t, valid_t, test_t = load_tunes(quick)
    train = runs_by_tag(train_t, md.encode_all(train_t))
    valid = runs_by_tag(valid_t, md.encode_all(valid_t))
    test = runs_by_tag(test_t, md.encode_all(test_t))
    console.print(f"data ready in {time.perf_counter() - t0:.0f} s")

    nll, gram = evaluate_nll(model, train, valid, test)
    table = Table(
        title=f"Melody NLL per event (nats), held out; n-gram order {nll['ngram_order_chosen']} chosen on validation"
    )
    for col in (
        "corpus",
        "events",
        "model",
        "(pitch + duration)",
        f"{nll['ngram_order_chosen']}-gram KN",
        "model / n-gram",
    ):
        table.add_column(col)
    order = nll["ngram_order_chosen"]
    for name, r in nll["held_out"].items():
        table.add_row(
            name,
            str(r["events"]),
            f"{r['model_nll']:.3f}",
            f"{r['model_pitch_nll']:.3f} + {r['model_duration_nll']:.3f}",
            f"{r[f'ngram{order}_nll']:.3f}",
            f"{r['ratio_model_to_ngram']:.3f}",
        )
    console.print(table)
    console.print(f"NLL done at {time.perf_counter() - t0:.0f} s")

    count = 100 if quick else 500
    pop_test = [t for t in test_t if t.tag == "pop"]
    folk_test = [t for t in test_t if t.tag != "pop"]
    groups = {"POP909 passages": pop_conditions(pop_test, count), "folk tunes": folk_conditions(folk_test, count)}
    results: dict[str, object] = {"nll": nll}
    originality_rows: dict[str, dict[str, object]] = {}
    all_raw, all_guarded, redrawn = [], [], 0
    timing = []
    for gname, conds in groups.items():
        sets: dict[str, list[dict[str, float]]] = {"real": [], "model": [], "n-gram samples": []}
        overlaps: dict[str, list[int]] = {
            "real": [],
            "model, guard off": [],
            "model, guard on": [],
            "n-gram samples": [],
        }
        if gname.startswith("POP909"):
            sets["rule-based compose"] = []
            overlaps["rule-based compose"] = []
        for i, cond in enumerate(conds):
            seed = 1000 + i
            raw, _ = generate_model(model, cond, seed, guard=False)
            t1 = time.perf_counter()
            guarded, rep = generate_model(model, cond, seed, guard=True)
            timing.append((time.perf_counter() - t1) / max(1, cond.bars))
            redrawn += rep.resampled > 0
            gram_notes = generate_ngram(gram, cond, seed)
            sets["real"].append(melody_metrics(cond.real, cond))
            sets["model"].append(melody_metrics(guarded, cond))
            sets["n-gram samples"].append(melody_metrics(gram_notes, cond))
            overlaps["real"].append(originality.longest_overlap(cond.real))
            overlaps["model, guard off"].append(originality.longest_overlap(raw))
            overlaps["model, guard on"].append(originality.longest_overlap(guarded))
            overlaps["n-gram samples"].append(originality.longest_overlap(gram_notes))
            all_raw.append(overlaps["model, guard off"][-1])
            all_guarded.append(overlaps["model, guard on"][-1])
            if "rule-based compose" in sets:
                rules = generate_rules(cond, seed)
                sets["rule-based compose"].append(melody_metrics(rules, cond))
                overlaps["rule-based compose"].append(originality.longest_overlap(rules))
        summary = summarise(sets)
        table = Table(title=f"{len(conds)} melodies over held-out {gname}: mean ± sd (overlapping area with real)")
        table.add_column("metric")
        for name in sets:
            table.add_column(name)
        for m in METRICS:
            cells = []
            for name in sets:
                v = summary[name][m]
                oa = "" if name == "real" else f" ({v['oa_with_real']:.2f})"
                cells.append(f"{v['mean']:.3f} ± {v['sd']:.3f}{oa}")
            table.add_row(m, *cells)
        console.print(table)
        results[f"metrics: {gname}"] = {"melodies": len(conds), "summary": summary}
        originality_rows[gname] = {k: overlap_stats(v) for k, v in overlaps.items()}
        console.print(f"{gname} done at {time.perf_counter() - t0:.0f} s")

    songs = compose_songs(2 if quick else 10)
    originality_rows["all generated (model)"] = {
        "model, guard off": overlap_stats(all_raw),
        "model, guard on": overlap_stats(all_guarded),
        "melodies with a phrase redrawn": redrawn,
    }
    table = Table(title="Originality: longest run of consecutive notes shared with a training tune")
    for col in ("melodies", "set", "n", "max", "median", "95th pct", "share ≥ 8"):
        table.add_column(col)
    for gname, rows in originality_rows.items():
        for name, st in rows.items():
            if isinstance(st, dict):
                table.add_row(
                    gname,
                    name,
                    str(st["melodies"]),
                    str(st["max"]),
                    f"{st['median']:.0f}",
                    f"{st['p95']:.0f}",
                    f"{100 * st['share_ge_8']:.1f} %",
                )
    st = songs["overlap"]
    table.add_row(
        "compose songs",
        "model, guard on",
        str(st["melodies"]),
        str(st["max"]),
        f"{st['median']:.0f}",
        f"{st['p95']:.0f}",
        f"{100 * st['share_ge_8']:.1f} %",
    )
    console.print(table)
    console.print(
        f"guard: {redrawn} of {len(all_raw)} generated melodies had a phrase redrawn; compose songs: "
        f"{songs['phrases_redrawn']} of {songs['phrases']} phrases redrawn, "
        f"{1000 * songs['seconds_per_song_median']:.0f} ms per song (melody only); "
        f"{1000 * float(np.median(timing)):.1f} ms per bar"
    )
    index = originality.packaged_index()
    results["originality"] = originality_rows
    results["compose_songs"] = songs
    results["index"] = {**index.meta, "bytes": (mm.nn.weights_dir() / originality.INDEX).stat().st_size}
    results["weights"] = {k: v for k, v in model.meta.items() if k != "valid_history"}
    results["weights_bytes"] = model.path.stat().st_size
    results["ms_per_bar_generated"] = 1000 * float(np.median(timing))
    results["seconds"] = round(time.perf_counter() - t0, 1)
    console.print(f"total {time.perf_counter() - t0:.0f} s")
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a quarter of the held-out data, 100 + 100 melodies")
    args = ap.parse_args()
    if not POP909.exists():
        console.print(f"POP909 not found at {POP909}")
        return 1
    results = evaluate(args.quick)
    path = write_result("models_eval_melody" + ("_quick" if args.quick else ""), results)
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
