"""Measures of how well the band's chords fit the performer (used by the tests and the benchmark)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tunesmith.accompany.chords import tones_of
from tunesmith.score.theory import Chord


@dataclass(frozen=True)
class ChordFit:
    """Performer notes against a chord timeline.

    Attributes
    ----------
    inside : int
        Notes whose pitch class is a tone of the chord sounding at their onset.
    counted : int
        Notes with a chord sounding at their onset.
    uncovered : int
        Notes with no chord sounding (the band was silent).
    """

    inside: int
    counted: int
    uncovered: int

    @property
    def ratio(self) -> float:
        """Note-in-chord ratio, 0–1 (nan when nothing was counted)."""
        return self.inside / self.counted if self.counted else float("nan")


def note_in_chord(
    notes: Iterable[tuple[float, int]], changes: Sequence[tuple[float, Chord | None]], grace: float = 0.0
) -> ChordFit:
    """How many notes are tones of the chord sounding at their onset.

    Parameters
    ----------
    notes : iterable of (time, pitch)
        Onsets (any time unit: seconds or beats) and MIDI pitches.
    changes : sequence of (time, chord or None)
        The chord timeline as changes, sorted by time (None = no chord from there).
    grace : float
        A note that starts while no chord sounds is measured against a chord that starts
        within ``grace`` after it (the band coming in on the performer's first note).
    """
    times = [t for t, _ in changes]
    inside = counted = uncovered = 0
    for t, pitch in notes:
        i = bisect.bisect_right(times, t + 1e-9) - 1
        chord = changes[i][1] if i >= 0 else None
        if chord is None and i + 1 < len(changes) and changes[i + 1][0] - t <= grace:
            chord = changes[i + 1][1]
        if chord is None:
            uncovered += 1
            continue
        counted += 1
        inside += (pitch % 12) in tones_of(chord)
    return ChordFit(inside, counted, uncovered)
