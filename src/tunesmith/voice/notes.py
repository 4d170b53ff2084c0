"""Note segmentation: a frame-wise pitch track → sung notes (onset, offset, pitch with cents).

The track is cut into rests and notes of one pitch each by an exact optimal partition
(dynamic programming over frames × candidate pitches, linear in the number of frames):

- a **note frame** costs its distance from the note's pitch, weighted by confidence and by
  how steady the pitch is there (a frame on a monotonic glide or scoop is between notes and
  counts little), with a dead zone of ``±dead_zone`` semitones so drift inside a note costs
  nothing, and a cap of two semitones so an octave slip or a glitch costs no more than a
  missing frame; plus the evidence against voicing (log-odds of the confidence);
- a **rest frame** costs nothing;
- **starting a note** costs ``note_cost`` (as much as 80 ms of a pitch a semitone away), lowered
  where the level rises sharply or dips in a valley (a re-articulated syllable or a new "mm"
  on the same pitch: the only sign such notes leave); valleys that recur every 100-220 ms
  are a vibrato's level wobble and lower nothing.

Afterwards the notes are cleaned up: a note that starts after a scoop or a consonant takes
the voiced frames before it (the onset is where the voice starts, as annotators mark it);
where one note glides into the next, the boundary moves to where the pitch is half-way
between them (where a listener hears the new note, and where annotators mark it); a note
ends where its level has fallen ``release_db`` under its peak for good; the pitch of each note is the
confidence-weighted median of its steady middle (vibrato-robust), reported with cents;
notes shorter than ``min_note_s`` are dropped.

The singer's tuning offset (how far the whole take sits from A440, in cents) is the
circular mean of the notes' cents, weighted by duration; melody export rounds
``pitch - tuning`` to semitones, so a singer who is uniformly 40 cents flat is not
rounded a semitone down on half the notes.

Parameters were chosen on a synthetic development set (POP909 training songs whose number
ends in 7, seeds disjoint from the evaluation set; ``benchmarks/hum_eval.py --dev``), never
on the vocadito recordings used for the benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from tunesmith.voice.pitch import PitchTrack


@dataclass(frozen=True)
class SegmentParams:
    """The segmenter's settings (the defaults are the tuned ones).

    Attributes
    ----------
    note_cost : float
        Cost of starting a note, in frame-costs (a frame one semitone off costs about 1).
    onset_bonus : float
        How much of ``note_cost`` a sharp level rise (``rise_db`` or more) forgives.
    rise_db : float
        Level rise over ``rise_frames`` frames that counts as a full onset, dB.
    rise_floor_db : float
        Rises smaller than this are ignored (tremolo, vibrato's level wobble), dB.
    rise_frames : int
        Frames over which a rise is measured.
    dead_zone : float
        Pitch deviation within a note that costs nothing, semitones.
    cap : float
        Largest pitch cost of one frame, semitones.
    grid : float
        Spacing of the candidate note pitches, semitones.
    min_note_s : float
        Shorter notes are dropped, seconds.
    quiet_db : float
        Frames this far below the take's loud level count as unvoiced, dB.
    glide_frames : int
        How far (frames) a boundary between two notes may move to where the pitch is half-way.
    valley_frames : int
        A level valley is the lowest frame within this many frames on each side.
    valley_floor_db, valley_full_db : float
        Valleys shallower than the floor are ignored; at the full depth the reward is whole, dB.
    release_db : float
        A note ends where its level has fallen this far below its own peak for good (a
        reverberant room keeps the pitch of a staccato note ringing long after the singer
        stopped), dB.
    valley_reward : float
        What a full-depth valley takes off the cost of starting a note there. Above
        ``note_cost`` a deep valley *earns* a boundary: the only way a repeated pitch sung
        legato (a new syllable or a new "mm" under one breath) becomes two notes. The level
        dips of a vibrato (see ``tremolo_frames``) earn nothing.
    tremolo_frames : tuple of int
        Valleys that recur this many frames apart (min, max) are a vibrato's level wobble
        and earn nothing; ``(0, 0)``: off.
    glide_slope : float
        Pitch slope at which a frame counts half towards its note's pitch cost, semitones
        per frame (0: off). Frames on a glide or a scoop are on their way between pitches;
        weighting them down lets a short note that *holds* a pitch split off cheaply
        without every slide becoming a note of its own.
    """

    note_cost: float = 4.0
    onset_bonus: float = 0.9
    rise_db: float = 10.0
    rise_floor_db: float = 3.0
    rise_frames: int = 4
    dead_zone: float = 0.2
    cap: float = 2.0
    grid: float = 0.1
    min_note_s: float = 0.06
    quiet_db: float = 30.0
    glide_frames: int = 16
    valley_frames: int = 5
    valley_floor_db: float = 3.0
    valley_full_db: float = 10.0
    valley_reward: float = 8.0
    release_db: float = 15.0
    glide_slope: float = 0.05
    tremolo_frames: tuple[int, int] = (6, 14)


@dataclass(frozen=True)
class SungNote:
    """A detected note, before any quantisation.

    Attributes
    ----------
    onset_s, offset_s : float
        Seconds.
    pitch : float
        Fractional MIDI note (``60.23`` = C4 plus 23 cents).
    confidence : float
        Mean voicing confidence of its frames, 0–1.
    level_db : float
        Its loudest 32 ms, dBFS.
    """

    onset_s: float
    offset_s: float
    pitch: float
    confidence: float
    level_db: float

    @property
    def pitch_hz(self) -> float:
        """Pitch in Hz."""
        return 440.0 * 2.0 ** ((self.pitch - 69.0) / 12.0)

    @property
    def duration_s(self) -> float:
        """Length, seconds."""
        return self.offset_s - self.onset_s


def voicing(track: PitchTrack, params: SegmentParams) -> np.ndarray:
    """Confidence per frame with frames far below the take's loud level silenced (room noise, breaths)."""
    conf = np.where(np.isfinite(track.hz) & (track.hz > 0), track.confidence, 0.0)
    voiced = conf >= 0.5
    if not voiced.any():
        return conf
    loud = float(np.percentile(track.level_db[voiced], 90))
    return np.where(track.level_db < loud - params.quiet_db, 0.0, conf)


def onset_strength(level_db: np.ndarray, params: SegmentParams) -> np.ndarray:
    """0–1 per frame: how sharply the level rises from this frame over the next few (re-articulation)."""
    n = len(level_db)
    k = params.rise_frames
    padded = np.concatenate((level_db, np.full(k, level_db[-1] if n else 0.0)))
    ahead = np.max(np.stack([padded[j : j + n] for j in range(1, k + 1)]), axis=0)
    rise = ahead - level_db
    return np.clip((rise - params.rise_floor_db) / (params.rise_db - params.rise_floor_db), 0.0, 1.0)


def valley_strength(level_db: np.ndarray, params: SegmentParams, voiced: np.ndarray | None = None) -> np.ndarray:
    """0–1 at frames that are the bottom of a level valley (a dip between two louder stretches), else 0.

    The depth is the smaller of the two rises, to the loudest frame within ``valley_frames``
    on the left and on the right; vibrato's level wobble stays under ``valley_floor_db``.
    ``voiced`` (per frame, optional) exempts valleys whose bottom is unvoiced from the
    vibrato filter: a vibrato never stops the voice, a consonant does.
    """
    n = len(level_db)
    k = params.valley_frames
    if n < 3:
        return np.zeros(n)
    padded = np.concatenate((np.full(k, -np.inf), level_db, np.full(k, -np.inf)))
    window = np.lib.stride_tricks.sliding_window_view(padded, 2 * k + 1)
    left = window[:, :k].max(axis=1)
    right = window[:, k + 1 :].max(axis=1)
    lowest = window.min(axis=1)
    is_min = level_db <= lowest + 1e-9
    depth = np.minimum(left, right) - level_db
    strength = np.clip((depth - params.valley_floor_db) / (params.valley_full_db - params.valley_floor_db), 0.0, 1.0)
    strength = np.where(is_min & np.isfinite(depth), strength, 0.0)
    if params.tremolo_frames[1] > 0:
        # Vibrato sweeping the harmonics across a formant dips the level once per cycle
        # (every 100-220 ms): a valley with another valley that close on either side is part
        # of such a train, not the single dip of a new syllable.
        lo, hi = params.tremolo_frames
        at = np.flatnonzero((strength > 0) & (True if voiced is None else voiced))
        gaps = np.diff(at)
        near = np.zeros(len(at), dtype=bool)
        near[1:] |= (gaps >= lo) & (gaps <= hi)
        near[:-1] |= (gaps >= lo) & (gaps <= hi)
        strength[at[near]] = 0.0
    return strength


def _voiced_around(voiced: np.ndarray, k: int) -> np.ndarray:
    """True at frames with a voiced frame within ``k`` before and within ``k`` after (or at the frame).

    The bottom of a valley between two sung syllables is often the consonant itself, unvoiced:
    what makes it a boundary between notes is the voice on either side.
    """
    n = len(voiced)
    v = np.concatenate((np.zeros(k, dtype=bool), voiced, np.zeros(k, dtype=bool)))
    win = np.lib.stride_tricks.sliding_window_view(v, 2 * k + 1)
    return voiced | (win[:, :k].any(axis=1) & win[:, k + 1 :].any(axis=1))[:n]


def steadiness(m: np.ndarray, voiced: np.ndarray, glide_slope: float) -> np.ndarray:
    """0–1 per frame: how steady the pitch is there (1) rather than on its way between notes (→ 0).

    The slope is the mean of the pitch steps into and out of the frame, semitones per frame,
    over voiced neighbours only (so the first frame after a consonant still shows the slide
    it is on), and zero where the two steps turn round (a glitch, the crest of a vibrato).
    Weight ``1 / (1 + (slope / glide_slope)²)``: half at ``glide_slope``.
    """
    n = len(m)
    out = np.ones(n)
    if n < 3 or glide_slope <= 0:
        return out
    step = np.diff(m)
    ok = voiced[1:] & voiced[:-1]
    into = np.concatenate(([0.0], np.where(ok, step, 0.0)))
    out_of = np.concatenate((np.where(ok, step, 0.0), [0.0]))
    has_in = np.concatenate(([False], ok))
    has_out = np.concatenate((ok, [False]))
    count = has_in.astype(float) + has_out
    slope = np.abs(into + out_of) / np.maximum(count, 1.0)
    slope = np.where(has_in & has_out & (into * out_of < 0), 0.0, slope)
    return 1.0 / (1.0 + (slope / glide_slope) ** 2)


def segment(track: PitchTrack, params: SegmentParams | None = None) -> list[SungNote]:
    """Cut a pitch track into notes (see the module docstring).

    Parameters
    ----------
    track : PitchTrack
        From :func:`tunesmith.voice.pitch.track_pitch`.
    params : SegmentParams, optional
        Settings; the tuned defaults when absent.

    Returns
    -------
    list of SungNote
        In time order, not overlapping.
    """
    p = params or SegmentParams()
    n = len(track.hz)
    if n == 0:
        return []
    conf = voicing(track, p)
    midi = track.midi
    voiced = conf >= 0.5
    if not voiced.any():
        return []
    m = np.where(np.isfinite(midi), midi, 0.0)
    lo, hi = float(np.min(m[voiced])), float(np.max(m[voiced]))
    mu = np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 0.5 + p.grid, p.grid)
    c = np.clip(conf, 0.02, 0.98)
    unvoiced = np.log((1.0 - c) / c)  # < 0 where voiced: a note there is cheaper than a rest
    start_cost = p.note_cost * (1.0 - p.onset_bonus * onset_strength(track.level_db, p))
    start_cost -= p.valley_reward * valley_strength(track.level_db, p, voiced) * _voiced_around(voiced, p.valley_frames)
    weight = conf * steadiness(m, voiced, p.glide_slope) if p.glide_slope > 0 else conf
    spans = _partition(m, weight, unvoiced, start_cost, mu, p)
    notes = []
    for a, b, _ in spans:
        notes.append((a, b))
    notes = _extend_onsets(notes, voiced, m, conf)
    notes = _glide_boundaries(notes, m, conf, p)
    notes = _trim_releases(notes, track.level_db, p.release_db)
    out: list[SungNote] = []
    fs = track.frame_s
    for a, b in notes:
        if (b - a) * fs < p.min_note_s:
            continue
        pitch = _note_pitch(m[a:b], conf[a:b])
        if pitch is None:
            continue
        out.append(
            SungNote(
                onset_s=round(a * fs, 4),
                offset_s=round(b * fs, 4),
                pitch=round(pitch, 2),
                confidence=round(float(np.mean(conf[a:b])), 3),
                level_db=round(float(np.max(track.level_db[a:b])), 1),
            )
        )
    return out


# Explicit signature: compiled once, cached on disk, never re-specialised.
@numba.njit(
    "void(float64[::1], float64[::1], float64[::1], float64[::1], float64[::1],"
    " float64, float64, int64[::1], int64[::1])",
    nogil=True,
    cache=True,
)
def _partition_kernel(m, conf, unvoiced, start_cost, mu, dead_zone, cap, back, kind):  # pragma: no cover - compiled
    # F = best cost of frames [0, t) ending on a boundary; note[j] = best cost with a note of
    # pitch mu[j] still open at t, since[j] = where that note opened. O(frames x pitches) time,
    # O(frames + pitches) memory.
    n = m.shape[0]
    k = mu.shape[0]
    note = np.full(k, np.inf)
    since = np.zeros(k, dtype=np.int64)
    best = 0.0
    for t in range(n):
        opened = best + start_cost[t]
        top = np.inf
        arg = -1
        for j in range(k):
            if opened < note[j]:
                note[j] = opened
                since[j] = t
            d = abs(mu[j] - m[t]) - dead_zone
            if d < 0.0:
                d = 0.0
            elif d > cap - dead_zone:
                d = cap - dead_zone
            note[j] += d * conf[t] + unvoiced[t]
            if note[j] < top:
                top = note[j]
                arg = j
        if top < best:  # ending a note here beats a rest frame (which costs nothing)
            best = top
            back[t + 1] = since[arg]
            kind[t + 1] = arg
        else:
            back[t + 1] = t
            kind[t + 1] = -1


def _partition(
    m: np.ndarray,
    conf: np.ndarray,
    unvoiced: np.ndarray,
    start_cost: np.ndarray,
    mu: np.ndarray,
    p: SegmentParams,
) -> list[tuple[int, int, int]]:
    """Exact optimal partition of frames into rests and one-pitch notes; returns ``(start, end, pitch index)``."""
    n = len(m)
    back = np.zeros(n + 1, dtype=np.int64)
    kind = np.full(n + 1, -1, dtype=np.int64)
    f64 = np.ascontiguousarray
    _partition_kernel(
        f64(m, np.float64),
        f64(conf, np.float64),
        f64(unvoiced, np.float64),
        f64(start_cost, np.float64),
        f64(mu, np.float64),
        float(p.dead_zone),
        float(p.cap),
        back,
        kind,
    )
    spans = []
    b = n
    while b > 0:
        a = int(back[b])
        if kind[b] >= 0:
            spans.append((a, b, int(kind[b])))
        b = a
    spans.reverse()
    return spans


def _extend_onsets(
    notes: list[tuple[int, int]], voiced: np.ndarray, m: np.ndarray, conf: np.ndarray
) -> list[tuple[int, int]]:
    """A note that follows a rest starts where the voice does (a scoop from below belongs to it)."""
    out: list[tuple[int, int]] = []
    prev_end = 0
    for a, b in notes:
        start = a
        while start > prev_end and voiced[start - 1]:
            start -= 1
        out.append((start, b))
        prev_end = b
    return out


def _glide_boundaries(
    notes: list[tuple[int, int]], m: np.ndarray, conf: np.ndarray, p: SegmentParams
) -> list[tuple[int, int]]:
    """Where a note runs straight into the next, put the boundary where the pitch is half-way.

    A listener hears the new note once the pitch is nearer to it than to the old one (pitch is
    perceived categorically), and that is where annotators mark the change; the optimal
    partition leaves the boundary anywhere on the glide, whose frames weigh little. Among the
    frames within ``glide_frames`` of it where the pitch crosses the mid-point of the two notes,
    the nearest is taken; with no crossing (a consonant, a jump across a gap) it stays.
    """
    out = list(notes)
    for i in range(1, len(out)):
        a0, b0 = out[i - 1]
        a1, b1 = out[i]
        if a1 != b0 or b0 - a0 < 2 or b1 - a1 < 2:
            continue
        prev = _note_pitch(m[a0:b0], conf[a0:b0])
        nxt = _note_pitch(m[a1:b1], conf[a1:b1])
        if prev is None or nxt is None or abs(nxt - prev) < 0.5:
            continue
        lo, hi = max(a0 + 1, a1 - p.glide_frames), min(b1 - 1, a1 + p.glide_frames)
        if hi - lo < 2:
            continue
        # Frame t is a crossing when it is on the new note's side of the mid-point and t - 1 is not.
        beyond = (m[lo:hi] - 0.5 * (prev + nxt)) * math.copysign(1.0, nxt - prev) > 0
        ok = conf[lo:hi] >= 0.5
        cross = np.flatnonzero(beyond[1:] & ~beyond[:-1] & ok[1:] & ok[:-1]) + lo + 1
        if len(cross):
            t = int(cross[np.argmin(np.abs(cross - a1))])
            out[i - 1] = (a0, t)
            out[i] = (t, b1)
    return out


def _trim_releases(notes: list[tuple[int, int]], level_db: np.ndarray, release_db: float) -> list[tuple[int, int]]:
    """End each note at its last frame within ``release_db`` of the note's peak level."""
    out = []
    for a, b in notes:
        level = level_db[a:b]
        loud = np.flatnonzero(level >= level.max() - release_db)
        out.append((a, a + int(loud[-1]) + 1))
    return out


def _note_pitch(m: np.ndarray, conf: np.ndarray) -> float | None:
    """Confidence-weighted median of a note's steady middle (first 20 % and last 10 % left out), semitones."""
    n = len(m)
    if n == 0:
        return None
    a, b = int(0.2 * n), max(int(0.2 * n) + 1, math.ceil(0.9 * n))
    core_m, core_c = m[a:b], conf[a:b]
    ok = core_c >= 0.5
    if ok.sum() < 2:
        core_m, core_c = m, conf
        ok = core_c > 0.2
        if not ok.any():
            return None
    values, weights = core_m[ok], core_c[ok]
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][int(np.searchsorted(cum, 0.5 * cum[-1]))])


def tuning_offset_cents(notes: list[SungNote]) -> float:
    """How far the singer's notes sit from equal temperament at A440, cents (−50…50).

    The circular mean of each note's deviation from its nearest semitone, weighted by duration,
    so a take that is 40 cents flat throughout reads −40 rather than averaging to zero.
    """
    if not notes:
        return 0.0
    angles = np.array([2 * math.pi * (n.pitch - round(n.pitch)) for n in notes])
    weights = np.array([n.duration_s for n in notes])
    z = np.sum(weights * np.exp(1j * angles))
    if abs(z) < 1e-9:
        return 0.0
    return float(np.angle(z) / (2 * math.pi) * 100.0)
