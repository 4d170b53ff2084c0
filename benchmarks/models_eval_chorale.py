"""Chorale model vs baselines on the held-out Bach chorales (issue 7, point 3).

Material: the four-part pieces among ``music21.corpus.getComposer('bach')``'s sorted paths
with index ``i % 5 == 4`` (the held-out split; ``--quick``: every fourth of them). Each
system gets Bach's soprano (ties merged, on the sixteenth grid, a pickup padded to a full
bar), the key (music21's analysis of the piece) and the bar length, and writes alto, tenor
and bass. Systems, all trained on the same training split (``i % 5 != 4``, less the
validation slice ``i % 10 == 8``):

* **model**: ``tunesmith.models.chorale.harmonize_soprano`` (seed 0: the constrained beam
  search's best);
* **n-gram**: a frame-wise back-off n-gram per voice, counted here from the training
  pieces: p(token | mode, soprano's scale degree, soprano onset, the voice's previous
  interval below the soprano) backing off to p(token | mode, degree, onset) and p(token |
  onset); a token is "hold", "rest" or a new note's interval below the soprano. Decoded
  greedily, each voice on its own (no rules), so it shows what the frame statistics alone do;
* **rules + HMM chords**: the existing rule-based solver of ``compose.arrange``
  (``_solve_chorale``: chord tones per beat, ranges, no crossing, parallels penalised,
  smallest motion) driven with the soprano and a chord per beat chosen by an HMM counted
  from the training pieces (each training beat labelled with the triad or seventh chord
  that best fits its four notes; transitions and soprano-degree emissions per mode; Viterbi);
* for reference, **rules + Bach's chords**: the same solver given the chord labelled from
  Bach's own four voices on each held-out beat (an oracle: it sees the answer's harmony).

Metrics, over every sixteenth from the first note to the last:
* accuracy of alto, tenor and bass: share of sixteenths whose sounding pitch (or rest)
  equals Bach's;
* NLL per frame: nats per sixteenth of Bach's alto, tenor and bass together given the
  soprano (the model: teacher-forced chain rule; the n-gram: its own factorisation; the
  rule solver has no probabilities);
* parallel fifths and octaves (unisons included) between any two of the four voices per 100
  beats (``chorale.parallel_perfects``), beside Bach's own rate on the same pieces;
* crossings: share of sixteenths in which a lower voice sounds above a higher one;
* notes outside the voice ranges of ``chorale.RANGES``;
* seconds per chorale (wall and CPU time of the calling process; BLAS single-threaded,
  i.e. one core; target <= 2 s).

Usage: python benchmarks/models_eval_chorale.py [--quick]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from _common import write_result
from rich.console import Console
from rich.table import Table

from tunesmith.models import chorale
from tunesmith.models.chorale import FRAMES_PER_BEAT, RANGES, VOICES, ChoraleFrames
from tunesmith.score.theory import Chord, Key
from tunesmith.score.types import Note

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache-train" / "chorale"
console = Console(width=150)
TARGET_SECONDS = 2.0

# ------------------------------------------------------------------------------ helpers


def active_frames(ch: ChoraleFrames) -> np.ndarray:
    """Bool per frame: from the first sounding frame to the last (the pickup padding left out)."""
    sounding = (ch.pitches >= 0).any(axis=0)
    idx = np.flatnonzero(sounding)
    out = np.zeros(ch.frames, bool)
    out[idx[0] : idx[-1] + 1] = True
    return out


def soprano_notes(ch: ChoraleFrames) -> list[Note]:
    """Bach's soprano as notes (beats from the padded start, where frame 0 is a bar line)."""
    p, on = ch.pitches[0], ch.onsets[0]
    notes, start = [], None
    for t in range(ch.frames + 1):
        new = t == ch.frames or p[t] < 0 or on[t] or (t > 0 and p[t] != p[t - 1])
        if new and start is not None:
            notes.append(Note(start / FRAMES_PER_BEAT, (t - start) / FRAMES_PER_BEAT, int(p[start]), 80))
            start = None
        if t < ch.frames and p[t] >= 0 and start is None:
            start = t
    return notes


def scores(pred: np.ndarray, ch: ChoraleFrames, active: np.ndarray) -> dict[str, float]:
    """Accuracy per lower voice, parallels, crossings and out-of-range notes of ``(4, frames)`` pitches."""
    out: dict[str, float] = {}
    for v in (1, 2, 3):
        out[f"acc_{VOICES[v]}"] = float(np.mean(pred[v][active] == ch.pitches[v][active]))
    p = pred[:, active]
    out["parallels"] = chorale.parallel_perfects(p)
    out["crossing_frames"] = chorale.crossings(p)
    out_of_range = 0
    for v in (1, 2, 3):
        lo, hi = RANGES[VOICES[v]]
        starts = np.flatnonzero((p[v] >= 0) & np.concatenate([[True], p[v][1:] != p[v][:-1]]))
        out_of_range += int(np.sum((p[v][starts] < lo) | (p[v][starts] > hi)))
    out["out_of_range"] = out_of_range
    return out


def tune_signature(ch: ChoraleFrames) -> tuple[int, ...]:
    """The soprano's note onsets as pitch classes above the tonic: equal for the same tune in any key."""
    p = ch.pitches[0][ch.onsets[0]]
    return tuple(((p - ch.key.tonic) % 12).tolist())


def _timed(fn):
    """Result, wall seconds and CPU seconds of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


# ----------------------------------------------------------------------- n-gram baseline

_MAX_INTERVAL = 40
_NG_HOLD, _NG_REST = _MAX_INTERVAL + 1, _MAX_INTERVAL + 2
_NG_VOCAB = _MAX_INTERVAL + 3


def _reference_soprano(soprano: np.ndarray) -> np.ndarray:
    """The soprano with rests filled by its last note (72 before the first): intervals need one."""
    ref = soprano.astype(np.int64).copy()
    last = 72
    for t in range(len(ref)):
        if ref[t] < 0:
            ref[t] = last
        else:
            last = ref[t]
    return ref


def _ngram_tokens(ch: ChoraleFrames, v: int, ref: np.ndarray) -> np.ndarray:
    """Interval tokens of voice ``v``: hold, rest or a new note's interval below the soprano (0..40)."""
    p, on = ch.pitches[v].astype(np.int64), ch.onsets[v]
    prev = np.concatenate([[-1], p[:-1]])
    tok = np.clip(ref - p, 0, _MAX_INTERVAL)
    tok = np.where((~on) & (p == prev) & (p >= 0), _NG_HOLD, tok)
    return np.where(p < 0, _NG_REST, tok)


def _previous_intervals(p: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Each frame's previous-frame interval of the voice below the soprano (41: it rested)."""
    iv = np.where(p[:-1] >= 0, np.clip(ref[:-1] - p[:-1], 0, _MAX_INTERVAL), _MAX_INTERVAL + 1)
    return np.concatenate([[_MAX_INTERVAL + 1], iv])


def _ngram_contexts(ch: ChoraleFrames, ref: np.ndarray, prev_interval: np.ndarray) -> tuple[np.ndarray, ...]:
    """The three context levels per frame as integer ids."""
    minor = int(ch.key.mode == "minor")
    s = ch.pitches[0]
    degree = np.where(s >= 0, (s - ch.key.tonic) % 12, 12)
    onset = (ch.onsets[0] & (s >= 0)).astype(np.int64)
    c1 = onset
    c2 = (minor * 13 + degree) * 2 + onset
    c3 = c2 * (_MAX_INTERVAL + 2) + prev_interval
    return c1, c2, c3


class NgramBaseline:
    """Frame-wise back-off n-gram of each lower voice's interval below the soprano."""

    def __init__(self, pieces: list[ChoraleFrames], beta: float = 4.0) -> None:
        self.beta = beta
        self.counts = [[collections.defaultdict(lambda: np.zeros(_NG_VOCAB)) for _ in range(3)] for _ in range(3)]
        for ch in pieces:
            ref = _reference_soprano(ch.pitches[0])
            for vi, v in enumerate((1, 2, 3)):
                tok = _ngram_tokens(ch, v, ref)
                p = ch.pitches[v].astype(np.int64)
                for level, ctx in enumerate(_ngram_contexts(ch, ref, _previous_intervals(p, ref))):
                    table = self.counts[vi][level]
                    for c, k in zip(ctx.tolist(), tok.tolist(), strict=True):
                        table[c][k] += 1

    def probs(self, vi: int, contexts: tuple[int, int, int]) -> np.ndarray:
        """p(token) for voice ``vi`` (0 alto, 1 tenor, 2 bass) given the three context ids."""
        p = np.full(_NG_VOCAB, 1.0 / _NG_VOCAB)
        for level in range(3):
            c = self.counts[vi][level].get(contexts[level])
            if c is not None:
                p = (c + self.beta * p) / (c.sum() + self.beta)
        return p

    def harmonize(self, ch: ChoraleFrames) -> np.ndarray:
        """``(4, frames)`` pitches: the soprano and each voice's greedy most likely tokens."""
        ref = _reference_soprano(ch.pitches[0])
        out = np.full((4, ch.frames), -1, np.int64)
        out[0] = ch.pitches[0]
        for vi, v in enumerate((1, 2, 3)):
            prev_pitch, prev_iv = -1, _MAX_INTERVAL + 1
            for t in range(ch.frames):
                ctx = _ngram_contexts_at(ch, ref, t, prev_iv)
                tok = int(np.argmax(self.probs(vi, ctx)))
                if tok == _NG_REST:
                    pitch = -1
                elif tok == _NG_HOLD:
                    pitch = prev_pitch
                else:
                    pitch = int(ref[t] - tok)
                out[v, t] = pitch
                prev_pitch = pitch
                prev_iv = int(np.clip(ref[t] - pitch, 0, _MAX_INTERVAL)) if pitch >= 0 else _MAX_INTERVAL + 1
        return out

    def nll(self, ch: ChoraleFrames) -> np.ndarray:
        """Per-frame NLL (nats) of Bach's three lower voices."""
        ref = _reference_soprano(ch.pitches[0])
        total = np.zeros(ch.frames)
        for vi, v in enumerate((1, 2, 3)):
            tok = _ngram_tokens(ch, v, ref)
            p = ch.pitches[v].astype(np.int64)
            c1, c2, c3 = _ngram_contexts(ch, ref, _previous_intervals(p, ref))
            for t in range(ch.frames):
                total[t] -= math.log(self.probs(vi, (int(c1[t]), int(c2[t]), int(c3[t])))[tok[t]])
        return total


def _ngram_contexts_at(ch: ChoraleFrames, ref: np.ndarray, t: int, prev_iv: int) -> tuple[int, int, int]:
    """The three context ids of frame ``t`` (as :func:`_ngram_contexts`, one frame)."""
    s = int(ch.pitches[0, t])
    onset = int(bool(ch.onsets[0, t]) and s >= 0)
    degree = (s - ch.key.tonic) % 12 if s >= 0 else 12
    c2 = (int(ch.key.mode == "minor") * 13 + degree) * 2 + onset
    return onset, c2, c2 * (_MAX_INTERVAL + 2) + prev_iv


# ------------------------------------------------------------- rules + HMM chords baseline

_QUALITIES = ("maj", "min", "dim", "7")
_TEMPLATES = {q: {0: (0, 4, 7), 1: (0, 3, 7), 2: (0, 3, 6), 3: (0, 4, 7, 10)}[i] for i, q in enumerate(_QUALITIES)}


def label_chord(pitches: list[int]) -> Chord | None:
    """The triad or dominant seventh that best explains a beat's sounding notes (bass last)."""
    if not pitches:
        return None
    pcs = {p % 12 for p in pitches}
    bass = min(pitches) % 12
    best, best_score = None, -math.inf
    for root in range(12):
        for q in _QUALITIES:
            tpl = {(root + i) % 12 for i in _TEMPLATES[q]}
            score = 2 * len(pcs & tpl) - 3 * len(pcs - tpl) - len(tpl - pcs) + 0.5 * (bass == root)
            if score > best_score:
                best_score = score
                best = Chord(root, q, None if bass == root or bass not in tpl else bass)
    return best


def _beat_chords(ch: ChoraleFrames) -> list[Chord | None]:
    """Bach's chord at each beat (labelled from the four voices at the beat's first sixteenth)."""
    return [label_chord([int(p) for p in ch.pitches[:, t] if p >= 0]) for t in range(0, ch.frames, FRAMES_PER_BEAT)]


def _relative(chord: Chord | None, key: Key) -> tuple:
    """A chord relative to the key's tonic (what the HMM counts)."""
    if chord is None:
        return ("N",)
    bass = None if chord.bass is None else (chord.bass - chord.root) % 12
    return ((chord.root - key.tonic) % 12, chord.quality, bass)


def _absolute(state: tuple, key: Key) -> Chord | None:
    if state == ("N",):
        return None
    root = (state[0] + key.tonic) % 12
    return Chord(root, state[1], None if state[2] is None else (root + state[2]) % 12)


class HmmChords:
    """Chord per beat from the soprano: an HMM per mode counted from labelled training beats."""

    def __init__(self, pieces: list[ChoraleFrames], alpha: float = 0.1) -> None:
        self.alpha = alpha
        self.model = {}
        for mode in ("major", "minor"):
            states: collections.Counter = collections.Counter()
            trans: collections.Counter = collections.Counter()
            emit: collections.Counter = collections.Counter()
            first: collections.Counter = collections.Counter()
            for ch in pieces:
                if ch.key.mode != mode:
                    continue
                seq = [_relative(c, ch.key) for c in _beat_chords(ch)]
                sop = self._degrees(ch)
                first[seq[0]] += 1
                for a, b in itertools.pairwise(seq):
                    trans[(a, b)] += 1
                for s, d in zip(seq, sop, strict=True):
                    states[s] += 1
                    emit[(s, d)] += 1
            vocab = sorted(states, key=str)
            n = len(vocab)
            index = {s: i for i, s in enumerate(vocab)}
            a = np.full((n, n), alpha)
            for (x, y), c in trans.items():
                a[index[x], index[y]] += c
            b = np.full((n, 13), alpha)
            for (s, d), c in emit.items():
                b[index[s], d] += c
            pi = np.full(n, alpha)
            for s, c in first.items():
                pi[index[s]] += c
            self.model[mode] = (
                vocab,
                np.log(a / a.sum(1, keepdims=True)),
                np.log(b / b.sum(1, keepdims=True)),
                np.log(pi / pi.sum()),
            )

    @staticmethod
    def _degrees(ch: ChoraleFrames) -> list[int]:
        s = ch.pitches[0, ::FRAMES_PER_BEAT]
        return [int((p - ch.key.tonic) % 12) if p >= 0 else 12 for p in s]

    def chords(self, ch: ChoraleFrames) -> list[Chord | None]:
        """Viterbi chord per beat for the piece's soprano."""
        vocab, log_a, log_b, log_pi = self.model[ch.key.mode]
        obs = self._degrees(ch)
        delta = log_pi + log_b[:, obs[0]]
        back = []
        for d in obs[1:]:
            cand = delta[:, None] + log_a
            back.append(np.argmax(cand, axis=0))
            delta = cand.max(axis=0) + log_b[:, d]
        path = [int(np.argmax(delta))]
        for bp in reversed(back):
            path.append(int(bp[path[-1]]))
        return [_absolute(vocab[i], ch.key) for i in reversed(path)]


def rule_solver(ch: ChoraleFrames, chords: list[Chord | None]) -> np.ndarray:
    """``(4, frames)`` pitches from ``compose.arrange._solve_chorale`` over a chord per beat."""
    from tunesmith.compose.arrange import _solve_chorale
    from tunesmith.compose.harmony import Slot
    from tunesmith.compose.style import get_style

    style = get_style("chorale")
    melody = soprano_notes(ch)
    slots, last = [], Chord(ch.key.tonic, "min" if ch.key.mode == "minor" else "maj")
    for i, c in enumerate(chords):
        last = c or last  # a beat with nothing sounding keeps the chord before it
        slots.append(Slot(float(i), 1.0, last))
    bars = max(1, math.ceil(len(chords) / max(ch.beats_per_bar, 1)))
    voices = _solve_chorale(style, melody, slots, [("a", 0, bars, 0.7)])
    out = np.full((4, ch.frames), -1, np.int64)
    out[0] = ch.pitches[0]
    for start, _dur, pitches, _vel in voices:
        a = round(start * FRAMES_PER_BEAT)
        for v in range(3):
            out[v + 1, a : a + FRAMES_PER_BEAT] = pitches[v]
    # The solver voices every beat; where Bach's soprano rests, the voices rest too.
    out[1:, ch.pitches[0] < 0] = -1
    return out


# --------------------------------------------------------------------------- evaluation


def evaluate(quick: bool = False) -> dict[str, object]:
    """Run every system on the held-out chorales and return the figures (see module docstring)."""
    from threadpoolctl import threadpool_limits

    t_all = time.perf_counter()
    workers = min(2, os.cpu_count() or 1)
    test = chorale.load_bach_split("test", CACHE, workers)
    if quick:
        test = test[::4]
    train = chorale.load_bach_split("train", CACHE, workers)
    model = chorale.load_model()
    t0 = time.perf_counter()
    ngram = NgramBaseline(train)
    hmm = HmmChords(train)
    fit_s = time.perf_counter() - t0
    # Some chorale tunes are in the corpus more than once (other cantatas, other versions):
    # figures are also given without the held-out pieces whose tune a training piece has.
    seen = {tune_signature(ch) for ch in train}
    shared = [tune_signature(ch) in seen for ch in test]
    systems = ("model", "ngram", "rules_hmm", "rules_bach_chords")
    per: dict[str, list[dict[str, float]]] = {s: [] for s in systems}
    bach_par = bach_cross = beats = frames_total = 0
    nll = {"model": 0.0, "ngram": 0.0}
    with threadpool_limits(limits=1, user_api="blas"):
        # Warm-up: the first call pays for loading the weights and numpy's first dispatch.
        chorale.harmonize_soprano(soprano_notes(test[0]), test[0].key, test[0].beats_per_bar)
        for ch in test:
            active = active_frames(ch)
            n_active = int(active.sum())
            beats += n_active / FRAMES_PER_BEAT
            frames_total += n_active
            bach_par += chorale.parallel_perfects(ch.pitches[:, active])
            bach_cross += chorale.crossings(ch.pitches[:, active])
            voices, wall, cpu = _timed(
                lambda ch=ch: chorale.harmonize_soprano(soprano_notes(ch), ch.key, ch.beats_per_bar)
            )
            pred = chorale.frames_from_voices(voices, 0.0, ch.frames)
            per["model"].append({**scores(pred, ch, active), "wall_s": wall, "cpu_s": cpu, "frames": n_active})
            nll["model"] -= float(model.log_likelihood(ch)[active].sum())
            pred, wall, cpu = _timed(lambda ch=ch: ngram.harmonize(ch))
            per["ngram"].append({**scores(pred, ch, active), "wall_s": wall, "cpu_s": cpu, "frames": n_active})
            nll["ngram"] += float(ngram.nll(ch)[active].sum())
            pred, wall, cpu = _timed(lambda ch=ch: rule_solver(ch, hmm.chords(ch)))
            per["rules_hmm"].append({**scores(pred, ch, active), "wall_s": wall, "cpu_s": cpu, "frames": n_active})
            pred, wall, cpu = _timed(lambda ch=ch: rule_solver(ch, _beat_chords(ch)))
            per["rules_bach_chords"].append(
                {**scores(pred, ch, active), "wall_s": wall, "cpu_s": cpu, "frames": n_active}
            )
    results: dict[str, dict[str, object]] = {}
    for s in systems:
        rows = per[s]
        w = np.array([r["frames"] for r in rows], float)
        res: dict[str, object] = {
            f"acc_{v}": float(np.average([r[f"acc_{v}"] for r in rows], weights=w)) for v in VOICES[1:]
        }
        res["acc_mean"] = float(np.mean([res[f"acc_{v}"] for v in VOICES[1:]]))
        mine = [r for r, sh in zip(rows, shared, strict=True) if not sh]
        wu = np.array([r["frames"] for r in mine], float)
        res["acc_mean_unshared_tunes"] = float(
            np.mean([np.average([r[f"acc_{v}"] for r in mine], weights=wu) for v in VOICES[1:]])
        )
        res["nll_per_frame"] = nll[s] / frames_total if s in nll else None
        res["parallels_per_100_beats"] = 100.0 * sum(r["parallels"] for r in rows) / beats
        res["crossing_frames_pct"] = 100.0 * sum(r["crossing_frames"] for r in rows) / frames_total
        res["out_of_range_notes"] = int(sum(r["out_of_range"] for r in rows))
        res["seconds_per_chorale_median"] = float(np.median([r["wall_s"] for r in rows]))
        res["seconds_per_chorale_max"] = float(np.max([r["wall_s"] for r in rows]))
        res["cpu_seconds_per_chorale_median"] = float(np.median([r["cpu_s"] for r in rows]))
        res["cpu_seconds_per_chorale_max"] = float(np.max([r["cpu_s"] for r in rows]))
        results[s] = res
    longest = int(np.argmax([r["frames"] for r in per["model"]]))
    m = results["model"]
    passes = {
        "model_beats_ngram_accuracy": m["acc_mean"] > results["ngram"]["acc_mean"],
        "model_beats_rules_hmm_accuracy": m["acc_mean"] > results["rules_hmm"]["acc_mean"],
        "model_nll_below_ngram": m["nll_per_frame"] < results["ngram"]["nll_per_frame"],
        "parallels_at_most_bach": m["parallels_per_100_beats"] <= 100.0 * bach_par / beats,
        "no_crossings": m["crossing_frames_pct"] == 0.0,
        "in_range": m["out_of_range_notes"] == 0,
        "seconds_per_chorale_cpu_max": m["cpu_seconds_per_chorale_max"] <= TARGET_SECONDS,
        "seconds_per_chorale_wall_median": m["seconds_per_chorale_median"] <= TARGET_SECONDS,
    }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "pieces": len(test),
        "pieces_sharing_a_training_tune": [ch.name for ch, sh in zip(test, shared, strict=True) if sh],
        "beats": beats,
        "frames": frames_total,
        "quick": quick,
        "bach": {
            "parallels_per_100_beats": 100.0 * bach_par / beats,
            "crossing_frames_pct": 100.0 * bach_cross / frames_total,
        },
        "systems": results,
        "longest_piece": {
            "name": test[longest].name,
            "beats": per["model"][longest]["frames"] / FRAMES_PER_BEAT,
            "wall_s": per["model"][longest]["wall_s"],
            "cpu_s": per["model"][longest]["cpu_s"],
        },
        "model_meta": model.meta,
        "weights_bytes": chorale.weights_path().stat().st_size,
        "baseline_fit_s": fit_s,
        "target_seconds": TARGET_SECONDS,
        "pass": passes,
        "load_average_1min": load,
        "total_s": time.perf_counter() - t_all,
    }


def print_table(res: dict[str, object]) -> None:
    """The figures as a rich table."""
    names = {
        "model": "chorale model (beam, rules)",
        "ngram": "n-gram (greedy)",
        "rules_hmm": "rules + HMM chords",
        "rules_bach_chords": "rules + Bach's chords (oracle)",
    }
    table = Table(title=f"Chorale harmonisation, {res['pieces']} held-out chorales, {res['beats']:.0f} beats")
    for col in (
        "system",
        "alto",
        "tenor",
        "bass",
        "NLL/frame",
        "par./100 beats",
        "crossing %",
        "out of range",
        "s/chorale (med, max)",
        "CPU s (med, max)",
    ):
        table.add_column(col, justify="right" if col != "system" else "left")
    for key, r in res["systems"].items():
        table.add_row(
            names[key],
            f"{100 * r['acc_alto']:.1f} %",
            f"{100 * r['acc_tenor']:.1f} %",
            f"{100 * r['acc_bass']:.1f} %",
            "—" if r["nll_per_frame"] is None else f"{r['nll_per_frame']:.3f}",
            f"{r['parallels_per_100_beats']:.2f}",
            f"{r['crossing_frames_pct']:.2f}",
            str(r["out_of_range_notes"]),
            f"{r['seconds_per_chorale_median']:.3f}, {r['seconds_per_chorale_max']:.3f}",
            f"{r['cpu_seconds_per_chorale_median']:.3f}, {r['cpu_seconds_per_chorale_max']:.3f}",
        )
    b = res["bach"]
    table.add_row(
        "Bach (held-out)",
        "",
        "",
        "",
        "",
        f"{b['parallels_per_100_beats']:.2f}",
        f"{b['crossing_frames_pct']:.2f}",
        "",
        "",
        "",
    )
    console.print(table)
    console.print(
        f"longest piece {res['longest_piece']['name']} ({res['longest_piece']['beats']:.0f} beats): "
        f"{res['longest_piece']['wall_s']:.2f} s wall, {res['longest_piece']['cpu_s']:.2f} s CPU; "
        f"weights {res['weights_bytes'] / 1e6:.2f} MB; load average {res['load_average_1min']}"
    )
    unshared = ", ".join(f"{k} {100 * r['acc_mean_unshared_tunes']:.1f} %" for k, r in res["systems"].items())
    console.print(
        f"mean A/T/B accuracy without the {len(res['pieces_sharing_a_training_tune'])} held-out pieces whose "
        f"tune is also in training: {unshared}"
    )
    failed = [k for k, v in res["pass"].items() if not v]
    console.print(f"targets missed: {', '.join(failed) if failed else 'none'}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="every fourth held-out chorale")
    args = ap.parse_args()
    res = evaluate(args.quick)
    print_table(res)
    path = write_result("models_eval_chorale_quick" if args.quick else "models_eval_chorale", res)
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
