"""The band's clock: beats <-> seconds, fixed or following the performer's onsets.

The clock maps musical time (beats) to the performer's time (seconds). At a fixed tempo
the map is a straight line from the moment the band starts. When following
(``--follow``), two corrections run on every onset the performer plays:

* **period** — a comb over the recent inter-onset intervals: each candidate beat period
  scores how many intervals are close to a whole (or half) number of its beats, recent
  intervals counting more; candidates are kept within about ±40 % of the current
  tempo, so the tracker does not jump to double or half time, and the clock moves part
  of the way to the winner (Dixon's inter-onset-interval clustering, simplified).
* **phase** — each onset's place in the music is counted (from the first onset while the
  tempo is being found, then from the previous onset), so the beat keeps its identity
  even when the starting tempo was far off; the clock's distance from that
  place is corrected over the following beat by bending its slope, never by a jump (a
  phase-locked loop, after Large & Kolen's adaptive oscillator).

The map is continuous and only its future changes, so events the band already
scheduled stay valid and nothing the band plays is pulled into the past.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

#: Onsets closer than this (seconds) are one event: a chord or a flam.
MERGE_S = 0.04
#: Onsets kept for the period estimate: this many, within this many seconds.
MAX_ONSETS = 24
WINDOW_S = 8.0
#: Recency time constant of the interval weights, seconds.
RECENCY_S = 3.0
#: Candidate periods span this ratio around the current one.
SEARCH_RATIO = 1.45
#: Share of the phase error corrected over the next beat, and how far the period moves to the estimate.
PHASE_GAIN = 0.35
PERIOD_GAIN = 0.35
#: Share of the phase error (in beats) applied to the period as well.
TEMPO_GAIN = 0.15
#: More onsets than this within FLOOD_WINDOW_S seconds is a flood, not playing (16 notes a second).
FLOOD_ONSETS = 8
FLOOD_WINDOW_S = 0.5
#: A counted place further than this from the clock (beats) is a miscount, after the first onsets.
RESYNC_BEATS = 0.4
ACQUIRE_ONSETS = 12
_CANDIDATES = np.exp(np.linspace(-math.log(SEARCH_RATIO), math.log(SEARCH_RATIO), 149))


class TempoTracker:
    """Beats <-> seconds for the band, optionally following the performer.

    Parameters
    ----------
    bpm : float
        Starting tempo, quarter notes per minute.
    follow : bool
        Adapt tempo and phase to the performer's onsets (else the tempo stays fixed).
    """

    def __init__(self, bpm: float, follow: bool = False) -> None:
        self.follow = follow
        self.period = 60.0 / bpm  # seconds per beat, the tempo the clock settles at
        self._anchor_time = 0.0
        self._anchor_beat = 0.0
        self._bent_period = self.period  # slope over the beat after the anchor (phase correction)
        self._onsets: deque[float] = deque(maxlen=MAX_ONSETS)
        self._counted: tuple[float, float] | None = None  # (seconds, beat) of the last onset, as counted
        self._recent: deque[float] = deque()  # onset times in the last FLOOD_WINDOW_S
        self._states: deque[tuple[float, tuple[float, float, float, float]]] = deque(maxlen=32)  # after each onset
        self._counts = 0  # onsets counted since the clock started
        self._origin: tuple[float, float] | None = None  # (seconds, beat) of the first onset counted
        self.started = False

    # ------------------------------------------------------------------ map
    @property
    def bpm(self) -> float:
        """Current tempo, BPM."""
        return 60.0 / self.period

    def start(self, time_s: float, beat: float = 0.0) -> None:
        """Put ``beat`` at ``time_s`` (the band's downbeat or a re-entry after a pause)."""
        self._anchor_time, self._anchor_beat = time_s, beat
        self._bent_period = self.period
        self._onsets.clear()
        self._counted = None
        self._counts = 0
        self._origin = None
        self.started = True

    def time_of(self, beat: float) -> float:
        """Seconds of a beat position."""
        db = beat - self._anchor_beat
        if db <= 1.0:
            return self._anchor_time + db * self._bent_period
        return self._anchor_time + self._bent_period + (db - 1.0) * self.period

    def beat_at(self, time_s: float) -> float:
        """Beat position of a time in seconds (the inverse of :meth:`time_of`)."""
        dt = time_s - self._anchor_time
        if dt <= self._bent_period:
            return self._anchor_beat + dt / self._bent_period
        return self._anchor_beat + 1.0 + (dt - self._bent_period) / self.period

    # ------------------------------------------------------------------ following
    def onset(self, time_s: float) -> None:
        """Take a performer onset into account (follow mode only)."""
        if not (self.follow and self.started):
            return
        if self._onsets and time_s - self._onsets[-1] < MERGE_S:
            return
        # A flood (more notes than anyone plays) says nothing about the beat: sit it out, and count
        # afresh from the clock when normal playing resumes.
        self._recent.append(time_s)
        while time_s - self._recent[0] > FLOOD_WINDOW_S:
            self._recent.popleft()
        if len(self._recent) > FLOOD_ONSETS:
            if self._counted is not None:  # the flood just began: undo what its first onsets did
                before = [state for t, state in self._states if t < self._recent[0]]
                if before:
                    self._anchor_time, self._anchor_beat, self.period, self._bent_period = before[-1]
                self._onsets.clear()
            self._counted = self._origin = None
            self._counts = ACQUIRE_ONSETS  # resume counting from the clock, not from a new origin
            return
        while self._onsets and time_s - self._onsets[0] > WINDOW_S:
            self._onsets.popleft()
        self._onsets.append(time_s)
        beat = self.beat_at(time_s)
        estimate = self._estimate_period(time_s)
        if estimate is not None:
            self.period += PERIOD_GAIN * (estimate - self.period)
        # Where the onset sits in the music. While the tempo is being found, the time since the first
        # onset counted in beats of the latest period, rounded to a half beat (recounted every time,
        # so early miscounts do not accumulate); then the previous onset's place plus the interval,
        # rounded to a half beat (a quarter beat for short intervals), which follows tempo changes.
        if self._counted is None or self._origin is None:
            counted = round(beat * 2.0) / 2.0
            self._origin = (time_s, counted)
        elif self._counts < ACQUIRE_ONSETS:
            origin_time, origin_place = self._origin
            counted = origin_place + round(2.0 * (time_s - origin_time) / self.period) / 2.0
        else:
            last_time, last_place = self._counted
            span = (time_s - last_time) / self.period
            grid = 0.5 if span >= 0.75 else 0.25
            counted = last_place + round(span / grid) * grid
            if abs(beat - counted) > RESYNC_BEATS:  # the count went astray (an ornament, a stumble)
                counted = round(beat * 2.0) / 2.0
        self._counted = (time_s, counted)
        self._counts += 1
        error = max(-0.25, min(0.25, beat - counted))
        pull = 1.0 if counted == math.floor(counted) else 0.5  # beats pull harder than offbeats
        # Re-anchor at the onset: over the next beat the clock runs slower (the performer was late)
        # or faster, so the grid slides towards the performer without a jump.
        # A phase error that keeps coming back means the tempo moved: the period follows it too
        # (the second-order term of the loop; the interval comb alone reacts too slowly to a jump).
        self.period *= 1.0 + TEMPO_GAIN * pull * error
        self._anchor_time, self._anchor_beat = time_s, beat
        self._bent_period = self.period * (1.0 + PHASE_GAIN * pull * error)
        self._states.append((time_s, (self._anchor_time, self._anchor_beat, self.period, self._bent_period)))

    def _estimate_period(self, now: float) -> float | None:
        """The beat period best explaining recent inter-onset intervals, seconds (None if too few)."""
        times = np.fromiter(self._onsets, dtype=np.float64)
        if len(times) < 3:
            return None
        i, j = np.triu_indices(len(times), k=1)
        keep = (j - i) <= 4
        i, j = i[keep], j[keep]
        ioi = times[j] - times[i]
        keep = (ioi > 0.08) & (ioi < 4.0)
        if keep.sum() < 2:
            return None
        ioi, weight = ioi[keep], np.exp(-(now - times[j[keep]]) / RECENCY_S)
        periods = self.period * _CANDIDATES
        ratio = ioi[:, None] / periods[None, :]  # interval length in candidate beats
        nearest = np.round(ratio * 2.0) / 2.0
        valid = (nearest >= 0.5) & (nearest <= 4.0)
        sigma = 0.03 + 0.015 * nearest
        fit = np.exp(-0.5 * ((ratio - nearest) / sigma) ** 2)
        fit *= np.where(nearest == np.floor(nearest), 1.0, 0.5) * valid
        score = weight @ fit / weight.sum()
        # Prefer staying near the current tempo: the same evidence at a farther tempo scores less.
        score = score * np.exp(-0.5 * (np.log(_CANDIDATES) / 0.25) ** 2)
        k = int(np.argmax(score))
        if score[k] < 0.2:
            return None
        if 0 < k < len(periods) - 1:  # parabolic refinement between grid points
            a, b, c = score[k - 1], score[k], score[k + 1]
            denom = a - 2 * b + c
            offset = 0.5 * (a - c) / denom if denom < 0 else 0.0
            return float(periods[k] * (_CANDIDATES[1] / _CANDIDATES[0]) ** offset)
        return float(periods[k])
