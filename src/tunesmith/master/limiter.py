"""Look-ahead true-peak limiter and the loudness solver that drives it.

The limiter works on the whole (in-memory) signal, block by block:

1. **Detection**: a per-sample true-peak envelope, linked across channels: the
   larger of each sample and the 4×-oversampled values on either side of it
   (the same interpolator as the meter), so inter-sample overs are seen.
2. **Gain**: the gain each sample needs, ``min(1, ceiling / (G · envelope))``,
   is turned into a smooth gain curve in three steps: a minimum over the
   look-ahead window widened by a short hold on both sides (the gain starts
   falling ``lookahead`` before a peak and is flat around it), a release that
   recovers exponentially, and a moving average over the look-ahead window that
   rounds the attack. A moving average of values that are each at most the
   need at the peak is itself at most that need, so the curve never lets a
   detected peak through, and the flat stretch keeps the gain from modulating
   the oversampled peak back up.
3. **Loudness**: limiting lowers loudness a little, more the harder it works.
   :class:`LoudnessSolver` finds the pre-gain ``G`` whose limited output hits
   the target: the K-weighted energy of the input is kept per millisecond, so
   the loudness of ``G · gain · x`` for any ``G`` costs one pass over the gain
   curve, not a new measurement; the result is then checked by the real meter.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from tunesmith.audio import iir
from tunesmith.audio.meter import (
    channel_weights,
    gated_mean_lufs,
    interpolated_peaks,
    k_weighting_sos,
    true_peak_phases,
)
from tunesmith.cores import usable_cores

LOOKAHEAD_S = 0.002
RELEASE_S = 0.060
#: Shorter releases the limiter may fall back to when a loud target needs them:
#: louder, at the cost of more distortion, so only as short as the target needs.
RELEASES_S = (0.060, 0.030, 0.015, 0.008)
#: The most the solver adds on top of the gain that would reach the target unlimited, dB.
MAX_EXTRA_GAIN_DB = 30.0
_BLOCK = 1 << 17


def true_peak_envelope(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-sample true-peak envelope of ``(frames, channels)`` audio, linked over channels.

    ``env[s]`` is the largest of ``|x[s]|`` and the oversampled values in the
    intervals just before and after sample ``s``, over all channels. ``float32``,
    computed block by block (memory: the result plus one block).
    """
    rows, delay = true_peak_phases(sample_rate)
    taps = rows.shape[1]
    frames, channels = x.shape
    env = np.zeros(frames, np.float32)

    def channel_peaks(s0: int, s1: int, c: int) -> np.ndarray:
        # Interval (a, a + 1) comes from window n = a - delay; intervals a = s0-1 .. s1-1 are needed.
        lo, hi = s0 - 1 - delay, s1 - 1 - delay + taps  # sample range the windows read
        seg = np.zeros(hi - lo, np.float32)
        src_lo, src_hi = max(lo, 0), min(hi, frames)
        if src_lo < src_hi:
            seg[src_lo - lo : src_hi - lo] = x[src_lo:src_hi, c]
        between = np.empty(s1 - s0 + 1, np.float32)  # interval a = s0 - 1 + i
        interpolated_peaks(seg, rows, 0, between)  # window n covers the interval after n + delay (GIL released)
        return np.maximum(np.maximum(between[:-1], between[1:]), np.abs(x[s0:s1, c]))

    with ThreadPoolExecutor(max(1, min(channels, usable_cores()))) as pool:
        for s0 in range(0, frames, _BLOCK):
            s1 = min(frames, s0 + _BLOCK)
            for peak in pool.map(lambda c, s0=s0, s1=s1: channel_peaks(s0, s1, c), range(channels)):
                np.maximum(env[s0:s1], peak, out=env[s0:s1])
    return env


@numba.njit("void(float32[::1], float64, float32[::1])", nogil=True, cache=True)
def _release(need, coeff, state):  # pragma: no cover - compiled
    """In place: follow drops at once, recover towards the need with a one-pole release."""
    s = state[0]
    for i in range(len(need)):
        v = need[i]
        s = v if v < s else v + coeff * (s - v)
        need[i] = s
    state[0] = s


#: Samples on each side of a peak over which the gain is held flat: the
#: interpolator reads 10 samples either way, and a gain that is still ramping
#: there would modulate the oversampled peak back over the ceiling.
HOLD = 12


@numba.njit(
    "void(float32[::1], int64, int64, float64, int64, int64, float64, float64[::1], float32[::1], float32[::1])",
    nogil=True,
    cache=True,
)
def _gain_kernel(env, lo, n, limit, lookahead, hold, release, state, history, out):  # pragma: no cover - compiled
    """One block of the gain curve (see :func:`_gain_curve`), all steps in one compiled pass.

    ``env`` is the whole envelope; the block is samples ``lo + hold`` ..
    ``lo + hold + n - 1``. ``state[0]`` is the release follower, ``history`` the
    released need of the previous ``lookahead - 1`` samples (updated in place).
    """
    width = lookahead + 2 * hold
    m = n + width - 1  # need values read by this block: samples lo .. lo + m - 1
    need = np.empty(m, np.float32)
    total = len(env)
    for j in range(m):
        i = lo + j
        if i < 0 or i >= total:
            need[j] = 1.0
        else:
            e = env[i]
            v = limit / e if e > 1e-12 else 1.0
            need[j] = v if v < 1.0 else 1.0
    # Sliding minimum over [j, j + width - 1] (van Herk / Gil-Werman: prefix and suffix minima).
    prefix = np.empty(m, np.float32)
    suffix = np.empty(m, np.float32)
    for j in range(m):
        prefix[j] = need[j] if j % width == 0 else min(prefix[j - 1], need[j])
    for j in range(m - 1, -1, -1):
        suffix[j] = need[j] if (j % width == width - 1 or j == m - 1) else min(suffix[j + 1], need[j])
    s = state[0]
    L = lookahead
    running = 0.0
    for k in range(L - 1):
        running += history[k]
    ring = np.empty(L, np.float32)
    for k in range(L - 1):
        ring[k] = history[k]
    pos = L - 1
    for j in range(n):
        v = min(suffix[j], prefix[j + width - 1])
        s = v if v < s else v + release * (s - v)
        ring[pos] = s
        running += s
        out[j] = running / L
        pos = (pos + 1) % L
        running -= ring[pos]  # the oldest value leaves the window
    state[0] = s
    for k in range(L - 1):  # the window now holds the slots after ``pos`` (``pos`` itself has left it)
        history[k] = ring[(pos + 1 + k) % L]


def _gain_curve(
    env: np.ndarray,
    s0: int,
    n: int,
    limit: float,
    lookahead: int,
    hold: int,
    release: float,
    state: np.ndarray,
    history: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gains for samples ``s0 .. s0 + n - 1`` of the envelope ``env``.

    The need of each sample (``min(1, limit / env)``) is spread over
    ``[i - hold, i + lookahead - 1 + hold]`` by a minimum filter, released, and
    averaged over ``lookahead`` samples, so the gain is at most a peak's need
    from ``hold`` samples before it to ``hold`` after. ``state`` (release
    follower, float64[1]) is updated in place; ``history`` holds the released
    need of the previous ``lookahead - 1`` samples and is returned renewed; None
    at the start of the signal, where the gain is taken to have already been at
    the first sample's level (there is no "before" in which to ramp down).
    """
    L = max(1, lookahead)
    out = np.empty(n, np.float32)
    if history is None:
        first = float(env[: L + hold].max()) if len(env) else 0.0
        start = min(1.0, limit / first) if first > 1e-12 else 1.0
        history = np.full(max(L - 1, 1), start, np.float32)
        state[0] = min(state[0], start)
    hist = np.ascontiguousarray(history, dtype=np.float32)
    if len(hist) < max(L - 1, 1):
        hist = np.concatenate((hist, np.ones(max(L - 1, 1) - len(hist), np.float32)))
    _gain_kernel(np.ascontiguousarray(env, np.float32), s0 - hold, n, float(limit), L, hold, release, state, hist, out)
    return out, hist


class LimiterCurve:
    """The limiter's gain curve for a given pre-gain and ceiling.

    Parameters
    ----------
    envelope : numpy.ndarray
        From :func:`true_peak_envelope`.
    sample_rate : int
        Hz.
    pre_gain_db : float
        Gain applied before the limiter, dB.
    ceiling_dbtp : float
        Highest allowed true peak after the limiter, dBTP.
    release_s : float
        Release time constant, s.
    """

    def __init__(
        self,
        envelope: np.ndarray,
        sample_rate: int,
        pre_gain_db: float,
        ceiling_dbtp: float,
        release_s: float = RELEASE_S,
    ) -> None:
        self.envelope = envelope
        self.sample_rate = sample_rate
        self.lookahead = max(2, round(LOOKAHEAD_S * sample_rate))
        self.release = math.exp(-1.0 / (release_s * sample_rate))
        self.pre_gain = 10.0 ** (pre_gain_db / 20.0)
        self.ceiling = 10.0 ** (ceiling_dbtp / 20.0)

    def blocks(self, block: int = _BLOCK) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, gain)`` for consecutive blocks; gains exclude the pre-gain, ``float32``."""
        env = self.envelope
        n = len(env)
        L = self.lookahead
        state = np.ones(1)
        history: np.ndarray | None = None
        limit = self.ceiling / self.pre_gain
        for s0 in range(0, n, block):
            s1 = min(n, s0 + block)
            gain, history = _gain_curve(env, s0, s1 - s0, limit, L, HOLD, self.release, state, history)
            yield s0, gain


class LoudnessSolver:
    """Predict the integrated loudness of ``G · gain · x`` without re-measuring ``x``.

    The K-weighted energy of ``x`` and its true-peak envelope are kept per group
    of 16 samples; the limiter's gain curve is then computed at that coarser
    rate (same look-ahead and release in seconds), which makes one prediction
    cost a few milliseconds. Gating blocks are 400 ms to within one group. The
    prediction is within a few hundredths of a LU of the meter, which has the
    final word.

    Parameters
    ----------
    x : numpy.ndarray
        Pre-limiter audio, ``(frames, channels)``.
    envelope : numpy.ndarray
        Its true-peak envelope (:func:`true_peak_envelope`).
    sample_rate : int
        Hz.
    energy : numpy.ndarray, optional
        :meth:`group_energy` of ``x``, if already computed.
    """

    GROUP = 16

    def __init__(self, x: np.ndarray, envelope: np.ndarray, sample_rate: int, energy: np.ndarray | None = None) -> None:
        frames = x.shape[0]
        self.sample_rate = sample_rate
        g = self.GROUP
        n_groups = frames // g
        self.energy = self.group_energy(x, sample_rate) if energy is None else energy
        # reduceat, not reshape(...).max(axis=1): numpy is slow at reducing many short rows.
        self.envelope = np.maximum.reduceat(envelope[: n_groups * g], np.arange(0, n_groups * g, g))
        self.gate = max(1, round(0.4 * sample_rate / g))
        self.hop = max(1, round(0.1 * sample_rate / g))

    @classmethod
    def group_energy(cls, x: np.ndarray, sample_rate: int) -> np.ndarray:
        """Channel-weighted K-weighted energy of ``x`` per group of :attr:`GROUP` samples.

        Independent of the true-peak envelope, so a caller may compute it while the envelope is
        being made and hand it to the constructor.
        """
        frames, channels = x.shape
        g = cls.GROUP
        n_groups = frames // g
        sos = k_weighting_sos(sample_rate)
        weights = channel_weights(channels)
        energy = np.zeros((n_groups, channels))
        zi = np.zeros((sos.shape[0], channels, 2))
        # One compiled pass per block: K filter and the power summed per group of 16 samples.
        for s0 in range(0, n_groups * g, _BLOCK):
            s1 = min(n_groups * g, s0 + _BLOCK)
            cuts = np.arange(g, s1 - s0, g)
            energy[s0 // g : s1 // g] = iir.k_energy_segments(sos, x[s0:s1], zi, cuts)
        return energy @ weights

    def integrated_lufs(
        self, pre_gain_db: float, ceiling_dbtp: float | None, release_s: float = RELEASE_S
    ) -> float | None:
        """Predicted integrated loudness after ``pre_gain_db`` and the limiter (None: no limiter), LUFS."""
        energy = self.energy * 10.0 ** (pre_gain_db / 10.0)
        if ceiling_dbtp is not None:
            g = self.GROUP
            lookahead = max(1, round(LOOKAHEAD_S * self.sample_rate / g))
            release = math.exp(-g / (release_s * self.sample_rate))
            limit = 10.0 ** ((ceiling_dbtp - pre_gain_db) / 20.0)
            env = self.envelope
            hold = -(-HOLD // g)
            gain, _ = _gain_curve(env, 0, len(env), limit, lookahead, hold, release, np.ones(1), None)
            energy = energy * gain.astype(np.float64) ** 2
        if len(energy) < self.gate:
            return None
        csum = np.concatenate(([0.0], np.cumsum(energy)))
        ends = np.arange(self.gate, len(energy) + 1, self.hop)
        return gated_mean_lufs((csum[ends] - csum[ends - self.gate]) / (self.gate * self.GROUP), -10.0)

    def solve(
        self,
        target_lufs: float,
        ceiling_dbtp: float,
        start_gain_db: float,
        release_s: float = RELEASE_S,
        tolerance_lu: float = 0.005,
        max_steps: int = 14,
    ) -> tuple[float, float | None]:
        """Pre-gain (dB) whose limited output is predicted to read ``target_lufs``, and that prediction.

        Secant steps on loudness against gain (the slope falls from 1 LU/dB
        towards 0 as the limiter works harder). When more gain no longer makes
        the output louder (the limiter has saturated) the loudest point found is
        returned, so the caller can say the target is out of reach.
        """
        gain_db = start_gain_db
        predicted = self.integrated_lufs(gain_db, ceiling_dbtp, release_s)
        previous: tuple[float, float] | None = None
        for _ in range(max_steps):
            if predicted is None:
                break
            error = target_lufs - predicted
            if abs(error) <= tolerance_lu:
                break
            slope = 1.0
            if previous is not None and abs(gain_db - previous[0]) > 1e-9:
                slope = (predicted - previous[1]) / (gain_db - previous[0])
                if error > 0 and slope < 0.02:  # saturated: more gain only adds distortion
                    if previous[1] > predicted:
                        gain_db, predicted = previous
                    break
                slope = min(max(slope, 0.05), 1.0)
            previous = (gain_db, predicted)
            gain_db = float(min(gain_db + np.clip(error / slope, -24.0, 24.0), start_gain_db + MAX_EXTRA_GAIN_DB))
            if previous is not None and gain_db == previous[0]:
                break
            predicted = self.integrated_lufs(gain_db, ceiling_dbtp, release_s)
        return gain_db, predicted
