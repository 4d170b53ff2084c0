"""Choosing the band's chords as the performer plays: the :class:`ChordPredictor` protocol and its fallback.

The engine asks a predictor for a chord at every *decision point* — the start of a
harmonic-rhythm slot (a bar or half a bar, from the style) — and, within a slot, at
every 16th note it has not yet scheduled, so the predictor can revise a chord the
performer contradicts. The predictor sees only the past: the chords the band played,
the key so far and the performer's notes up to now (:class:`ChordContext`). Any object
with a ``choose(context) -> Chord`` method plugs in: the learned chord network of
``tunesmith.models.chord`` does, streamed beat by beat
(:class:`~tunesmith.accompany.learned.LearnedPredictor`, ``--chord-model learned``).

:class:`DiatonicPredictor`, the principled fallback, is the default because it scores
better (``docs/BENCHMARKS.md``). It picks the candidate that is expected to contain the
most of the slot's coming notes:

* **candidates** — the chords POP909 songs actually use in the current key (diatonic
  triads plus the common borrowed ones: V/V, V/vi, bVII, iv… — every folded numeral
  with ≥ 0.5 % of the chord changes in ``progression_model()``), in the key followed by
  :class:`~tunesmith.accompany.key.KeyTracker` (Krumhansl–Schmuckler on fading notes);
* **prediction** — a pitch-class distribution of the coming notes, mixing the notes of
  the last eight bars (the key's centre of gravity: tonic-heavy) with **memory**: songs
  repeat, so when the last two bars match earlier passages (Jaccard similarity of their
  (eighth, pitch) onsets, also transposed by any key change since), the notes that followed
  those passages are what is expected now;
* **prior** — the learned POP909 transition probabilities from the previous slot's
  chord in hindsight (in roman numerals, so they hold in any key), and how common each
  chord is; both are small tie-breakers, because larger weights lowered the share of
  chord tones on training songs;
* **revision** — when a note outside the sounding chord has lasted ``clash_beats`` in
  the slot (the performer clearly contradicts the band), the chord changes to the best
  candidate containing it.

Weights were tuned on POP909 training songs (001–818) only.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from tunesmith.accompany.performer import Performer
from tunesmith.score.theory import CHORD_QUALITIES, Chord, Key, parse_roman

#: Chord qualities folded to the triad family they belong to (the vocabulary of the fallback).
FAMILY = {
    "maj": "maj",
    "7": "maj",
    "maj7": "maj",
    "maj6": "maj",
    "9": "maj",
    "maj9": "maj",
    "add9": "maj",
    "11": "maj",
    "13": "maj",
    "sus2": "maj",
    "sus4": "maj",
    "7sus4": "maj",
    "min": "min",
    "min7": "min",
    "min6": "min",
    "min9": "min",
    "min11": "min",
    "minmaj7": "min",
    "dim": "dim",
    "hdim7": "dim",
    "dim7": "dim",
    "aug": "aug",
}
#: Chords used less than this share of POP909's chord changes (in a mode) are not candidates.
MIN_SHARE = 0.005


@dataclass(frozen=True)
class PlayedSlot:
    """A harmonic-rhythm slot the band has played: its span in beats and the chords heard in it."""

    start: float
    end: float
    chord: Chord


@dataclass
class ChordContext:
    """What a predictor may know when choosing a chord (nothing from the future).

    Attributes
    ----------
    beat : float
        Where the chosen chord would start sounding, beats.
    now : float
        How far the performer has been heard, beats (a little before ``beat``: the band
        schedules ahead).
    slot_start, slot_end : float
        The harmonic-rhythm slot ``beat`` falls in, beats.
    bar_beats : float
        Bar length, beats.
    key : Key
        The key so far (fixed, or followed by :class:`~tunesmith.accompany.key.KeyTracker`).
    current : Chord or None
        The chord sounding in this slot (a revision check), or None at a new slot.
    history : sequence of PlayedSlot
        Earlier slots, oldest first (the engine's own list: read, do not modify).
    performer : Performer
        The performer's notes and the evidence queries (``weights``, ``counts``, ``fingerprints``).
    keys : sequence of (beat, Key)
        The key changes heard so far, oldest first.
    """

    beat: float
    now: float
    slot_start: float
    slot_end: float
    bar_beats: float
    key: Key
    current: Chord | None
    history: Sequence[PlayedSlot]
    performer: Performer
    keys: Sequence[tuple[float, Key]] = ()


@runtime_checkable
class ChordPredictor(Protocol):
    """Anything that picks the band's chord from the past: the fallback, or a learned model."""

    def choose(self, context: ChordContext) -> Chord:
        """The chord to play from ``context.beat`` (return ``context.current`` to keep it)."""
        ...


# ---------------------------------------------------------------------------- vocabulary
@dataclass(frozen=True)
class _Table:
    """Candidates of one mode, relative to the tonic: (offset, family), their tones and transition log-probs."""

    chords: tuple[tuple[int, str], ...]
    log_start: np.ndarray  # (n,) how often each is used at all
    log_next: np.ndarray  # (n, n) log P(next | previous), keeping the chord included


def _fold(numeral: str, mode: str) -> tuple[int, str]:
    chord = parse_roman(numeral, Key(0, mode))
    return chord.root, FAMILY[chord.quality]


@cache
def _table(mode: str) -> _Table:
    """The candidate chords and transitions of ``mode`` (major/minor) from the POP909 progression model."""
    from tunesmith.compose.harmony import progression_model

    model = progression_model()["minor" if mode == "minor" else "major"]
    usage: dict[tuple[int, str], float] = {}
    pairs: dict[tuple[tuple[int, str], tuple[int, str]], float] = {}
    for prev, row in model["first_order"].items():
        a = _fold(prev, mode)
        for nxt, count in row.items():
            b = _fold(nxt, mode)
            usage[b] = usage.get(b, 0.0) + count
            if a != b:
                pairs[(a, b)] = pairs.get((a, b), 0.0) + count
    total = sum(usage.values())
    chords = tuple(sorted((c for c, n in usage.items() if n / total >= MIN_SHARE), key=lambda c: -usage[c]))
    index = {c: i for i, c in enumerate(chords)}
    counts = np.ones((len(chords), len(chords)))  # add-one smoothing
    for (a, b), n in pairs.items():
        if a in index and b in index:
            counts[index[a], index[b]] += n
    np.fill_diagonal(counts, 0.0)
    # The chain counts chord *changes*; a slot keeps its chord about as often as it changes
    # (POP909 chords last two beats or four about equally often), so staying gets log(1/2)
    # and each change log(1/2) plus its share of the changes.
    log_next = np.log(0.5 * counts / counts.sum(axis=1, keepdims=True) + 1e-12)
    np.fill_diagonal(log_next, math.log(0.5))
    start = np.array([usage[c] for c in chords])
    return _Table(chords, np.log(start / start.sum()), log_next)


def _triad(offset: int, family: str, tonic: int) -> Chord:
    return Chord((tonic + offset) % 12, family)


@dataclass(frozen=True)
class Candidates:
    """The candidate chords in one key: chords, a (n, 12) membership matrix and the key's table."""

    chords: tuple[Chord, ...]
    tones: np.ndarray
    table: _Table


@cache
def candidates(key: Key) -> Candidates:
    """Candidate chords (triads) for ``key`` with their pitch-class membership matrix."""
    mode = "minor" if key.mode in ("minor", "dorian", "phrygian", "aeolian") else "major"
    table = _table(mode)
    chords = tuple(_triad(off, fam, key.tonic) for off, fam in table.chords)
    tones = np.zeros((len(chords), 12))
    for i, c in enumerate(chords):
        tones[i, list(c.pitch_classes)] = 1.0
    return Candidates(chords, tones, table)


def colour(chord: Chord, key: Key, harmony_source: str) -> Chord:
    """The chord as the style plays it: diatonic sevenths in jazz, dominant sevenths in blues, triads otherwise."""
    if chord.quality not in ("maj", "min", "dim"):
        return chord
    if harmony_source == "blues":
        return Chord(chord.root, "7" if chord.quality == "maj" else "min7", chord.bass)
    if harmony_source == "jazz":
        if chord.quality == "dim":
            return Chord(chord.root, "hdim7", chord.bass)
        if chord.quality == "min":
            return Chord(chord.root, "min7", chord.bass)
        seventh = (chord.root + 11) % 12
        dominant = seventh not in key.scale and (chord.root + 10) % 12 in key.scale
        return Chord(chord.root, "7" if dominant else "maj7", chord.bass)
    return chord


def tones_of(chord: Chord) -> frozenset[int]:
    """Pitch classes of a chord (cached by quality)."""
    return frozenset((chord.root + i) % 12 for i in CHORD_QUALITIES[chord.quality][0]) | (
        frozenset() if chord.bass is None else frozenset({chord.bass})
    )


# ---------------------------------------------------------------------------- the fallback
#: Length of the units songs are matched in (beats): half a 4/4 bar, the shortest usual chord.
UNIT = 2.0
#: Units of context compared when looking for an earlier passage like the last one (two bars).
CONTEXT_UNITS = 4
#: How far back the memory looks, units (64 bars).
MEMORY_UNITS = 128


@dataclass(frozen=True)
class PredictorWeights:
    """The fallback's weights (tuned on POP909 songs 001–818; see ``docs/BENCHMARKS.md``).

    The chord chosen maximises the expected share of the coming notes it contains —
    ``tones · p`` for a predicted pitch-class distribution ``p`` — plus small prior terms.
    ``p`` mixes the recent notes and what followed similar passages. (Also tried and
    left out because they lowered the share on training songs: the last beat's notes
    alone, notes held across the decision point, a bonus for keeping the chord, and
    revising on the evidence of the slot's first notes rather than on a clash.)

    Attributes
    ----------
    recent : float
        Weight of the last ``recent_beats`` beats' notes (the key's centre of gravity).
    recent_beats : float
        Beats of recent notes, beats.
    memory : float
        Weight of the notes that followed the most similar earlier passages, times the best similarity.
    memory_min : float
        Similarity (Jaccard of (eighth, pitch) onsets, 0–1) below which a passage is not recalled.
    memory_k : int
        How many of the most similar passages are recalled.
    memory_power : float
        Recalled passages count by their similarity to this power.
    onset_share : float
        Evidence counts notes by onset (this share) and by duration × metric weight (the rest).
    transition : float
        Weight of the POP909 log transition probability from the previous slot's chord (in
        hindsight). Kept as a tie-breaker: larger weights lowered the share on training songs.
    usage : float
        Weight of how common the chord is in the key (log share), also a tie-breaker.
    clash_beats : float
        A performer note outside the sounding chord that has lasted this long (beats) is a
        clear contradiction: the chord is revised to the best one containing it.
    listen : float
        Weight of the slot's own notes (against 1 for the prediction) when choosing the revision.
    """

    recent: float = 1.0
    recent_beats: float = 32.0
    memory: float = 16.0
    memory_min: float = 0.2
    memory_k: int = 4
    memory_power: float = 2.0
    onset_share: float = 1.0
    transition: float = 0.01
    usage: float = 0.01
    clash_beats: float = 1.0
    listen: float = 1.0


def _major_tonic(key: Key) -> int:
    """The tonic of the major key with the same notes (C for A minor): a modulation's size ignores mode."""
    return (key.tonic + 3) % 12 if key.mode == "minor" else key.tonic


def _unit(x: np.ndarray) -> np.ndarray:
    total = x.sum()
    return x / total if total > 0 else x


@dataclass
class DiatonicPredictor:
    """The fallback chord chooser: key, expected coverage of the coming notes, POP909 transitions, song memory.

    Parameters
    ----------
    weights : PredictorWeights
        Tuning (defaults tuned on POP909 training songs).
    """

    weights: PredictorWeights = field(default_factory=PredictorWeights)
    _fitted: dict[float, Chord] = field(default_factory=dict, repr=False)  # slot start -> best chord in hindsight
    _slot: tuple[float, Key, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _units: dict[int, int] = field(default_factory=dict, repr=False)  # unit -> fingerprint (finished units)

    model: ClassVar[dict[str, str]] = {"id": "accompany-diatonic-fallback+pop909-progressions"}

    def choose(self, context: ChordContext) -> Chord:
        """Pick the chord for ``context.beat`` (see the module docstring)."""
        cands = candidates(context.key)
        slot = self._slot
        if context.current is None or slot is None or slot[0] != context.slot_start or slot[1] != context.key:
            predicted, prior = self._predict(context, cands)
            self._slot = (context.slot_start, context.key, predicted, prior)
            if context.current is None:
                return cands.chords[int(np.argmax(cands.tones @ predicted + prior))]
        return self._revise(context, cands)

    # -------------------------------------------------------------- evidence
    def _evidence(self, performer: Performer, start: float, end: float) -> np.ndarray:
        """Pitch-class distribution of what sounded from ``start`` to ``end`` (onsets and durations mixed)."""
        share = self.weights.onset_share
        return share * _unit(performer.counts(start, end)) + (1 - share) * _unit(performer.weights(start, end))

    def _predict(self, context: ChordContext, cands: Candidates) -> tuple[np.ndarray, np.ndarray]:
        """The predicted pitch-class distribution of the slot's notes, and each candidate's prior score."""
        w = self.weights
        perf = context.performer
        now = min(context.now, context.slot_start)
        mix = w.recent * self._evidence(perf, now - w.recent_beats, now)
        matches = self._memory(context)
        if matches:
            length = context.slot_end - context.slot_start
            # Each passage's continuation by its similarity; one followed by silence (a section's end)
            # predicts nothing and dilutes the others rather than leaving them to speak alone.
            weights = [sim**w.memory_power for _, sim, _ in matches]
            recalled = sum(
                wt * np.roll(self._evidence(perf, at, at + length), shift)
                for wt, (at, _, shift) in zip(weights, matches, strict=True)
            )
            mix += w.memory * matches[0][1] * recalled / sum(weights)
        prior = w.usage * cands.table.log_start.copy()
        previous = self._previous_fitted(context, cands)
        if previous is not None:
            prior += w.transition * cands.table.log_next[previous]
        return _unit(mix), prior

    def _fit_slot(self, slot: PlayedSlot, performer: Performer, cands: Candidates) -> Chord | None:
        """The candidate that best covers a finished slot's notes (None when it was silent)."""
        evidence = self._evidence(performer, slot.start, slot.end)
        if not evidence.any():
            return None
        return cands.chords[int(np.argmax(cands.tones @ evidence + 1e-3 * cands.table.log_start))]

    def _previous_fitted(self, context: ChordContext, cands: Candidates) -> int | None:
        """Index of the previous slot's chord in hindsight (what fitted its notes), if it is a candidate."""
        if not context.history:
            return None
        last = context.history[-1]
        if last.start not in self._fitted:
            fitted = self._fit_slot(last, context.performer, cands)
            if fitted is None:  # a silent slot: what was played stands
                fitted = Chord(last.chord.root, FAMILY.get(last.chord.quality, "maj"))
            self._fitted[last.start] = fitted
            if len(self._fitted) > 2048:  # bounded memory in long sessions
                for k in sorted(self._fitted)[:1024]:
                    del self._fitted[k]
        try:
            return cands.chords.index(self._fitted[last.start])
        except ValueError:
            return None

    # -------------------------------------------------------------- memory
    def _unit_print(self, performer: Performer, unit: int, bar_beats: float) -> int:
        """Fingerprint of one unit: bit (16th within the unit) * 128 + pitch per onset."""
        cached = self._units.get(unit)
        if cached is not None:
            return cached
        beat = unit * UNIT
        bar = math.floor(beat / bar_beats + 1e-9)
        first = round((beat - bar * bar_beats) / 0.25)
        width = round(UNIT / 0.25) * 128
        value = (performer.fingerprints.get(bar, 0) >> (first * 128)) & ((1 << width) - 1)
        self._units[unit] = value
        if len(self._units) > 4 * MEMORY_UNITS:
            for k in sorted(self._units)[: 2 * MEMORY_UNITS]:
                del self._units[k]
        return value

    def _memory(self, context: ChordContext) -> list[tuple[float, float, int]]:
        """Earlier passages like the last two bars: (start of the unit that followed, beats; similarity; transposition).

        Similarity is the Jaccard index of the (eighth, pitch) onsets of the two-bar contexts,
        the earlier one transposed by the key change since (a chorus repeated a step
        higher still matches); only passages at least ``memory_min`` alike count, the best
        ``memory_k`` of them.
        """
        if abs(context.slot_start / UNIT - round(context.slot_start / UNIT)) > 1e-6:
            return []
        here = round(context.slot_start / UNIT)
        perf = context.performer
        recent = [self._unit_print(perf, here - i, context.bar_beats) for i in range(1, CONTEXT_UNITS + 1)]
        if not any(recent):
            return []
        key_beats = [b for b, _ in context.keys]
        home = _major_tonic(context.key)
        found = []
        for there in range(here - 1, max(here - MEMORY_UNITS, CONTEXT_UNITS) - 1, -1):
            past = [self._unit_print(perf, there - i, context.bar_beats) for i in range(1, CONTEXT_UNITS + 1)]
            shifts = [0]
            if len(key_beats) > 1:  # also as transposed by the key change since (the estimate may be wrong: try both)
                i = bisect.bisect_right(key_beats, there * UNIT) - 1
                if i >= 0 and (shift := (home - _major_tonic(context.keys[i][1]) + 6) % 12 - 6):
                    shifts.append(shift)
            best: tuple[float, int] | None = None
            for shift in shifts:
                moved = [p << shift if shift > 0 else p >> -shift for p in past] if shift else past
                if not recent[0] & moved[0]:  # the last units share nothing: not the same passage
                    continue
                union = sum((a | b).bit_count() for a, b in zip(recent, moved, strict=True))
                sim = sum((a & b).bit_count() for a, b in zip(recent, moved, strict=True)) / union
                if best is None or sim > best[0]:
                    best = (sim, shift)
            if best is not None and best[0] >= self.weights.memory_min:
                found.append((there * UNIT, best[0], best[1]))
        found.sort(key=lambda m: -m[1])
        return found[: self.weights.memory_k]

    # -------------------------------------------------------------- revision
    def _revise(self, context: ChordContext, cands: Candidates) -> Chord:
        """Keep the chord unless a note outside it has sounded ``clash_beats`` in this slot; then the
        best candidate containing the clashing notes (prediction + what the slot has played so far)."""
        w = self.weights
        current = context.current
        assert current is not None and self._slot is not None
        tones = tones_of(current)
        clash = {
            n.pitch % 12
            for n in context.performer.sounding
            if n.start >= context.slot_start - 1e-9
            and context.now - n.start >= w.clash_beats
            and n.pitch % 12 not in tones
        }
        if not clash:
            return current
        _, _, predicted, prior = self._slot
        heard = self._evidence(context.performer, context.slot_start, context.now)
        score = cands.tones @ _unit(predicted + w.listen * heard) + prior
        fits = cands.tones[:, sorted(clash)].all(axis=1)
        if not fits.any():
            return current  # no candidate holds the note (a chromatic note): nothing better to play
        score[~fits] = -np.inf
        return cands.chords[int(np.argmax(score))]
