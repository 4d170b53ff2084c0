"""Pitch tracking of a voice recording: a pitch, a confidence and a level every 16 ms.

The file is streamed in blocks (memory does not grow with its length beyond the pitch
track itself, 32 bytes per 16 ms frame): each block is folded to mono, resampled to the
tracker's 16 kHz (libsoxr, streaming), high-passed at 40 Hz (removes DC offset and rumble
below any sung fundamental) and handed to the tracker in 30-second chunks with the
context frames its receptive field needs, so the chunked result equals one pass.

Trackers: ``swift-f0`` (a small CNN; its ONNX model ships inside the wheel) and
``librosa.pyin`` (probabilistic YIN) as the fallback when swift-f0 or ONNX Runtime is
missing. Both give frames on the same 16 ms grid.

Recording problems are noted, not fatal: clipping (share of samples at full scale), DC
offset, silence before/after (the tracker sees it as unvoiced), channels that cancel
when summed (the louder channel is used instead).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tunesmith.errors import UsageError

TRACKER_RATE = 16_000
HOP = 256
FRAME_S = HOP / TRACKER_RATE  # 16 ms
LEFT_CONTEXT = 11  # frames of audio before a chunk that the CNN's receptive field reaches
RIGHT_CONTEXT = 10
CHUNK_FRAMES = 1875 - LEFT_CONTEXT - RIGHT_CONTEXT  # 30 s per tracker call, context included
GATE_ABOVE_FLOOR_DB = 10.0  # frames quieter than the noise floor plus this are not tracked…
GATE_BELOW_LOUD_DB = 40.0  # …unless that would gate frames within this of the chunk's loud level
# Only quiet stretches of 0.45 s or more are skipped: resuming costs the 21 frames of context the
# network needs around a stretch plus a call, and the 2-frame margins stay tracked.
MIN_SKIP_FRAMES = 28
FMIN_HZ, FMAX_HZ = 46.875, 2093.75  # swift-f0's model range
PYIN_FMIN_HZ, PYIN_FMAX_HZ = 60.0, 1100.0
CLIP_LEVEL = 0.998  # |sample| at or above this is counted as clipped
TRACKERS = ("auto", "swift-f0", "pyin")


@dataclass
class PitchTrack:
    """Frame-wise pitch of a recording.

    Attributes
    ----------
    hz : numpy.ndarray
        Pitch estimate per frame, Hz (meaningful where ``confidence`` is high).
    confidence : numpy.ndarray
        Voicing confidence 0–1 per frame (≥ 0.5: voiced).
    level_db : numpy.ndarray
        Level of the 32 ms around each frame, dBFS (after the 40 Hz high-pass).
    frame_s : float
        Frame period, seconds; frame ``i`` is centred at ``i * frame_s``.
    tracker : str
        ``"swift-f0"`` or ``"pyin"``.
    duration_s : float
        Length of the recording, seconds.
    sample_rate : int
        The recording's sample rate, Hz.
    channels : int
        The recording's channel count.
    clipped_fraction : float
        Share of samples at full scale (0–1).
    dc_offset : float
        Mean sample value of the recording (full scale = 1).
    warnings : list of str
        Recording problems worth telling the user about.
    """

    hz: np.ndarray
    confidence: np.ndarray
    level_db: np.ndarray
    frame_s: float = FRAME_S
    tracker: str = "swift-f0"
    duration_s: float = 0.0
    sample_rate: int = TRACKER_RATE
    channels: int = 1
    clipped_fraction: float = 0.0
    dc_offset: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def times_s(self) -> np.ndarray:
        """Frame centres, seconds."""
        return np.arange(len(self.hz)) * self.frame_s

    @property
    def midi(self) -> np.ndarray:
        """Pitch per frame in MIDI semitones (fractional), NaN where there is no pitch."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.hz > 0, 69.0 + 12.0 * np.log2(np.maximum(self.hz, 1e-9) / 440.0), np.nan)


def swift_available() -> bool:
    """Whether swift-f0 (and ONNX Runtime) can be imported."""
    try:
        import swift_f0  # noqa: F401
    except ImportError:
        return False
    return True


class _Tracker:
    """One tracker, called on 16 kHz mono chunks with context; returns (hz, confidence, level_db) per frame."""

    def __init__(self, name: str, threads: int | None) -> None:
        self.name = name
        if name == "swift-f0":
            import swift_f0

            # spin=False: the ONNX pool sleeps between calls instead of busy-waiting, which on a
            # shared two-core machine otherwise steals the core the reader and resampler need.
            self.detector = swift_f0.SwiftF0(threads=threads, spin=False)

    def __call__(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Track a chunk, skipping long quiet stretches (the model would only call them unvoiced)."""
        n = max(1, len(audio) // HOP)
        level = _frame_level_db(audio, n)
        hz, conf = np.zeros(n), np.zeros(n)
        for a, b in _active_runs(level):
            lo, hi = max(0, a - LEFT_CONTEXT), min(n, b + RIGHT_CONTEXT)
            f_hz, f_conf = self._track(audio[lo * HOP : hi * HOP + (HOP if hi == n else 0)], hi - lo)
            hz[a:b], conf[a:b] = f_hz[a - lo : b - lo], f_conf[a - lo : b - lo]
        return hz, conf, level

    def _track(self, audio: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        if self.name == "swift-f0":
            r = self.detector.detect(audio, TRACKER_RATE)
            hz, conf = r.pitch_hz[:n], r.confidence[:n]
        else:
            hz, conf = _pyin(audio, n)
        if len(hz) < n:
            hz, conf = np.pad(hz, (0, n - len(hz))), np.pad(conf, (0, n - len(conf)))
        return hz, conf


_TRACKERS: dict[tuple[str, int | None], _Tracker] = {}


def _threads(threads: int | None) -> int | None:
    """ONNX Runtime threads: as asked; otherwise one when every core is already busy, else its own choice.

    On a loaded machine a second intra-op thread mostly waits for a core (measured on two
    shared cores at load average 8: the same CPU time, 4.6 times the wall time). The thread
    count does not change the result: the network's kernels split the output, not the sums.
    """
    if threads is not None:
        return threads
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0] >= cores
    except OSError:  # no load average on this platform
        busy = False
    return 1 if busy or cores == 1 else None


def _tracker(name: str, threads: int | None) -> _Tracker:
    """One tracker per kind and thread count for the whole process (an ONNX session takes ~0.1 s to build)."""
    key = (name, _threads(threads))
    if key not in _TRACKERS:
        _TRACKERS[key] = _Tracker(*key)
    return _TRACKERS[key]


def _active_runs(level_db: np.ndarray) -> list[tuple[int, int]]:
    """Frame ranges worth tracking: all but quiet stretches of ``MIN_SKIP_FRAMES`` or more.

    Quiet means under the chunk's noise floor (10th percentile of the frame levels) plus
    ``GATE_ABOVE_FLOOR_DB``, and also more than ``GATE_BELOW_LOUD_DB`` under its loud level
    (the 99th percentile), so a soft voice over a noisy room is never gated.
    """
    n = len(level_db)
    floor, loud = np.percentile(level_db, [10, 99])
    gate = min(max(floor + GATE_ABOVE_FLOOR_DB, -70.0), loud - GATE_BELOW_LOUD_DB)
    quiet = level_db < gate
    runs: list[tuple[int, int]] = []
    start = 0
    t = 0
    while t < n:
        if quiet[t]:
            u = t
            while u < n and quiet[u]:
                u += 1
            if u - t >= MIN_SKIP_FRAMES:
                # Keep a margin of two frames each side: the level is a 32 ms window, the voice may begin inside it.
                if t + 2 > start:
                    runs.append((start, min(n, t + 2)))
                start = max(0, u - 2)
            t = u
        else:
            t += 1
    if start < n:
        runs.append((start, n))
    return [(a, b) for a, b in runs if b > a]


def _pyin(audio: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    from tunesmith.audio.librosa_guard import librosa_lock

    with librosa_lock():
        f0, _, prob = librosa.pyin(
            audio.astype(np.float32),
            fmin=PYIN_FMIN_HZ,
            fmax=PYIN_FMAX_HZ,
            sr=TRACKER_RATE,
            frame_length=1024,
            hop_length=HOP,
            center=True,
        )
    f0, prob = f0[:n], prob[:n]
    hz = np.where(np.isfinite(f0), f0, 0.0)
    # pYIN's voicing probability is spread more thinly than swift-f0's calibrated confidence:
    # a probability of 0.25 already means "voiced" to its own HMM. Map that point to 0.5.
    conf = np.clip(prob / 0.5, 0.0, 1.0) ** 0.5 * (hz > 0)
    return hz, conf


def _frame_level_db(audio: np.ndarray, n: int) -> np.ndarray:
    """RMS level of the 512 samples centred on each 256-sample frame boundary, dBFS (swift-f0's framing)."""
    x = np.asarray(audio, dtype=np.float32)
    whole = min(n, len(x) // HOP)
    frames = x[: whole * HOP].reshape(whole, HOP)
    power = np.zeros(n + 1)
    power[1 : whole + 1] = np.einsum("ij,ij->i", frames, frames)  # float32 sums of 256 squares: ample for dB
    if whole < n:  # a last, partial frame
        rest = x[whole * HOP :].astype(np.float64)
        power[whole + 1] = float(np.dot(rest, rest))
    return 10.0 * np.log10(np.maximum((power[:-1] + power[1:]) / (2 * HOP), 1e-14))


def choose_tracker(tracker: str) -> str:
    """The tracker ``tracker`` names (``auto``: swift-f0 when installed, else pyin).

    Raises
    ------
    UsageError
        Unknown name, or swift-f0 asked for but not installed.
    """
    if tracker not in TRACKERS:
        raise UsageError(f"--tracker must be one of {', '.join(TRACKERS)}, got {tracker!r}")
    if tracker == "auto":
        return "swift-f0" if swift_available() else "pyin"
    if tracker == "swift-f0" and not swift_available():
        raise UsageError("--tracker swift-f0: swift-f0 is not installed (pip install swift-f0)")
    return tracker


def track_pitch(
    path: str | os.PathLike[str],
    tracker: str = "auto",
    threads: int | None = None,
    progress: Callable[[float], None] | None = None,
    block_frames: int = 1 << 17,
) -> PitchTrack:
    """Track the pitch of the voice in an audio file, block by block.

    Parameters
    ----------
    path : str or os.PathLike
        WAV, FLAC, MP3, OGG… any rate 8–192 kHz, mono or multichannel.
    tracker : str
        ``auto``, ``swift-f0`` or ``pyin``.
    threads : int, optional
        ONNX Runtime threads (default: one when the load average already fills every core,
        else its own choice, the physical cores).
    progress : callable, optional
        Called with the fraction of the file done (0–1).
    block_frames : int
        Frames read from the file at a time.

    Raises
    ------
    InputFileError
        Unreadable or damaged file.
    """
    import soxr

    from tunesmith.audio.iir import highpass, sosfilt_state
    from tunesmith.audio.io import AudioReader

    name = choose_tracker(tracker)
    run = _tracker(name, threads)
    with AudioReader(path) as reader:
        info = reader.info
        rate, channels = info.sample_rate, info.channels
        # Medium quality: flat to well past the 4 kHz that matters to a voice's pitch, and cheaper.
        resampler = (
            None if rate == TRACKER_RATE else soxr.ResampleStream(rate, TRACKER_RATE, 1, dtype="float32", quality="MQ")
        )
        sos = highpass(40.0, 2, TRACKER_RATE)
        zi = np.zeros((len(sos), 2))
        pending = np.zeros(0, np.float32)  # 16 kHz samples not yet tracked, from frame `base - LEFT_CONTEXT`
        base = 0  # global index of the first frame still to be emitted
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        done_frames = 0
        clipped = 0
        total = 0
        dc_sum = 0.0
        cancelled = 0
        for block in reader.blocks(block_frames):
            total += block.size
            clipped += int(np.count_nonzero(np.abs(block) >= CLIP_LEVEL))
            dc_sum += float(block.sum(dtype=np.float64))
            mono, cancel = _fold(block)
            cancelled += cancel
            if resampler is not None:
                mono = resampler.resample_chunk(mono)
            mono = sosfilt_state(sos, mono, zi)
            pending = np.concatenate((pending, mono)) if len(pending) else mono
            # Emit whole chunks whose right context has arrived.
            while len(pending) >= (LEFT_CONTEXT * (base > 0) + CHUNK_FRAMES + RIGHT_CONTEXT) * HOP:
                pending, base = _emit(run, pending, base, CHUNK_FRAMES, parts)
            done_frames += len(block)
            if progress is not None:
                progress(min(0.99, done_frames / max(1, info.frames)))
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            pending = np.concatenate((pending, sosfilt_state(sos, tail, zi)))
        left = LEFT_CONTEXT if base > 0 else 0
        remaining = max(0, (len(pending) // HOP) - left)
        if remaining > 0 or not parts:
            _emit(run, pending, base, max(1, remaining), parts, last=True)
        warnings = list(reader.warnings)
    hz, conf, level = (np.concatenate([p[i] for p in parts]) for i in range(3))
    if progress is not None:
        progress(1.0)
    clipped_fraction = clipped / max(1, total)
    dc = dc_sum / max(1, total)
    if clipped_fraction > 1e-4:
        warnings.append(f"the recording is clipped ({100 * clipped_fraction:.2f} % of samples at full scale)")
    if abs(dc) > 0.01:
        warnings.append(f"DC offset of {dc:+.3f} full scale (removed)")
    if cancelled:
        warnings.append("the channels cancel when summed (opposite polarity?): the louder channel was used")
    return PitchTrack(
        hz=hz.astype(np.float64),
        confidence=np.clip(conf.astype(np.float64), 0.0, 1.0),
        level_db=level.astype(np.float64),
        tracker=name,
        duration_s=info.frames / rate,
        sample_rate=rate,
        channels=channels,
        clipped_fraction=clipped_fraction,
        dc_offset=dc,
        warnings=warnings,
    )


def _fold(block: np.ndarray) -> tuple[np.ndarray, int]:
    """Mono of a ``(frames, channels)`` block; the louder channel when the channels cancel in the sum."""
    if block.shape[1] == 1:
        return np.ascontiguousarray(block[:, 0]), 0
    mono = block.mean(axis=1, dtype=np.float32)
    each = np.mean(np.square(block, dtype=np.float64), axis=0)
    if float(np.mean(np.square(mono, dtype=np.float64))) < 0.05 * float(each.mean()) and float(each.max()) > 1e-8:
        return np.ascontiguousarray(block[:, int(np.argmax(each))]), 1
    return mono, 0


def _emit(
    run: _Tracker,
    pending: np.ndarray,
    base: int,
    frames: int,
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    last: bool = False,
) -> tuple[np.ndarray, int]:
    """Track ``frames`` frames from global frame ``base``; ``pending`` starts ``LEFT_CONTEXT`` frames before it.

    Returns what is left of ``pending`` (again starting ``LEFT_CONTEXT`` frames before the new
    ``base``) and the new ``base``.
    """
    left = min(LEFT_CONTEXT, base)
    stop = None if last else (left + frames + RIGHT_CONTEXT) * HOP
    hz, conf, level = run(pending[:stop] if stop is not None else pending)
    if len(hz) < left + frames:  # the last, short chunk: pad with unvoiced frames
        short = left + frames - len(hz)
        hz, conf = np.pad(hz, (0, short)), np.pad(conf, (0, short))
        level = np.pad(level, (0, short), constant_values=-140.0)
    parts.append((hz[left : left + frames], conf[left : left + frames], level[left : left + frames]))
    new_base = base + frames
    keep_from = (new_base - min(LEFT_CONTEXT, new_base) - (base - left)) * HOP
    return pending[keep_from:], new_base


__all__ = ["FRAME_S", "PitchTrack", "choose_tracker", "swift_available", "track_pitch"]
