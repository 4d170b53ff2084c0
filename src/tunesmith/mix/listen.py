"""Pass 1 of the mix, on one stem: every measurement the decisions need, from one read of it.

:func:`tunesmith.audio.bands.block_spectra`, :func:`tunesmith.mix.roles.stem_features` and the
compressor's level each read the whole stem once or twice more (K filter, block sums, 5 ms
frame levels, channel sum, channel products). Here :func:`tunesmith.mix.kernels.listen_measure`
takes the plain sums in one compiled pass that also keeps the channel sum, and the K filter in
a second pass in SIMD lanes over time segments (:func:`tunesmith.mix.kernels.block_powers`);
the band shapes come from the channel sum with the same FFT frames and window as
``block_spectra``. Same quantities, summed in a different order (float64 rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from tunesmith.audio.bands import BlockSpectra, _Plan
from tunesmith.mix import kernels

#: Level frame, s: 5 ms, for onsets and the compressor's loud level.
LEVEL_HOP_S = 0.005
_FFT_CHUNK_BLOCKS = 16  # FFT frames per batch: their data stays in the CPU cache


@dataclass
class Listening:
    """The sums of one stem that pass 1 uses besides its :class:`BlockSpectra`.

    Attributes
    ----------
    hop_frames : int
        Samples per level frame.
    hop_power : numpy.ndarray
        Per whole level frame, the sum of every channel's squared samples (samples²).
    hop_mono_power : numpy.ndarray
        Per whole level frame, the sum of the channel sum's squared samples (samples²).
    dots : numpy.ndarray
        ``[Σ L², Σ R², Σ L·R]`` over the stem (R = 0 when mono).
    mono : numpy.ndarray
        The channel sum (``(frames,)`` float32; the channel itself when mono).
    channels : int
        1 or 2.
    """

    hop_frames: int
    hop_power: np.ndarray
    hop_mono_power: np.ndarray
    dots: np.ndarray
    mono: np.ndarray
    channels: int


def level_hop(sample_rate: int) -> int:
    """Samples per 5 ms level frame (at least 1)."""
    return max(1, sample_rate // round(1.0 / LEVEL_HOP_S))


def listen(x: np.ndarray, sample_rate: int) -> tuple[BlockSpectra, Listening]:
    """Analyse a ``(frames, 1 or 2)`` float32 stem: its block spectra and its other pass-1 sums.

    Parameters
    ----------
    x : numpy.ndarray
        Samples, full scale 1.0.
    sample_rate : int
        Hz.

    Returns
    -------
    tuple
        The :class:`BlockSpectra` (as :func:`tunesmith.audio.bands.block_spectra` gives, to
        float rounding) and the :class:`Listening` sums.
    """
    plan = _Plan.get(sample_rate)
    n = plan.n
    hop = level_hop(sample_rate)
    k_power, plain, hop_power, hop_mono, dots, mono = kernels.listen_measure(x, plan.sos, n, hop)
    shape = _band_shape(mono, plan, len(k_power), 0.5 if x.shape[1] == 2 else 1.0)
    spectra = BlockSpectra(k_power=k_power, band_power=shape * plain[:, None], sample_rate=sample_rate, block_frames=n)
    return spectra, Listening(hop, hop_power, hop_mono, dots, mono, x.shape[1])


def _band_shape(mono: np.ndarray, plan: _Plan, count: int, scale: float) -> np.ndarray:
    """Third-octave shape (rows summing to 1, or 0) of each block's centred FFT frame of ``mono · scale``."""
    n, m = plan.n, plan.m
    # scale is 1/2 or 1, a power of two: (L + R)·(w/2) is bit for bit ((L + R)/2)·w, block_spectra's frame.
    window = plan.window * np.float32(scale)
    start = (n - m) // 2
    shape = np.zeros((count, plan.bands.shape[1]))
    whole = min(count, len(mono) // n)
    for b0 in range(0, whole, _FFT_CHUNK_BLOCKS):
        b1 = min(whole, b0 + _FFT_CHUNK_BLOCKS)
        frames = mono[b0 * n : b1 * n].reshape(b1 - b0, n)[:, start : start + m] * window
        spec = sfft.rfft(frames, axis=1, workers=1)
        shape[b0:b1] = (spec.real**2 + spec.imag**2) @ plan.bands
    for b in range(whole, count):  # a last partial block, zero-padded
        frame = np.zeros(n, np.float32)
        part = mono[b * n : (b + 1) * n]
        frame[: len(part)] = part
        spec = sfft.rfft(frame[start : start + m] * window, workers=1)
        shape[b] = (spec.real**2 + spec.imag**2) @ plan.bands
    total = shape.sum(axis=1, keepdims=True)
    return np.divide(shape, total, out=np.zeros_like(shape), where=total > 0)


def loud_level_db(hop_power: np.ndarray, hop_frames: int, channels: int) -> float:
    """95th percentile of the 5 ms RMS level while the stem plays (dBFS): where its compressor sits."""
    if len(hop_power) == 0:
        return -math.inf
    level = 10.0 * np.log10(hop_power / (hop_frames * channels) + 1e-20)
    playing = level[level > level.max() - 40.0]
    return float(np.percentile(playing, 95.0)) if len(playing) else -math.inf
