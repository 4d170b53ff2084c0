"""Tempo, metre and beat grid from sung note onsets; quantisation onto that grid.

A singer without a click keeps a steady-ish pulse, and the notes that start on beats are
usually the longer ones. So:

1. **Tempo**: every candidate beat period from 50 to 190 BPM is scored by how well the
   onsets line up with *some* phase of it (the resultant length of the onsets' phases, each
   onset weighted by its note's length), at the beat and, with half the weight, at the
   eighth note; a broad log-normal preference around 100 BPM settles the octave choice a
   pulse alone leaves open (80 and 160 BPM fit the same onsets).
2. **Phase and drift**: each onset is assigned to its nearest eighth note and a straight
   line through (grid position, time) gives the beat period and beat 0 by least squares,
   so a singer a little off the first estimate does not slide off the grid after a minute.
3. **Metre**: 3/4 against 4/4 by where the long notes fall: the metre whose best downbeat
   position collects clearly more of the weight wins; 4/4 when in doubt.
4. **Beat 0** is the downbeat at or just before the first note (a pickup stays a pickup).

Quantisation snaps onsets and offsets to a sixteenth-note grid and cleans the line
(monophonic, no note shorter than the grid); ``expressive=True`` keeps each onset where it
was sung (in beats of the fitted grid) and only tidies lengths and overlaps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tunesmith.score.types import Note

TEMPO_RANGE_BPM = (50.0, 190.0)
PRIOR_CENTRE_BPM = 100.0
PRIOR_OCTAVES = 0.75  # sd of the log2-tempo preference
SEARCH_S = 40.0  # the tempo is searched in this much of the take, then followed through the rest


@dataclass(frozen=True)
class BeatGrid:
    """A constant-tempo grid laid over the recording.

    Attributes
    ----------
    tempo_bpm : float
        Quarter notes per minute.
    beat0_s : float
        Time of beat 0 (a downbeat) in the recording, seconds; may be before the first note.
    numerator, denominator : int
        Metre.
    confidence : float
        0–1: how tightly the onsets sit on the grid (1: every onset on an eighth note).
    """

    tempo_bpm: float
    beat0_s: float
    numerator: int = 4
    denominator: int = 4
    confidence: float = 0.0

    @property
    def beat_s(self) -> float:
        """Seconds per beat."""
        return 60.0 / self.tempo_bpm

    def beat(self, seconds: float) -> float:
        """Beat position of a time in the recording."""
        return (seconds - self.beat0_s) / self.beat_s

    def seconds(self, beat: float) -> float:
        """Time in the recording of a beat position."""
        return self.beat0_s + beat * self.beat_s


def _fit(onsets: np.ndarray, weights: np.ndarray, period: np.ndarray) -> np.ndarray:
    """Weighted resultant length of the onsets' phases for each candidate period (0–1)."""
    phase = 2j * math.pi * onsets[None, :] / period[:, None]
    beat = np.abs(np.exp(phase) @ weights) / weights.sum()
    eighth = np.abs(np.exp(2 * phase) @ weights) / weights.sum()
    return beat + 0.5 * eighth


def estimate_grid(
    onsets_s: Sequence[float],
    durations_s: Sequence[float],
    tempo_bpm: float | None = None,
    numerator: int | None = None,
) -> BeatGrid:
    """Fit a beat grid to note onsets (see the module docstring).

    Parameters
    ----------
    onsets_s, durations_s : sequence of float
        Note onsets and lengths, seconds.
    tempo_bpm : float, optional
        The tempo, when the singer knows it; then only phase and metre are fitted.
    numerator : int, optional
        Beats per bar (3 or 4…), when known.
    """
    onsets = np.asarray(onsets_s, dtype=np.float64)
    if len(onsets) == 0:
        return BeatGrid(tempo_bpm or PRIOR_CENTRE_BPM, 0.0, numerator or 4)
    weights = np.minimum(np.asarray(durations_s, dtype=np.float64), 1.0) + 0.1
    # The pulse is searched in the first SEARCH_S seconds of notes (a singer's tempo drifts, and the
    # search costs grow with the notes), then followed by least squares over windows that double
    # until they hold every note, so a ten-minute take stays on its grid.
    head = onsets < onsets[0] + SEARCH_S
    if tempo_bpm is None and len(onsets) >= 3:
        bpm = np.arange(TEMPO_RANGE_BPM[0], TEMPO_RANGE_BPM[1], 0.25)
        score = _fit(onsets[head], weights[head], 60.0 / bpm)
        score *= np.exp(-0.5 * (np.log2(bpm / PRIOR_CENTRE_BPM) / PRIOR_OCTAVES) ** 2)
        period = 60.0 / float(bpm[int(np.argmax(score))])
    else:
        period = 60.0 / (tempo_bpm or PRIOR_CENTRE_BPM)
    span = SEARCH_S
    while True:
        window = onsets < onsets[0] + span
        period, origin = _refine(onsets[window], weights[window], period, fixed=tempo_bpm is not None)
        if window.all():
            break
        span *= 2
    positions = (onsets - origin) / period  # in beats
    half = np.round(positions * 2) / 2
    confidence = float(1.0 - np.average(np.abs(positions - half), weights=weights) / 0.25)
    num = numerator or _metre(positions, weights)
    first = float(positions.min())
    down = _downbeat_offset(positions, weights, num)
    # The downbeat at or before the first note.
    k = math.floor((first - down) / num + 1e-6)
    beat0_beats = down + k * num
    return BeatGrid(
        tempo_bpm=round(60.0 / period, 3),
        beat0_s=origin + beat0_beats * period,
        numerator=num,
        denominator=4,
        confidence=max(0.0, min(1.0, confidence)),
    )


def _refine(onsets: np.ndarray, weights: np.ndarray, period: float, fixed: bool) -> tuple[float, float]:
    """Least-squares beat period and origin from the onsets' nearest eighth notes (two rounds)."""
    phase = np.angle(np.sum(weights * np.exp(2j * math.pi * onsets / period)))
    origin = phase / (2 * math.pi) * period
    for _ in range(2):
        pos = np.round((onsets - origin) / period * 2) / 2
        if fixed or len(np.unique(pos)) < 2:
            origin = float(np.average(onsets - pos * period, weights=weights))
            continue
        w = weights
        a = np.vstack([pos, np.ones_like(pos)]).T
        sol, *_ = np.linalg.lstsq(a * w[:, None], onsets * w, rcond=None)
        new_period, new_origin = float(sol[0]), float(sol[1])
        if not 60.0 / TEMPO_RANGE_BPM[1] * 0.9 < new_period < 60.0 / TEMPO_RANGE_BPM[0] * 1.1:
            break
        period, origin = new_period, new_origin
    return period, origin


def _beat_weights(positions: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weight of notes starting on each whole beat (within a sixteenth), by beat index."""
    beats = np.round(positions)
    on_beat = np.abs(positions - beats) < 0.25
    return beats[on_beat].astype(np.int64), weights[on_beat]


def _downbeat_offset(positions: np.ndarray, weights: np.ndarray, numerator: int) -> int:
    """Which beat (mod ``numerator``) collects the most note weight: the downbeat."""
    beats, w = _beat_weights(positions, weights)
    if len(beats) == 0:
        return 0
    totals = np.bincount(beats % numerator, weights=w, minlength=numerator)
    return int(np.argmax(totals))


def _metre(positions: np.ndarray, weights: np.ndarray) -> int:
    """3 or 4 beats per bar: 3/4 only when its downbeat stands out clearly more than 4/4's."""
    beats, w = _beat_weights(positions, weights)
    if len(beats) < 8:
        return 4
    contrast = {}
    for n in (3, 4):
        totals = np.bincount(beats % n, weights=w, minlength=n)
        contrast[n] = float(totals.max() / max(1e-9, totals.mean()))
    return 3 if contrast[3] > 1.15 * contrast[4] else 4


def quantize(
    notes: Sequence[tuple[float, float, int]],
    grid: BeatGrid,
    step: float = 0.25,
    expressive: bool = False,
) -> list[Note]:
    """Put sung notes on the beat grid as :class:`~tunesmith.score.types.Note` (beats, velocity 90).

    Parameters
    ----------
    notes : sequence of (onset s, offset s, MIDI note)
        Sung notes in time order.
    grid : BeatGrid
        From :func:`estimate_grid`.
    step : float
        Grid, beats (0.25: sixteenths).
    expressive : bool
        Keep onsets where they were sung instead of snapping them.

    Returns
    -------
    list of Note
        Monophonic (a later onset cuts the note before), each at least ``step`` long
        (``step / 2`` for expressive timing), none before beat 0.
    """
    out: list[Note] = []
    for onset, offset, pitch in notes:
        b0, b1 = grid.beat(onset), grid.beat(offset)
        if expressive:
            start, end = round(b0, 4), round(max(b1, b0 + step / 2), 4)
        else:
            start = round(b0 / step) * step
            end = max(round(b1 / step) * step, start + step)
        start = max(0.0, start)
        if out and start <= out[-1].start + 1e-9:
            # Two sung notes on one grid point: the second moves to the next step, unless the
            # first is the longer one and the second is only a passing blip.
            prev = out[-1]
            if end - start <= prev.duration:
                continue
            start = prev.start + step
            if end <= start:
                continue
        if out and out[-1].end > start:
            prev = out[-1]
            out[-1] = Note(prev.start, max(start - prev.start, 1e-3), prev.pitch, prev.velocity)
        out.append(Note(float(start), float(end - start), int(pitch), 90))
    return out
