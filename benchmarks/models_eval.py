"""The learned models on held-out data, beside baselines trained on the same data.

Chord model (POP909; trained on songs 001–818, evaluated on the held-out 819–909):

* **next chord** — at every chord change of a held-out song (no melody shown), the
  probability of the chord that comes, among chords other than the one sounding.
  Top-1 accuracy and perplexity beside interpolated Kneser–Ney n-grams of orders 2
  and 3 over the same songs' chord-change sequences, counted in all 12
  transpositions (the same data the network saw);
* **harmonization** — chords for every beat of a held-out song given its whole
  melody (beam search), against the annotation: accuracy over the model's
  121-chord vocabulary and at triad level (root and major/minor/diminished),
  beside the baseline that picks, in the key found from the melody, the diatonic
  triad covering most melody duration in each slot (slot length chosen on the
  validation slice of the training split, never on held-out songs).

Other models of the issue report through their own modules (``models_eval_*.py``)
when present.

Usage: python benchmarks/models_eval.py [--quick] [--only chord|chorale]
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
from pathlib import Path

import numpy as np
from _common import SHARED_DATA, write_result
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tunesmith.models.chord import (
    GENERATE,
    HARMONIZE,
    NO_CHORD,
    QUALITIES,
    ChordModel,
    beat_features,
    chord_token,
    token_chord,
    transpose_tokens,
)
from tunesmith.models.ngram import KneserNey
from tunesmith.models.pop909_beats import SongBeats, load_beats
from tunesmith.score.theory import SCALES, Chord, detect_key

POP909 = SHARED_DATA / "pop909"
console = Console()


# ------------------------------------------------------------------------------------- chords
def change_runs(tokens: np.ndarray) -> list[list[int]]:
    """Chord-change sequences of a song: repeats merged, split where no chord is annotated."""
    runs: list[list[int]] = []
    current: list[int] = []
    for t in tokens:
        t = int(t)
        if t == NO_CHORD:
            if current:
                runs.append(current)
            current = []
        elif not current or current[-1] != t:
            current.append(t)
    if current:
        runs.append(current)
    return runs


def _renormalised(p: np.ndarray, current: int) -> np.ndarray:
    """The distribution of the next *different* chord: the sounding one and no-chord removed."""
    q = p.copy()
    q[current] = 0.0
    q[NO_CHORD] = 0.0
    return q / q.sum()


def next_chord(model: ChordModel, train: list[SongBeats], test: list[SongBeats]) -> dict[str, dict[str, float]]:
    """Top-1 accuracy and perplexity of the next different chord, model vs n-grams."""
    runs = [np.array(r) for s in train for r in change_runs(s.tokens)]
    sequences = [transpose_tokens(r, k).tolist() for r in runs for k in range(12)]
    vocab = 1 + 12 * len(QUALITIES)
    grams = {f"{n}-gram (Kneser-Ney)": KneserNey(n, vocab).fit(sequences) for n in (2, 3)}
    stats = {name: [0, 0.0, 0] for name in ["chord model", *grams]}
    for s in test:
        logp = model.score_sequence(s.tokens, beat_features(s.melody, s.in_bar, GENERATE))
        history: list[int] = []
        for t in range(1, len(s.tokens)):
            prev, cur = int(s.tokens[t - 1]), int(s.tokens[t])
            if prev == NO_CHORD:
                history = []
            if cur in (prev, NO_CHORD):
                continue
            if prev == NO_CHORD:  # a run's first chord has no previous chord to go on
                history = [cur]
                continue
            if not history:
                history = [prev]
            dists = {"chord model": _renormalised(np.exp(logp[t]), prev)}
            for name, g in grams.items():
                dists[name] = _renormalised(g.distribution(history), prev)
            for name, p in dists.items():
                st = stats[name]
                st[0] += int(np.argmax(p)) == cur
                st[1] -= math.log(max(p[cur], 1e-12))
                st[2] += 1
            history.append(cur)
    return {
        name: {"top1": hits / n, "perplexity": math.exp(nll / n), "predictions": n}
        for name, (hits, nll, n) in stats.items()
    }


def _triad_family(token: int) -> tuple[int, str] | None:
    chord = token_chord(token)
    if chord is None:
        return None
    family = {"min": "m", "min7": "m", "dim": "o", "hdim7": "o"}.get(chord.quality, "M")
    return chord.root, family


def diatonic_baseline(s: SongBeats, slot: int) -> np.ndarray:
    """Per beat, the diatonic triad (key from the whole melody) covering most melody duration in its slot."""
    key, _ = detect_key(s.melody.sum(axis=0))
    scale = [(key.tonic + i) % 12 for i in SCALES["major" if key.mode == "major" else "minor"]]
    triads = []
    for d in range(7):
        root, third, fifth = scale[d], scale[(d + 2) % 7], scale[(d + 4) % 7]
        quality = {3: "min", 4: "maj"}[(third - root) % 12] if (fifth - root) % 12 == 7 else "dim"
        triads.append((chord_token(Chord(root, quality)), np.isin(np.arange(12), [root, third, fifth])))
    tonic = triads[0][0]
    out = np.full(len(s.tokens), tonic, dtype=np.int64)
    previous = tonic
    for a in range(0, len(s.tokens), slot):
        weights = s.melody[a : a + slot].sum(axis=0)
        if weights.sum() == 0:
            out[a : a + slot] = previous  # no melody: hold the chord
            continue
        cover = [float(weights[mask].sum()) for _, mask in triads]
        best = max(range(7), key=lambda i: (cover[i], triads[i][0] == previous, -i))
        previous = triads[best][0]
        out[a : a + slot] = previous
    return out


def harmonization(
    model: ChordModel, valid: list[SongBeats], test: list[SongBeats]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per-beat chord accuracy given the whole melody: model (beam search) vs the diatonic baseline."""

    def accuracy(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
        exact = triad = n = 0
        for pred, truth in pairs:
            mask = truth != NO_CHORD
            exact += int(np.sum(pred[mask] == truth[mask]))
            pairs_ = zip(pred[mask], truth[mask], strict=True)
            triad += sum(_triad_family(int(p)) == _triad_family(int(t)) for p, t in pairs_)
            n += int(mask.sum())
        return {"exact": exact / max(1, n), "triad": triad / max(1, n), "beats": n}

    def decode(songs: list[SongBeats], penalty: float, weight: float) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for s in songs:
            feats = beat_features(s.melody, s.in_bar, HARMONIZE)
            out.append((model.decode(feats, beam=8, change_penalty=penalty, melody_weight=weight), s.tokens))
        return out

    # Chosen on the validation slice of the training split (never on the held-out songs).
    slot = max((1, 2, 4), key=lambda k: accuracy([(diatonic_baseline(s, k), s.tokens) for s in valid])["exact"])
    grid = [(p, w) for p in (-1.0, -0.5, 0.0, 0.5) for w in (0.0, 1.0, 2.0)]
    penalty, weight = max(grid, key=lambda pw: accuracy(decode(valid, *pw))["exact"])
    t0 = time.perf_counter()
    ours = decode(test, penalty, weight)
    per_song = (time.perf_counter() - t0) / max(1, len(test))
    plain = decode(test, penalty, 0.0) if weight else ours
    results = {
        "chord model (beam 8, melody term)": accuracy(ours),
        "chord model (beam 8, network alone)": accuracy(plain),
        f"diatonic triad per {slot}-beat slot": accuracy([(diatonic_baseline(s, slot), s.tokens) for s in test]),
    }
    chosen = {"change_penalty": penalty, "melody_weight": weight, "baseline_slot_beats": slot}
    return results, chosen | {"seconds_per_song": per_song}


def evaluate_chords(quick: bool) -> dict[str, object]:
    """Both chord-model figures; ``quick`` uses a fifth of the songs."""
    t0 = time.perf_counter()
    train = load_beats(POP909, "train")
    test = load_beats(POP909, "test")
    valid = [s for s in train if s.song_id % 20 == 0]
    if quick:
        train, test, valid = train[::5], test[::5], valid[::4]
    model = ChordModel()
    nxt = next_chord(model, [s for s in train if s.song_id % 20 != 0], test)
    harm, chosen = harmonization(model, valid, test)
    table = Table(title="Chord model — next chord (held-out POP909 819–909, no melody)")
    for col in ("model", "top-1", "perplexity", "predictions"):
        table.add_column(col)
    for name, r in nxt.items():
        table.add_row(name, f"{100 * r['top1']:.1f} %", f"{r['perplexity']:.2f}", str(r["predictions"]))
    console.print(table)
    table = Table(title="Chord model — harmonization given the melody (per beat)")
    for col in ("model", "exact (121 chords)", "triad level", "beats"):
        table.add_column(col)
    for name, r in harm.items():
        table.add_row(name, f"{100 * r['exact']:.1f} %", f"{100 * r['triad']:.1f} %", str(r["beats"]))
    console.print(table)
    console.print(
        f"chosen on validation: change penalty {chosen['change_penalty']}, melody weight {chosen['melody_weight']}, "
        f"baseline slot {chosen['baseline_slot_beats']} beats; "
        f"{1000 * chosen['seconds_per_song']:.0f} ms per song; total {time.perf_counter() - t0:.0f} s"
    )
    return {"next_chord": nxt, "harmonization": harm, "chosen_on_validation": chosen, "weights": model.meta}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a fifth of the songs")
    ap.add_argument("--only", choices=["chord", "chorale"], default=None)
    args = ap.parse_args()
    if not POP909.exists():
        console.print(f"POP909 not found at {POP909}")
        return 1
    results: dict[str, object] = {}
    if args.only in (None, "chord"):
        results["chord"] = evaluate_chords(args.quick)
    if args.only in (None, "chorale"):
        try:
            chorale = importlib.import_module("models_eval_chorale")
        except ModuleNotFoundError:
            console.print("chorale evaluation not available (benchmarks/models_eval_chorale.py missing)")
        else:
            results["chorale"] = chorale.evaluate(args.quick)
    path = write_result("models_eval" + ("_quick" if args.quick else ""), results)
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
