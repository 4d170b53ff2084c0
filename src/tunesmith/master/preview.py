"""Loudness-matched A/B preview: the loudest 30 s of the original, then of the master.

Played at the same integrated loudness, the two differ only in tone, dynamics and
width — what mastering changed — instead of the master simply sounding louder.
"""

from __future__ import annotations

import os

import numpy as np

from tunesmith.audio.io import AudioReader, AudioWriter
from tunesmith.audio.meter import measure_loudness
from tunesmith.audio.resample import resample
from tunesmith.audio.types import Audio

GAP_S = 0.75
FADE_S = 0.02


def loudest_window(momentary_lufs: np.ndarray, seconds: float) -> float:
    """Start time (s) of the ``seconds``-long stretch with the most energy, from a 10 Hz momentary series."""
    steps = round(seconds * 10)
    power = np.nan_to_num(10.0 ** (np.asarray(momentary_lufs) / 10.0))
    if len(power) <= steps:
        return 0.0
    csum = np.concatenate(([0.0], np.cumsum(power)))
    sums = csum[steps:] - csum[:-steps]
    return float(np.argmax(sums)) / 10.0  # window i covers (i/10, i/10 + 0.4 s): start at i/10


def _segment(path: str | os.PathLike[str], start_s: float, seconds: float, rate: int) -> np.ndarray:
    with AudioReader(path) as reader:
        src = reader.info.sample_rate
        x = reader.read_segment(int(start_s * src), int(seconds * src))
    if src != rate:
        x = resample(Audio(x, src), rate).samples
    return x


def write_preview(
    original: str | os.PathLike[str],
    master_path: str | os.PathLike[str],
    preview_path: str | os.PathLike[str],
    momentary_lufs: np.ndarray,
    sample_rate: int,
    seconds: float = 30.0,
) -> dict[str, float]:
    """Write the A/B clip (WAV 24-bit) and return what was matched.

    Both halves are brought to the lower of their two loudnesses, so nothing is
    boosted into clipping.

    Returns
    -------
    dict
        ``start_s``, ``seconds`` and ``matched_lufs``.
    """
    start = loudest_window(momentary_lufs, seconds)
    a = _segment(original, start, seconds, sample_rate)
    b = _segment(master_path, start, seconds, sample_rate)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    if a.shape[1] != b.shape[1]:
        a = np.repeat(a[:, :1], b.shape[1], axis=1)
    la = measure_loudness(Audio(a, sample_rate), true_peak=False).integrated_lufs
    lb = measure_loudness(Audio(b, sample_rate), true_peak=False).integrated_lufs
    matched = min(v for v in (la, lb) if v is not None) if (la is not None or lb is not None) else None
    fade = np.linspace(0.0, 1.0, max(1, int(FADE_S * sample_rate)), dtype=np.float32)[:, None]
    parts = []
    for clip, level in ((a, la), (b, lb)):
        clip = clip.copy()
        if matched is not None and level is not None:
            clip *= np.float32(10.0 ** ((matched - level) / 20.0))
        m = min(len(fade), len(clip))
        clip[:m] *= fade[:m]
        clip[len(clip) - m :] *= fade[:m][::-1]
        parts.append(clip)
    gap = np.zeros((int(GAP_S * sample_rate), parts[0].shape[1]), np.float32)
    with AudioWriter(preview_path, sample_rate, parts[0].shape[1], "wav24") as writer:
        writer.write(parts[0])
        writer.write(gap)
        writer.write(parts[1])
    return {"start_s": round(start, 1), "seconds": round(n / sample_rate, 2), "matched_lufs": matched}
