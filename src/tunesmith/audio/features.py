"""Musical and spectral features of audio: tempo, key, spectrum, stereo image.

The accumulators here take audio block by block, like the loudness meter, so a
file of any length is analysed in bounded memory. Tempo and key use librosa on a
mono excerpt (the middle two minutes at 22.05 kHz), which is what they need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from tunesmith.audio.keys import KRUMHANSL_MAJOR, KRUMHANSL_MINOR
from tunesmith.cores import usable_cores

#: Band edges for the spectral balance summary, Hz.
LOW_MID_HZ = 250.0
MID_HIGH_HZ = 4000.0
_SPECTRUM_N = 8192

_MAJOR_NAMES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_MINOR_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"]

ANALYSIS_SR = 22_050
EXCERPT_S = 120.0
MIN_MUSICAL_S = 3.0


def mono_mix(block: np.ndarray) -> np.ndarray:
    """The channel average of a ``(frames, channels)`` block, float32 (the block itself when mono).

    Summed column by column: ``ndarray.mean(axis=1)`` over two columns is about 8x slower.
    """
    if block.shape[1] == 1:
        return block[:, 0]
    total = block[:, 0] + block[:, 1]
    for c in range(2, block.shape[1]):
        total += block[:, c]
    return total * np.float32(1.0 / block.shape[1])


class Framer:
    """Cut a stream of 1-D or 2-D blocks into frames of ``size`` samples, carrying the rest."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._rest: np.ndarray | None = None

    def push(self, block: np.ndarray) -> np.ndarray:
        """Return the whole frames now available, shape ``(n, size, ...)``."""
        data = block if self._rest is None else np.concatenate((self._rest, block))
        n = len(data) // self.size
        self._rest = data[n * self.size :]
        return data[: n * self.size].reshape((n, self.size, *data.shape[1:]))

    def rest(self) -> np.ndarray:
        """Samples left over that do not fill a frame."""
        return np.zeros(0) if self._rest is None else self._rest


class SpectrumAccumulator:
    """Long-term average power spectrum (Hann, 8192 points, 50 % overlap).

    Parameters
    ----------
    sample_rate : int
        Hz.
    threads : int, optional
        FFT threads; default :func:`~tunesmith.cores.usable_cores`.
    """

    def __init__(self, sample_rate: int, threads: int | None = None) -> None:
        self.sample_rate = sample_rate
        self._threads = threads or usable_cores()
        self._tail = np.zeros(0, np.float32)  # samples not yet framed (from the next frame's start)
        self._frames = np.zeros((0, _SPECTRUM_N), np.float32)  # windowed frames, reused block to block
        self._window = np.hanning(_SPECTRUM_N).astype(np.float32)
        self._power = np.zeros(_SPECTRUM_N // 2 + 1)
        self._count = 0

    def push(self, mono: np.ndarray) -> None:
        """Add a block of mono samples."""
        hop = _SPECTRUM_N // 2
        data = np.concatenate((self._tail, mono.astype(np.float32, copy=False)))
        n = (len(data) - _SPECTRUM_N) // hop + 1 if len(data) >= _SPECTRUM_N else 0
        if n == 0:
            self._tail = data
            return
        # Frames as a strided view of the samples (50 % overlap), windowed straight into a buffer
        # kept from block to block: one pass over the samples, no fresh large arrays to fault in.
        view = np.lib.stride_tricks.as_strided(data, (n, _SPECTRUM_N), (hop * data.itemsize, data.itemsize))
        if len(self._frames) < n:
            self._frames = np.empty((n, _SPECTRUM_N), np.float32)
        frames = np.multiply(view, self._window, out=self._frames[:n])
        spec = sfft.rfft(frames, axis=1, workers=self._threads)
        self._power += np.einsum("ij,ij->j", spec.real, spec.real) + np.einsum("ij,ij->j", spec.imag, spec.imag)
        self._count += n
        self._tail = data[n * hop :].copy()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Frequencies (Hz) and mean power per bin (linear, full-scale sine ≈ 1)."""
        freqs = np.fft.rfftfreq(_SPECTRUM_N, 1.0 / self.sample_rate)
        if self._count == 0:
            rest = self._tail
            if len(rest) == 0:
                return freqs, np.zeros_like(freqs)
            frame = np.zeros(_SPECTRUM_N, np.float32)
            frame[: len(rest)] = rest[:_SPECTRUM_N]
            spec = np.fft.rfft(frame * self._window)
            return freqs, (np.abs(spec) ** 2) / (self._window.sum() / 2) ** 2
        norm = (self._window.sum() / 2) ** 2  # a full-scale sine peaks near 1.0
        return freqs, self._power / self._count / norm


def spectral_balance(freqs: np.ndarray, power: np.ndarray) -> dict[str, float] | None:
    """Share of spectral power below 250 Hz, 250 Hz–4 kHz and above 4 kHz, in percent.

    Only 20 Hz–20 kHz counts. Returns None for silence.
    """
    band = (freqs >= 20.0) & (freqs <= 20_000.0)
    total = float(power[band].sum())
    if total <= 0.0:
        return None
    low = float(power[band & (freqs < LOW_MID_HZ)].sum())
    high = float(power[band & (freqs >= MID_HIGH_HZ)].sum())
    return {
        "low_pct": round(100.0 * low / total, 1),
        "mid_pct": round(100.0 * (total - low - high) / total, 1),
        "high_pct": round(100.0 * high / total, 1),
    }


class StereoAccumulator:
    """Side/mid energy ratio and L/R correlation of the first two channels."""

    def __init__(self) -> None:
        self._ll = self._rr = self._lr = 0.0

    def push(self, block: np.ndarray) -> None:
        """Add a ``(frames, channels)`` block (needs at least two channels)."""
        left = block[:, 0].astype(np.float64)
        right = block[:, 1].astype(np.float64)
        self._ll += float(left @ left)
        self._rr += float(right @ right)
        self._lr += float(left @ right)

    def result(self) -> tuple[float | None, float | None]:
        """``(width, correlation)``.

        width is side energy / mid energy (0 for mono content, 1 for
        uncorrelated channels, large for out-of-phase material); correlation is
        the normalised L·R product (+1 mono-compatible, 0 wide, −1 out of phase).
        """
        mid = (self._ll + self._rr + 2 * self._lr) / 4
        side = (self._ll + self._rr - 2 * self._lr) / 4
        denom = math.sqrt(self._ll * self._rr)
        corr = self._lr / denom if denom > 0 else None
        width = side / mid if mid > 0 else None
        return width, corr


@dataclass
class MusicalFeatures:
    """Tempo and key estimated from audio.

    Attributes
    ----------
    tempo_bpm : float or None
        Beats per minute.
    key : str or None
        e.g. ``"A minor"``.
    key_confidence : float or None
        Correlation margin between the best and second-best key (0–2).
    """

    tempo_bpm: float | None
    key: str | None
    key_confidence: float | None


def estimate_key(chroma_mean: np.ndarray) -> tuple[str, float]:
    """Key from a 12-bin mean chroma vector (C first) with Krumhansl-Kessler profiles.

    Returns
    -------
    tuple
        Key name (``"Eb major"``) and the correlation margin over the runner-up.
    """
    scores = []
    for tonic in range(12):
        rotated = np.roll(chroma_mean, -tonic)
        scores.append((np.corrcoef(rotated, KRUMHANSL_MAJOR)[0, 1], f"{_MAJOR_NAMES[tonic]} major"))
        scores.append((np.corrcoef(rotated, KRUMHANSL_MINOR)[0, 1], f"{_MINOR_NAMES[tonic]} minor"))
    scores.sort(reverse=True)
    return scores[0][1], float(scores[0][0] - scores[1][0])


def refine_tempo(onset_env: np.ndarray, frame_rate: float, coarse_bpm: float, search: float = 0.04) -> float:
    """Refine a tempo estimate to a fraction of an onset frame, BPM.

    Tempo estimators that pick an autocorrelation peak are quantised to whole
    onset frames per beat (about ±1 BPM near 120 BPM at 86 frames/s). Here the
    beat period is the lag, within ``±search`` of ``coarse_bpm``, whose
    autocorrelation summed over its first eight multiples is highest: a steady
    pulse repeats at every multiple, so the sum pins the period to 1/20 frame.

    Parameters
    ----------
    onset_env : numpy.ndarray
        Onset strength per frame.
    frame_rate : float
        Frames per second of ``onset_env``, Hz.
    coarse_bpm : float
        The estimate to refine, BPM.
    search : float
        Relative half-width of the search range.

    Returns
    -------
    float
        Refined BPM (``coarse_bpm`` itself when the envelope is too short).
    """
    env = np.asarray(onset_env, dtype=np.float64)
    env = env - env.mean()
    n = len(env)
    if n < 4 or not np.any(env):
        return coarse_bpm
    spec = np.fft.rfft(env, 2 * n)
    ac = np.fft.irfft(spec.real**2 + spec.imag**2)[:n]
    multiples = np.arange(1, 9)
    centre = 60.0 * frame_rate / coarse_bpm
    lags = np.arange(centre / (1 + search), centre / (1 - search), 0.05)
    lags = lags[lags * multiples[-1] < n - 1]
    if len(lags) == 0:
        return coarse_bpm
    periodicity = np.interp(lags[:, None] * multiples[None, :], np.arange(n), ac).sum(axis=1)
    return float(60.0 * frame_rate / lags[int(np.argmax(periodicity))])


def musical_features(mono: np.ndarray, sample_rate: int) -> tuple[MusicalFeatures, list[str]]:
    """Estimate tempo (librosa tempogram, refined) and key (CQT chroma + key profiles).

    Parameters
    ----------
    mono : numpy.ndarray
        1-D samples.
    sample_rate : int
        Hz.

    Returns
    -------
    tuple
        The features and notes explaining any that are missing.
    """
    notes: list[str] = []
    if len(mono) < MIN_MUSICAL_S * sample_rate:
        notes.append(f"shorter than {MIN_MUSICAL_S:.0f} s: no tempo or key estimate")
        return MusicalFeatures(None, None, None), notes
    if float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) < 1e-5:
        notes.append("too quiet for a tempo or key estimate")
        return MusicalFeatures(None, None, None), notes
    import librosa  # imported here: it takes a second and only analysis needs it

    from tunesmith.audio.librosa_guard import librosa_lock
    from tunesmith.audio.resample import resample
    from tunesmith.audio.types import Audio

    y = resample(Audio(mono, sample_rate), ANALYSIS_SR).samples[:, 0]
    hop = 256
    with librosa_lock():
        onset_env = librosa.onset.onset_strength(y=y, sr=ANALYSIS_SR, hop_length=hop)
        coarse = float(librosa.feature.tempo(onset_envelope=onset_env, sr=ANALYSIS_SR, hop_length=hop)[0])
        chroma = librosa.feature.chroma_cqt(y=y, sr=ANALYSIS_SR, hop_length=2048)
    tempo_bpm = refine_tempo(onset_env, ANALYSIS_SR / hop, coarse) if coarse > 0 else None
    key, confidence = estimate_key(chroma.mean(axis=1))
    return MusicalFeatures(None if tempo_bpm is None else round(tempo_bpm, 1), key, round(confidence, 3)), notes
