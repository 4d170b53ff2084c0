"""The singer's key and comfortable range, from the sung notes.

The key is Krumhansl–Schmuckler on the duration-weighted pitch classes of the notes
(after the singer's tuning offset is taken out), the same key finder the rest of tunesmith
uses. The range is what the voice actually did: the lowest and highest notes held for a
reasonable time, and the *comfortable* range (tessitura), the middle 80 % of the singing
time — a part sung there suits this voice; the extremes were reached, not lived in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tunesmith.score.theory import Key, detect_key, midi_note_name


@dataclass(frozen=True)
class VoiceRange:
    """Where a voice sang.

    Attributes
    ----------
    lowest, highest : int
        Lowest and highest MIDI notes held at least 150 ms.
    comfortable_low, comfortable_high : int
        10th and 90th percentiles of the singing time (MIDI).
    centre : int
        Median of the singing time (MIDI).
    """

    lowest: int
    highest: int
    comfortable_low: int
    comfortable_high: int
    centre: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, with note names."""
        return {
            "lowest": midi_note_name(self.lowest),
            "highest": midi_note_name(self.highest),
            "comfortable": f"{midi_note_name(self.comfortable_low)}–{midi_note_name(self.comfortable_high)}",
            "centre": midi_note_name(self.centre),
            "midi": [self.lowest, self.highest, self.comfortable_low, self.comfortable_high, self.centre],
        }


def _weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][min(len(values) - 1, int(np.searchsorted(cum, q * cum[-1])))])


def voice_range(pitches: Sequence[int], durations_s: Sequence[float]) -> VoiceRange:
    """The range of a sung line (MIDI notes and their lengths in seconds)."""
    p = np.asarray(pitches, dtype=np.float64)
    d = np.asarray(durations_s, dtype=np.float64)
    held = d >= 0.15
    span = p[held] if held.any() else p
    return VoiceRange(
        lowest=int(span.min()),
        highest=int(span.max()),
        comfortable_low=round(_weighted_percentile(p, d, 0.1)),
        comfortable_high=round(_weighted_percentile(p, d, 0.9)),
        centre=round(_weighted_percentile(p, d, 0.5)),
    )


def sung_key(pitches: Sequence[int], durations_s: Sequence[float]) -> tuple[Key, float]:
    """Key of a sung line (Krumhansl–Schmuckler, duration-weighted) and its correlation (−1…1)."""
    weights = np.zeros(12)
    for pitch, dur in zip(pitches, durations_s, strict=True):
        weights[int(pitch) % 12] += dur
    if not weights.any():
        return Key(0, "major"), 0.0
    return detect_key(weights)
