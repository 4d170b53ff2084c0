"""Objective metrics of symbolic music, for judging composed scores against real ones.

Definitions follow the ones used in the literature so that figures can be set side by
side with published results:

* MuseGAN (Dong et al., AAAI 2018): used pitch classes per bar (UPC), qualified-note rate
  (QN: notes lasting at least 3 steps of a 48-steps-per-bar grid) and the drum-pattern
  ratio (DP: drum onsets on the 16th-note grid);
* MusPy (Dong et al., ISMIR 2020): scale consistency, pitch-class entropy, groove
  consistency, drum-in-pattern rate and drum-pattern consistency;

plus a few checks specific to composition: chord tones on strong beats, notes outside
the instrument's range and bars that should sound but are silent.

Every function is pure and works on :class:`~tunesmith.score.types.Score` /
:class:`~tunesmith.score.types.Track` values. Time is in beats (quarter notes); bar
positions follow the score's metre changes. Functions return ``nan`` when the quantity
is undefined (no notes to look at), never raise for empty input.

This is our own implementation of the published definitions; it does not use MusPy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from tunesmith.score.theory import SCALES, Key, instrument_range, strong_beats
from tunesmith.score.types import Note, Score, Track

#: Tolerance, beats, for "an onset is on a grid position".
ONSET_TOLERANCE = 1e-3
#: Tolerance, beats, for "a note sounds inside a bar" (a note ending exactly on a bar line does not).
_SOUND_TOLERANCE = 1e-6

__all__ = [
    "ONSET_TOLERANCE",
    "drum_in_pattern_rate",
    "drum_pattern_consistency",
    "empty_bar_rate",
    "empty_bars",
    "groove_consistency",
    "out_of_range_notes",
    "pitch_class_entropy",
    "pitch_classes_per_bar",
    "pitch_in_key_rate",
    "qualified_note_rate",
    "scale_consistency",
    "strong_beat_chord_tone_rate",
]


# ---------------------------------------------------------------------------- helpers
def _pitches(notes: Iterable[Note] | Iterable[int] | Track) -> np.ndarray:
    """MIDI pitches of notes (or of a track's notes, or plain pitch numbers), as int64."""
    if isinstance(notes, Track):
        notes = notes.notes
    return np.fromiter((n.pitch if isinstance(n, Note) else int(n) for n in notes), dtype=np.int64)


def _bar_starts(score: Score, until: float) -> np.ndarray:
    """Start beats of bars 0, 1, … up to and including the first bar starting after ``until``.

    The last element is therefore the end of the bar holding ``until``.
    """
    last = score.bar_at(max(0.0, until)) + 1
    return np.array([score.bar_start(b) for b in range(last + 1)], dtype=float)


def _bar_of(starts: np.ndarray, beats: np.ndarray, tolerance: float) -> np.ndarray:
    """Bar index of each beat; a beat up to ``tolerance`` before a bar line belongs to that bar."""
    return np.searchsorted(starts, beats + tolerance, side="right") - 1


def _on_grid(offsets: np.ndarray, grid: float, tolerance: float = ONSET_TOLERANCE) -> np.ndarray:
    """Whether each offset (beats) is within ``tolerance`` beats of a multiple of ``grid`` beats."""
    steps = offsets / grid
    return np.abs(steps - np.round(steps)) * grid <= tolerance


def _sounding_bars(notes: Sequence[Note], starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bar index, note index) pairs: every bar in which each note sounds (onset or held over).

    ``starts`` must reach past the last note-off.
    """
    if not notes:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    on = np.array([n.start for n in notes], dtype=float)
    off = np.array([n.end for n in notes], dtype=float)
    first = np.searchsorted(starts, on + _SOUND_TOLERANCE, side="right") - 1
    last = np.searchsorted(starts, off - _SOUND_TOLERANCE, side="left") - 1
    last = np.maximum(first, last)  # zero-length notes still sound in their bar
    counts = last - first + 1
    note_idx = np.repeat(np.arange(len(notes)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(first, counts) + offsets, note_idx


# ---------------------------------------------------------------------------- harmony
def strong_beat_chord_tone_rate(score: Score, track: Track) -> float:
    """Share of a track's strong-beat onsets whose pitch class belongs to the sounding chord.

    Strong beats are those of the score's first time signature
    (:func:`tunesmith.score.theory.strong_beats`: beats 1 and 3 in 4/4, the downbeat in
    3/4, every dotted quarter in compound metres). An onset is on a strong beat when it lies
    within :data:`ONSET_TOLERANCE` beats of ``bar_start + position``. Onsets where no chord
    symbol sounds, or the chord is "no chord" (``None``), are left out.

    Parameters
    ----------
    score : Score
        Gives the bar lines, metre and chord symbols.
    track : Track
        The part to judge (usually the melody).

    Returns
    -------
    float
        Fraction in 0–1 (dimensionless); ``nan`` when no strong-beat onset has a chord.
    """

    if not track.notes or not score.chords:
        return float("nan")
    sig = score.time_signatures[0]
    strong = np.array(strong_beats(sig.numerator, sig.denominator), dtype=float)
    on = np.array([n.start for n in track.notes], dtype=float)
    starts = _bar_starts(score, float(on.max()) + ONSET_TOLERANCE)
    bar = _bar_of(starts, on, ONSET_TOLERANCE)
    pos = on - starts[bar]
    is_strong = (np.abs(pos[:, None] - strong[None, :]) <= ONSET_TOLERANCE).any(axis=1)
    chord_starts = np.array([c.start for c in score.chords], dtype=float)
    hits = total = 0
    for i in np.flatnonzero(is_strong):
        k = int(np.searchsorted(chord_starts, on[i] + ONSET_TOLERANCE, side="right")) - 1
        if k < 0:
            continue
        symbol = score.chords[k]
        if symbol.chord is None or on[i] >= symbol.end - ONSET_TOLERANCE:
            continue
        total += 1
        hits += track.notes[i].pitch % 12 in symbol.chord.pitch_classes
    return hits / total if total else float("nan")


def scale_consistency(notes: Iterable[Note] | Iterable[int] | Track) -> float:
    """Largest share of notes that fit one major or natural-minor scale (MusPy).

    The 24 scales (12 tonics × major / natural minor) are tried and the best one's share of
    notes whose pitch class it contains is returned. Counts are per note, not weighted by
    duration.

    Parameters
    ----------
    notes : iterable of Note, iterable of int, or Track
        Notes (or MIDI pitches) to judge.

    Returns
    -------
    float
        Fraction in 0–1 (dimensionless); ``nan`` for no notes.
    """
    pcs = _pitches(notes) % 12
    if pcs.size == 0:
        return float("nan")
    counts = np.bincount(pcs, minlength=12)
    best = 0
    for mode in (SCALES["major"], SCALES["minor"]):
        for tonic in range(12):
            best = max(best, int(counts[[(tonic + s) % 12 for s in mode]].sum()))
    return best / pcs.size


def pitch_in_key_rate(notes: Iterable[Note] | Iterable[int] | Track, key: Key) -> float:
    """Share of notes whose pitch class is in ``key``'s scale.

    Parameters
    ----------
    notes : iterable of Note, iterable of int, or Track
        Notes (or MIDI pitches) to judge.
    key : Key
        Any mode of :data:`tunesmith.score.theory.SCALES`.

    Returns
    -------
    float
        Fraction in 0–1 (dimensionless); ``nan`` for no notes.
    """
    pcs = _pitches(notes) % 12
    if pcs.size == 0:
        return float("nan")
    return float(np.isin(pcs, np.array(key.scale)).mean())


def pitch_class_entropy(notes: Iterable[Note] | Iterable[int] | Track) -> float:
    """Shannon entropy of the pitch-class histogram (MusPy).

    Each note counts once, whatever its duration. 0 for a single pitch class, at most
    ``log2(12) ≈ 3.585`` when all twelve are used equally.

    Parameters
    ----------
    notes : iterable of Note, iterable of int, or Track
        Notes (or MIDI pitches).

    Returns
    -------
    float
        Entropy, bits; ``nan`` for no notes.
    """
    pcs = _pitches(notes) % 12
    if pcs.size == 0:
        return float("nan")
    p = np.bincount(pcs, minlength=12) / pcs.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def pitch_classes_per_bar(track: Track, score: Score) -> float:
    """Mean number of distinct pitch classes sounding per non-empty bar (MuseGAN's UPC).

    A note counts in every bar in which it sounds (its onset bar and any bar it is held
    into), as on MuseGAN's piano roll. Bars in which the track is silent are left out.

    Parameters
    ----------
    track : Track
        A pitched part (drum tracks give GM key numbers, which are counted as pitches).
    score : Score
        Gives the bar lines.

    Returns
    -------
    float
        Pitch classes per bar (count); ``nan`` for an empty track.
    """
    if not track.notes:
        return float("nan")
    starts = _bar_starts(score, track.end)
    bars, idx = _sounding_bars(track.notes, starts)
    pcs = _pitches(track.notes)[idx] % 12
    used = np.zeros((len(starts), 12), dtype=bool)
    used[bars, pcs] = True
    per_bar = used.sum(axis=1)
    return float(per_bar[per_bar > 0].mean())


# ---------------------------------------------------------------------------- rhythm
def qualified_note_rate(track: Track | Iterable[Note], min_steps: int = 3, steps_per_beat: int = 12) -> float:
    """Share of notes lasting at least ``min_steps`` grid steps (MuseGAN's QN).

    MuseGAN counts, on a piano roll of 48 steps per 4/4 bar (12 per beat), the notes no
    shorter than 3 steps (a 32nd note, 0.25 beat). Onset and offset are rounded to the grid
    first, as a piano roll would, so the length is measured in whole steps.

    Parameters
    ----------
    track : Track or iterable of Note
        Notes to judge.
    min_steps : int
        Shortest qualified length, grid steps.
    steps_per_beat : int
        Grid resolution, steps per beat (quarter note).

    Returns
    -------
    float
        Fraction in 0–1 (dimensionless); ``nan`` for no notes.
    """
    notes = track.notes if isinstance(track, Track) else tuple(track)
    if not notes:
        return float("nan")
    on = np.round(np.array([n.start for n in notes]) * steps_per_beat)
    off = np.round(np.array([n.end for n in notes]) * steps_per_beat)
    return float(((off - on) >= min_steps).mean())


def drum_in_pattern_rate(track: Track, score: Score, meter: str = "duple") -> float:
    """Share of drum onsets on the metre's grid (MusPy; MuseGAN's DP for ``duple``).

    ``duple``: on the 16th-note grid (a multiple of 0.25 beat from the bar line);
    ``triple``: on the eighth-note-triplet grid (a multiple of 1/3 beat). An onset counts
    when it is within :data:`ONSET_TOLERANCE` beats of the grid. Swung 16ths or eighths
    fall off the duple grid but (for triplet swing) onto the triple one, which is why
    :func:`drum_pattern_consistency` takes the better of the two.

    Parameters
    ----------
    track : Track
        The drum part (any track is accepted).
    score : Score
        Gives the bar lines.
    meter : {"duple", "triple"}
        Which grid.

    Returns
    -------
    float
        Fraction in 0–1 (dimensionless); ``nan`` for no notes.

    Raises
    ------
    ValueError
        For another ``meter``.
    """
    grids = {"duple": 0.25, "triple": 1.0 / 3.0}
    if meter not in grids:
        raise ValueError(f"meter must be 'duple' or 'triple', got {meter!r}")
    if not track.notes:
        return float("nan")
    on = np.array([n.start for n in track.notes], dtype=float)
    starts = _bar_starts(score, float(on.max()) + ONSET_TOLERANCE)
    pos = on - starts[_bar_of(starts, on, ONSET_TOLERANCE)]
    return float(_on_grid(pos, grids[meter]).mean())


def drum_pattern_consistency(track: Track, score: Score) -> float:
    """The better of the duple and triple :func:`drum_in_pattern_rate` (MusPy).

    Returns
    -------
    float
        Fraction in 0–1 (dimensionless); ``nan`` for no notes.
    """
    if not track.notes:
        return float("nan")
    return max(drum_in_pattern_rate(track, score, "duple"), drum_in_pattern_rate(track, score, "triple"))


def groove_consistency(track: Track, score: Score, resolution: int = 12) -> float:
    """1 − mean Hamming distance between the onset patterns of neighbouring bars (MusPy).

    Each bar becomes a binary vector of ``bar_beats × resolution`` steps, set where a note
    starts (onsets rounded to the nearest step). The distance between two neighbouring bars
    is the number of differing steps divided by the vector length; the mean is taken over
    every pair of neighbouring bars from the first bar holding an onset to the last (MusPy
    starts at bar 0; leading silence would otherwise count as perfectly steady). Bars of
    different lengths (metre changes) are compared after padding the shorter one with
    zeros.

    Parameters
    ----------
    track : Track
        Any part.
    score : Score
        Gives the bar lines.
    resolution : int
        Grid steps per beat (12: 48 per 4/4 bar, as MuseGAN and MusPy).

    Returns
    -------
    float
        Consistency in 0–1 (dimensionless, 1 = every bar has the same onsets); ``nan`` when
        the onsets lie in fewer than two bars.
    """
    if not track.notes:
        return float("nan")
    on = np.array([n.start for n in track.notes], dtype=float)
    starts = _bar_starts(score, float(on.max()) + 1.0 / resolution)
    bar = _bar_of(starts, on, 0.5 / resolution)
    lengths = np.round(np.diff(starts) * resolution).astype(np.int64)
    step = np.round((on - starts[bar]) * resolution).astype(np.int64)
    wrap = step >= lengths[bar]
    bar, step = bar + wrap, np.where(wrap, 0, step)
    step = np.maximum(step, 0)
    first, last = int(bar.min()), int(bar.max())
    if last == first:
        return float("nan")
    width = int(lengths[first : last + 1].max())
    pattern = np.zeros((last - first + 1, width), dtype=bool)
    pattern[bar - first, step] = True
    norm = np.maximum(lengths[first:last], lengths[first + 1 : last + 1])
    distance = (pattern[:-1] != pattern[1:]).sum(axis=1) / norm
    return float(1.0 - distance.mean())


# ---------------------------------------------------------------------------- range and silence
def out_of_range_notes(track: Track) -> int:
    """Number of notes outside the practical range of the track's instrument.

    Parameters
    ----------
    track : Track
        Uses ``program`` and ``is_drum`` with
        :func:`tunesmith.score.theory.instrument_range` (drums: GM keys 35–81).

    Returns
    -------
    int
        Count of notes (0 when every note is playable).
    """
    lo, hi = instrument_range(track.program, track.is_drum)
    p = _pitches(track.notes)
    return int(((p < lo) | (p > hi)).sum())


def empty_bars(track: Track, score: Score, bars: Iterable[int]) -> list[int]:
    """The bars among ``bars`` in which no note of the track sounds.

    A note sounds in a bar when it starts there or is held into it (a note ending exactly
    on the bar line does not).

    Parameters
    ----------
    track : Track
        Any part.
    score : Score
        Gives the bar lines.
    bars : iterable of int
        0-based bar indices to look at.

    Returns
    -------
    list of int
        The silent ones, in the order given.
    """
    wanted = [int(b) for b in bars]
    if not wanted:
        return []
    until = max(track.end, score.bar_start(max(wanted) + 1))
    starts = _bar_starts(score, until)
    sounding, _ = _sounding_bars(track.notes, starts)
    heard = set(sounding.tolist())
    return [b for b in wanted if b not in heard]


def empty_bar_rate(track: Track, score: Score, bars: Iterable[int] | None = None) -> float:
    """Share of bars in which the track is silent.

    Parameters
    ----------
    track : Track
        Any part.
    score : Score
        Gives the bar lines.
    bars : iterable of int, optional
        0-based bar indices to look at; every bar up to the score's end when absent.

    Returns
    -------
    float
        Fraction in 0–1 (dimensionless); ``nan`` when there are no bars.
    """
    if bars is None:
        end = score.end
        n = score.bar_at(end - _SOUND_TOLERANCE) + 1 if end > 0 else 0
        bars = range(n)
    wanted = list(bars)
    if not wanted:
        return float("nan")
    return len(empty_bars(track, score, wanted)) / len(wanted)
