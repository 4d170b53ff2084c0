"""The mixing console: channel strips, the stereo bus, the shared reverb, bus processing.

Each strip is high-pass and EQ bells (compiled biquad cascade) → compressor → fader
with automation → pan/width. The bus sums the strips, adds the reverb return (one
reverb fed by post-fader sends), glues with a gentle compressor and shapes the tone
with one minimum-phase FIR. The compressor and the reverb are JUCE's, as pedalboard
runs them, compiled in :mod:`tunesmith.mix.kernels` (same samples, less work around them).
"""

from __future__ import annotations

import math

import numpy as np

from tunesmith.audio import fir, iir
from tunesmith.audio.bands import BLOCK_S
from tunesmith.audio.meter import k_weighting_sos
from tunesmith.audio.tonal import BAND_CENTRES_HZ
from tunesmith.cores import usable_cores
from tunesmith.mix import kernels
from tunesmith.mix.settings import BusSettings, Compressor, StemSettings


def _compressor_coefs(comp: Compressor | None, sample_rate: int) -> np.ndarray | None:
    if comp is None:
        return None
    return kernels.compressor_coefficients(comp.threshold_db, comp.ratio, comp.attack_ms, comp.release_ms, sample_rate)


def strip_sections(s: StemSettings, sample_rate: int) -> np.ndarray:
    """The strip's high-pass and EQ bells as second-order sections, ``(sections, 6)`` (maybe empty)."""
    sections = []
    if s.hpf_hz is not None:
        sections.append(iir.highpass(s.hpf_hz, 4, sample_rate))  # 24 dB/octave
    for band in s.eq:
        sections.append(iir.peaking(band.freq_hz, band.gain_db, band.q, sample_rate))
    return np.vstack(sections) if sections else np.zeros((0, 6))


def strip_measure(
    x: np.ndarray, s: StemSettings, sample_rate: int, overwrite: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-fader channel strip (high-pass, EQ bells, compressor), metered as it comes out.

    Parameters
    ----------
    x : numpy.ndarray
        ``(frames, channels)`` float32.
    s : StemSettings
        The strip.
    sample_rate : int
        Hz.
    overwrite : bool
        Process ``x`` in place (C-contiguous, writable float32) instead of a copy.

    Returns
    -------
    tuple of numpy.ndarray
        The output (float32: ``x`` itself when ``overwrite``, else a new array), and per
        100 ms block its K-weighted and its plain mean-square power summed over channels (as
        :func:`tunesmith.audio.bands.block_spectra` measures them), taken in the compressor's pass.
    """
    y = x if overwrite else np.array(x, dtype=np.float32, order="C", copy=True)
    sos = strip_sections(s, sample_rate)
    if len(sos):
        # The cascade flushes its decaying state to zero in silences, so no subnormal floats
        # reach the compressor and the reverb, which they slow down.
        iir.sosfilt_fused_inplace(sos, y)
    # The compressor's pass also meters what comes out.
    return kernels.compress_measure(
        y,
        _compressor_coefs(s.compressor, sample_rate),
        k_weighting_sos(sample_rate),
        round(sample_rate * BLOCK_S),
        out=y,
    )


def strip(x: np.ndarray, s: StemSettings, sample_rate: int) -> np.ndarray:
    """Pre-fader channel strip: high-pass, EQ bells, compressor. ``x`` is ``(frames, channels)`` float32.

    Returns a new array (``x`` is not modified).
    """
    y = np.array(x, dtype=np.float32, order="C", copy=True)
    sos = strip_sections(s, sample_rate)
    if len(sos):
        iir.sosfilt_fused_inplace(sos, y)  # as strip_measure filters
    if s.compressor is not None:
        kernels.compress_measure(y, _compressor_coefs(s.compressor, sample_rate), None, 1, out=y)
    return y


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law: (left, right) gains for a mono source; equal power at every position."""
    theta = (min(1.0, max(-1.0, pan)) + 1.0) * math.pi / 4.0
    return math.cos(theta), math.sin(theta)


def place(y: np.ndarray, s: StemSettings, fader: np.ndarray | None) -> np.ndarray:
    """Post-fader stereo signal of a strip: gain (and automation), width, pan. Returns ``(frames, 2)``.

    A mono stem is panned with the constant-power law; a stereo stem keeps its
    image (side scaled by ``width``) and is balanced with the same law, scaled
    so a centred stem keeps its level.
    """
    g = np.float32(10.0 ** (s.gain_db / 20.0))
    gl, gr = pan_gains(s.pan)
    out = np.empty((len(y), 2), np.float32)
    if y.shape[1] == 1:
        np.multiply(y[:, 0], g * np.float32(gl), out=out[:, 0])
        np.multiply(y[:, 0], g * np.float32(gr), out=out[:, 1])
    else:
        left, right = y[:, 0], y[:, 1]
        if s.width != 1.0:
            mid = 0.5 * (left + right)
            side = np.float32(0.5 * s.width) * (left - right)
            left, right = mid + side, mid - side
        np.multiply(left, g * np.float32(gl * math.sqrt(2.0)), out=out[:, 0])
        np.multiply(right, g * np.float32(gr * math.sqrt(2.0)), out=out[:, 1])
    if fader is not None:
        out *= fader[: len(out), None]
    return out


def reverb_return(send: np.ndarray, bus: BusSettings, sample_rate: int) -> np.ndarray:
    """The shared reverb: 100 % wet (pedalboard's Reverb, width 1) on the send bus, high-passed so the lows stay dry."""
    threads = min(2, usable_cores())  # its two sides run side by side (same result on one)
    wet = kernels.freeverb(send, bus.reverb_room_size, bus.reverb_damping, 1.0, sample_rate, threads)
    iir.sosfilt_inplace(iir.highpass(bus.reverb_return_hpf_hz, 2, sample_rate), wet)
    return wet


def bus_compress(mix: np.ndarray, bus: BusSettings, sample_rate: int) -> np.ndarray:
    """The bus glue compressor (when the settings have one)."""
    if bus.compressor is None:
        return mix
    return kernels.compress_measure(mix, _compressor_coefs(bus.compressor, sample_rate), None, 1)[0]


def bus_tone(mix: np.ndarray, bus: BusSettings, sample_rate: int) -> np.ndarray:
    """The bus tonal EQ: one minimum-phase FIR from the per-band gains, applied in place."""
    if bus.eq_db and any(abs(v) > 0.01 for v in bus.eq_db.values()):
        gains = np.array([bus.eq_db.get(f"{c:.0f}", 0.0) for c in BAND_CENTRES_HZ])
        taps = 1 << max(11, math.ceil(math.log2(0.05 * sample_rate)))
        grid = fir.magnitude_on_grid(BAND_CENTRES_HZ, gains, 4 * taps, sample_rate)
        h = fir.minimum_phase_fir(grid, taps)
        eq = fir.BlockFir([h] * mix.shape[1])
        block = 1 << 18
        for s0 in range(0, len(mix), block):
            mix[s0 : s0 + block] = eq.process(mix[s0 : s0 + block].T).T
    return mix
