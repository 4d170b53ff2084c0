"""What the performer has played so far: notes, pedal, and the evidence the band listens to.

MIDI input is messy: notes overlap, a key is struck again before it is released,
note-offs arrive for keys that were never pressed, the sustain pedal keeps released
keys sounding, and a controller can send a thousand events a second. This module turns
that into clean facts in musical time (beats of the band's clock):

* :class:`HeardNote` — one note, its start and (once known) its end;
* a per-16th-note grid of pitch-class weights (duration × metric weight), so the chord
  chooser can ask "which pitch classes sounded between beat a and beat b" in
  constant time whatever the input rate;
* a fingerprint per bar — the set of (position, pitch) onsets, positions snapped to eighths — with which a
  repeated passage (a second verse, a chorus) can be recognised.

Everything here is causal: it only knows what has been played up to the last event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Grid resolution of the evidence bins, beats (a 16th note).
STEP = 0.25
#: Grid the onsets of a bar's fingerprint are placed on, beats (an eighth note).
FINGERPRINT_GRID = 0.5
#: Bars of history kept in the evidence bins (older evidence is forgotten): a whole song.
HISTORY_BARS = 256
#: Notes kept in the recent-notes list.
MAX_NOTES = 512
#: Evidence one 16th can hold: onsets, and duration x metric weight (four notes on a downbeat).
MAX_ONSETS_PER_STEP = 3.0
MAX_WEIGHT_PER_STEP = 4 * STEP * 2.0
#: Longest stretch of one note counted as evidence, beats (a drone must not swamp everything).
MAX_SPAN = 8.0


@dataclass
class HeardNote:
    """A note the performer played.

    Attributes
    ----------
    pitch : int
        MIDI note number.
    velocity : int
        MIDI velocity 1–127.
    start : float
        Onset, beats of the band's clock.
    end : float or None
        Release (including the sustain pedal's hold), beats; None while it sounds.
    time_s : float
        Onset in seconds on the performer's clock.
    """

    pitch: int
    velocity: int
    start: float
    end: float | None = None
    time_s: float = 0.0


def metric_weight(beat: float, bar_beats: float) -> float:
    """How much a note starting at ``beat`` says about the harmony: downbeat 2, mid-bar 1.5, beats 1.2, else 1."""
    pos = beat % bar_beats
    if pos < 0.06 or bar_beats - pos < 0.06:
        return 2.0
    if abs(pos - bar_beats / 2) < 0.06:
        return 1.5
    if abs(pos - round(pos)) < 0.06:
        return 1.2
    return 1.0


class Performer:
    """The performer's notes and pedal, as evidence in beats.

    Parameters
    ----------
    bar_beats : float
        Length of the band's bar in beats (for metric weights and fingerprints).
    """

    def __init__(self, bar_beats: float = 4.0) -> None:
        self.bar_beats = bar_beats
        self.steps_per_bar = round(bar_beats / STEP)
        self._bins = np.zeros((HISTORY_BARS * self.steps_per_bar, 12))  # duration x metric weight
        self._counts = np.zeros((HISTORY_BARS * self.steps_per_bar, 12))  # onsets
        self._bins_from = 0  # first step index the ring buffer holds
        self.notes: list[HeardNote] = []  # recent notes, in onset order
        self.held: dict[tuple[int, int], HeardNote] = {}  # keys down: (channel, pitch) -> note
        self.pedalled: dict[tuple[int, int], HeardNote] = {}  # released keys held by the pedal
        self.pedal: dict[int, bool] = {}
        self.fingerprints: dict[int, int] = {}  # bar -> bit set of (16th slot, pitch) onsets, on eighths
        self.last_onset_beat: float | None = None
        self.last_activity_beat: float | None = None
        self.onsets = 0

    # ------------------------------------------------------------------ input
    def note_on(self, channel: int, pitch: int, velocity: int, beat: float, time_s: float) -> HeardNote:
        """A key went down. A key struck again while sounding ends its previous note first."""
        key = (channel, pitch)
        for table in (self.held, self.pedalled):
            old = table.pop(key, None)
            if old is not None:
                self._end(old, beat)
        note = HeardNote(pitch, velocity, beat, None, time_s)
        self.held[key] = note
        self.notes.append(note)
        if len(self.notes) > MAX_NOTES:
            del self.notes[: len(self.notes) - MAX_NOTES]
        step = int(beat / STEP + 1e-9)
        if step >= self._bins_from:
            self._advance_bins(step)
            row = self._counts[step % len(self._counts)]
            row[pitch % 12] += 1.0
            total = row.sum()
            if total > MAX_ONSETS_PER_STEP:  # a flood counts no more than a busy player
                row *= MAX_ONSETS_PER_STEP / total
        bar = math.floor(beat / self.bar_beats + 1e-9)
        # Onsets are placed on the nearest eighth for fingerprints: a performer a little early or
        # late (or a clock still finding the tempo) still matches the same passage played before.
        snap = round(FINGERPRINT_GRID / STEP)
        pos = min(snap * int((beat - bar * self.bar_beats) / FINGERPRINT_GRID + 0.5), self.steps_per_bar - 1)
        self.fingerprints[bar] = self.fingerprints.get(bar, 0) | (1 << (pos * 128 + pitch))
        self.last_onset_beat = self.last_activity_beat = beat
        self.onsets += 1
        return note

    def note_off(self, channel: int, pitch: int, beat: float) -> HeardNote | None:
        """A key came up; it keeps sounding while the channel's sustain pedal is down. Unknown keys are ignored."""
        note = self.held.pop((channel, pitch), None)
        if note is None:
            return None
        self.last_activity_beat = beat
        if self.pedal.get(channel, False):
            self.pedalled[(channel, pitch)] = note
            return None
        self._end(note, beat)
        return note

    def set_pedal(self, channel: int, down: bool, beat: float) -> list[HeardNote]:
        """Sustain pedal (CC 64) pressed or lifted; lifting ends the notes it held (returned)."""
        self.pedal[channel] = down
        if down:
            return []
        ended = [self.pedalled.pop(k) for k in [k for k in self.pedalled if k[0] == channel]]
        for note in ended:
            self._end(note, beat)
        return ended

    def release_all(self, beat: float) -> list[HeardNote]:
        """End every sounding note (the performer sent all-notes-off, or the input went away)."""
        ended = list(self.held.values()) + list(self.pedalled.values())
        self.held.clear()
        self.pedalled.clear()
        for note in ended:
            self._end(note, beat)
        return ended

    @property
    def sounding(self) -> list[HeardNote]:
        """Notes sounding now (keys down or held by the pedal)."""
        return list(self.held.values()) + list(self.pedalled.values())

    # ------------------------------------------------------------------ evidence
    def _end(self, note: HeardNote, beat: float) -> None:
        note.end = max(beat, note.start)
        self._deposit(note.pitch, note.start, note.end, metric_weight(note.start, self.bar_beats))

    def _deposit(self, pitch: int, start: float, end: float, weight: float) -> None:
        """Spread a finished note's weight over the 16th-note bins it covers."""
        end = min(end, start + MAX_SPAN)
        first, last = int(start / STEP), int(max(end - 1e-9, start) / STEP)
        self._advance_bins(last)
        first = max(first, self._bins_from)
        pc = pitch % 12
        size = len(self._bins)
        for k in range(first, last + 1):
            overlap = min(end, (k + 1) * STEP) - max(start, k * STEP)
            if overlap > 0:
                row = self._bins[k % size]
                row[pc] += overlap * weight
                total = row.sum()
                if total > MAX_WEIGHT_PER_STEP:
                    row *= MAX_WEIGHT_PER_STEP / total

    def _advance_bins(self, step: int) -> None:
        """Make room in the ring buffer up to ``step``, clearing what falls out of the history."""
        size = len(self._bins)
        while step >= self._bins_from + size:
            self._bins[self._bins_from % size] = 0.0
            self._counts[self._bins_from % size] = 0.0
            self._bins_from += 1

    def _sum(self, table: np.ndarray, start: float, end: float) -> np.ndarray:
        """Sum of a bin table's rows for the 16ths from ``start`` to ``end`` beats (12 values)."""
        size = len(table)
        first = max(int(start / STEP + 1e-9), self._bins_from)
        last = min(int(end / STEP - 1e-9), self._bins_from + size - 1)
        if last < first:
            return np.zeros(12)
        a, b = first % size, last % size
        return table[a : b + 1].sum(axis=0) if a <= b else table[a:].sum(axis=0) + table[: b + 1].sum(axis=0)

    def counts(self, start: float, end: float) -> np.ndarray:
        """Pitch-class counts (12, C first) of the notes that started between ``start`` and ``end`` beats."""
        if end <= start:
            return np.zeros(12)
        return self._sum(self._counts, start, end)

    def weights(self, start: float, end: float) -> np.ndarray:
        """Pitch-class weights (12, C first) of what sounded between ``start`` and ``end`` beats.

        Finished notes are counted by the 16th-note bins they cover (bins partly inside
        the range count whole); sounding notes up to ``end``. Units: beats × metric weight.
        """
        if end <= start:
            return np.zeros(12)
        out = self._sum(self._bins, start, end)
        for note in self.sounding:
            overlap = min(end, note.start + MAX_SPAN) - max(start, note.start)
            if overlap > 0:
                out[note.pitch % 12] += overlap * metric_weight(note.start, self.bar_beats)
        return out

    def prune(self, before_beat: float) -> None:
        """Forget fingerprints older than ``before_beat`` (memory stays bounded in long sessions)."""
        oldest = math.floor(before_beat / self.bar_beats) - HISTORY_BARS
        for bar in [b for b in self.fingerprints if b < oldest]:
            del self.fingerprints[bar]
