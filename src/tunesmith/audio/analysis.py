"""`tunesmith analyze`: everything worth knowing about a finished audio file, in one pass."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tunesmith.audio.features import (
    EXCERPT_S,
    Framer,
    MusicalFeatures,
    SpectrumAccumulator,
    StereoAccumulator,
    mono_mix,
    musical_features,
    spectral_balance,
)
from tunesmith.audio.io import AudioReader
from tunesmith.audio.meter import Loudness, LoudnessMeter

#: Points in the waveform overview kept for plots.
ENVELOPE_POINTS = 2000


@dataclass
class Analysis:
    """Figures for one file. ``to_dict`` gives the JSON document of ``tunesmith analyze``.

    Attributes
    ----------
    file : str
        The path analysed.
    duration_s : float
        Seconds.
    sample_rate_hz : int
        Hz.
    channels : int
        Channel count.
    format : str
        Container and encoding, e.g. ``"WAV/PCM_24"``.
    loudness : Loudness
        Meter results (LUFS, LU, dBTP, dBFS).
    musical : MusicalFeatures
        Tempo (BPM) and key.
    spectral_balance : dict or None
        Percent of power in low / mid / high bands.
    stereo_width : float or None
        Side/mid energy ratio (None for mono).
    stereo_correlation : float or None
        L/R correlation, −1…+1 (None for mono).
    spectrum_hz, spectrum_power : numpy.ndarray
        Long-term average spectrum of the mono sum (for plots).
    envelope : numpy.ndarray
        ``(points, 2)`` min/max of the mono sum over equal time slices (for plots).
    notes : list of str
        Warnings and explanations of missing figures.
    """

    file: str
    duration_s: float
    sample_rate_hz: int
    channels: int
    format: str
    loudness: Loudness
    musical: MusicalFeatures
    spectral_balance: dict[str, float] | None
    stereo_width: float | None
    stereo_correlation: float | None
    spectrum_hz: np.ndarray = field(repr=False)
    spectrum_power: np.ndarray = field(repr=False)
    envelope: np.ndarray = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready figures with unit-carrying snake_case keys."""
        out: dict[str, object] = {
            "file": self.file,
            "duration_s": round(self.duration_s, 3),
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
            "format": self.format,
        }
        out.update(self.loudness.to_dict())
        out.update(
            {
                "tempo_bpm": self.musical.tempo_bpm,
                "key": self.musical.key,
                "key_confidence": self.musical.key_confidence,
                "spectral_balance_pct": self.spectral_balance,
                "stereo_width_ratio": None if self.stereo_width is None else round(self.stereo_width, 4),
                "stereo_correlation": None if self.stereo_correlation is None else round(self.stereo_correlation, 4),
                "notes": self.notes,
            }
        )
        return out


def analyze_file(
    path: str | os.PathLike[str],
    musical: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Analysis:
    """Measure a file in one streaming pass.

    Parameters
    ----------
    path : str or os.PathLike
        Any readable audio file.
    musical : bool
        Also estimate tempo and key (adds about a second).
    progress : callable, optional
        Called as ``progress(frames_done, frames_total)`` after each block.

    Returns
    -------
    Analysis

    Raises
    ------
    InputFileError
        If the file cannot be read as audio.
    """
    with AudioReader(path) as reader:
        info = reader.info
        meter = LoudnessMeter(info.sample_rate, info.channels)
        spectrum = SpectrumAccumulator(info.sample_rate)
        stereo = StereoAccumulator() if info.channels >= 2 else None
        slice_frames = max(1, -(-info.frames // ENVELOPE_POINTS))
        envelope_framer = Framer(slice_frames)
        envelope: list[np.ndarray] = []
        excerpt_len = int(min(info.frames, EXCERPT_S * info.sample_rate))
        excerpt_start = (info.frames - excerpt_len) // 2
        excerpt: list[np.ndarray] = []
        done = 0
        try:
            for block in reader.blocks():
                mono = mono_mix(block)
                meter.process(block)
                spectrum.push(mono)
                if stereo is not None:
                    stereo.push(block)
                frames = envelope_framer.push(mono)
                if len(frames):
                    envelope.append(np.stack((frames.min(axis=1), frames.max(axis=1)), axis=1))
                lo, hi = max(excerpt_start - done, 0), min(excerpt_start + excerpt_len - done, len(mono))
                if lo < hi:
                    excerpt.append(mono[lo:hi])
                done += len(block)
                if progress is not None:
                    progress(done, info.frames)
            loudness = meter.result()
        finally:
            meter.close()
        notes = list(reader.warnings) + list(loudness.notes)
    rest = envelope_framer.rest()
    if len(rest):
        envelope.append(np.array([[rest.min(), rest.max()]]))
    freqs, power = spectrum.result()
    width, corr = stereo.result() if stereo is not None else (None, None)
    features, musical_notes = (
        musical_features(np.concatenate(excerpt), info.sample_rate)
        if musical and excerpt
        else (MusicalFeatures(None, None, None), [])
    )
    notes += musical_notes
    if info.channels == 1:
        notes.append("mono: no stereo width or correlation")
    elif corr is not None and corr < 0.0:
        notes.append(f"left/right correlation is negative ({corr:.2f}): phase problems, the mix will thin out in mono")
    if loudness.sample_peak_dbfs is not None and loudness.sample_peak_dbfs >= -0.01:
        notes.append("samples at full scale: the file is probably clipped")
    dc = max((abs(v) for v in loudness.dc_offset), default=0.0)
    if dc > 0.001:
        notes.append(f"DC offset of {dc:.4f} full scale")
    return Analysis(
        file=str(path),
        duration_s=loudness.duration_s,
        sample_rate_hz=info.sample_rate,
        channels=info.channels,
        format=f"{info.format}/{info.subtype}",
        loudness=loudness,
        musical=features,
        spectral_balance=spectral_balance(freqs, power),
        stereo_width=width,
        stereo_correlation=corr,
        spectrum_hz=freqs,
        spectrum_power=power,
        envelope=np.concatenate(envelope) if envelope else np.zeros((0, 2)),
        notes=notes,
    )


__all__ = ["Analysis", "analyze_file"]
