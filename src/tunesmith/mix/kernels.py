"""Compiled kernels of the mixing console: compressor, shared reverb, placing a strip on the bus.

They reproduce pedalboard's JUCE processors sample for sample (tests compare them), with
less work around them:

* :func:`compress_measure` is JUCE's ``dsp::Compressor<float>`` (peak ballistics filter,
  hard knee, no make-up gain) on each channel, and in the same pass over memory meters what
  it puts out: K-weighted and plain power per 100 ms block (what
  :func:`tunesmith.audio.bands.block_spectra` gives), so a processed stem is not analysed
  again. pedalboard's took 0.35–0.7 s per 3-minute stereo stem plus 0.3 s for the second
  analysis; this takes about 0.25 s for both (``powf`` only above the threshold, where the
  gain is not 1).
* :func:`freeverb` is JUCE's ``Reverb`` (Freeverb: 8 combs and 4 all-passes per side, with
  JUCE's ``+0.1 −0.1`` undenormalising) at fixed parameters, bit-identical to pedalboard's
  ``Reverb``; about as fast on one thread, but its two sides run on two threads.
* :func:`add_placed` adds a strip's fader, ride, width and pan into the bus and the reverb
  send in one pass instead of several numpy passes and temporaries.

Every kernel releases the GIL, so stems run on separate cores from a thread pool.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

#: Envelope values below this are set to zero: a decaying float32 envelope otherwise sinks into
#: subnormals (100x slower arithmetic). Exact: the gain is 1 below any threshold the settings allow.
_ENV_FLOOR = np.float32(1e-30)
_TINY = 1e-30  # K-filter states flushed below this, as tunesmith.audio.iir does
_FLUSH_EVERY = 32

# Freeverb tunings at 44.1 kHz (samples); the right side is 23 samples longer.
_COMB_TUNINGS = np.array([1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617])
_ALLPASS_TUNINGS = np.array([556, 441, 341, 225])
_STEREO_SPREAD = 23


@numba.njit(inline="always", nogil=True)
def _compressor_step(v, env, threshold, t_inv, exponent, c_at, c_rl):  # pragma: no cover - compiled
    # JUCE dsp::Compressor<float>::processSample: peak ballistics, hard knee.
    e = abs(v)
    cte = c_at if e > env else c_rl
    env = e + cte * (env - e)
    if env >= threshold:  # below it the gain is exactly 1: no powf
        v = ((env * t_inv) ** exponent) * v
    return v, env


@numba.njit(inline="always", nogil=True)
def _k_step(v, p1, p2, r1, r2, k):  # pragma: no cover - compiled
    # The two K-filter sections, float64, output rounded to float32 as block_spectra stores it.
    # k: (b0, b1, b2, a1, a2) of each section, as scalars (loads from an array would be
    # repeated every sample: the compiler cannot tell that the output stores leave it alone).
    u = np.float64(v)
    w = k[0] * u + p1
    p1 = k[1] * u - k[3] * w + p2
    p2 = k[2] * u - k[4] * w
    o = k[5] * w + r1
    r1 = k[6] * w - k[8] * o + r2
    r2 = k[7] * w - k[9] * o
    f = np.float64(np.float32(o))
    return f, p1, p2, r1, r2


@numba.njit(
    "void(float32[:, ::1], float32[:, ::1], float32[::1], boolean, boolean, float64[:, ::1], int64,"
    " float64[::1], float64[::1])",
    nogil=True,
    cache=True,
)
def _compress_measure(
    x, y, coefs, compress, measure, k_sos, block, k_energy, plain_energy
):  # pragma: no cover - compiled
    # coefs: threshold, 1/threshold, 1/ratio - 1, attack coefficient, release coefficient (float32).
    frames, channels = x.shape
    threshold, t_inv, exponent, c_at, c_rl = coefs[0], coefs[1], coefs[2], coefs[3], coefs[4]
    blocks = plain_energy.shape[0]
    zero = np.float32(0.0)
    kc = (
        k_sos[0, 0],
        k_sos[0, 1],
        k_sos[0, 2],
        k_sos[0, 4],
        k_sos[0, 5],
        k_sos[1, 0],
        k_sos[1, 1],
        k_sos[1, 2],
        k_sos[1, 4],
        k_sos[1, 5],
    )
    for c in range(0, channels, 2):
        # Channels in pairs: two independent recursions the CPU overlaps (each alone is bound by
        # the latency of its multiply-adds). An odd last channel runs beside a copy of itself.
        pair = c + 1 < channels
        d = c + 1 if pair else c
        env_u = env_v = zero
        pu1 = pu2 = ru1 = ru2 = pv1 = pv2 = rv1 = rv2 = 0.0
        for b in range(blocks):
            plain = 0.0
            weighted = 0.0
            for i in range(b * block, min(frames, (b + 1) * block)):
                u = x[i, c]
                v = x[i, d]
                if compress:
                    u, env_u = _compressor_step(u, env_u, threshold, t_inv, exponent, c_at, c_rl)
                    v, env_v = _compressor_step(v, env_v, threshold, t_inv, exponent, c_at, c_rl)
                y[i, c] = u
                y[i, d] = v
                if measure:
                    fu, pu1, pu2, ru1, ru2 = _k_step(u, pu1, pu2, ru1, ru2, kc)
                    fv, pv1, pv2, rv1, rv2 = _k_step(v, pv1, pv2, rv1, rv2, kc)
                    uu = np.float64(u)
                    vv = np.float64(v) if pair else 0.0
                    plain += uu * uu + vv * vv
                    weighted += fu * fu + (fv * fv if pair else 0.0)
                if (i & (_FLUSH_EVERY - 1)) == _FLUSH_EVERY - 1:
                    if env_u < _ENV_FLOOR:
                        env_u = zero
                    if env_v < _ENV_FLOOR:
                        env_v = zero
                    if abs(pu1) + abs(pu2) + abs(ru1) + abs(ru2) < _TINY:
                        pu1 = pu2 = ru1 = ru2 = 0.0
                    if abs(pv1) + abs(pv2) + abs(rv1) + abs(rv2) < _TINY:
                        pv1 = pv2 = rv1 = rv2 = 0.0
            if measure and b == blocks - 1:
                # A last partial block counts as whole and zero-padded (as block_spectra pads it):
                # the filter rings on into the padding.
                for _ in range(frames, blocks * block):
                    fu, pu1, pu2, ru1, ru2 = _k_step(zero, pu1, pu2, ru1, ru2, kc)
                    fv, pv1, pv2, rv1, rv2 = _k_step(zero, pv1, pv2, rv1, rv2, kc)
                    weighted += fu * fu + (fv * fv if pair else 0.0)
            plain_energy[b] += plain
            k_energy[b] += weighted


def compressor_coefficients(
    threshold_db: float, ratio: float, attack_ms: float, release_ms: float, sample_rate: int
) -> np.ndarray:
    """JUCE ``dsp::Compressor<float>`` constants: threshold, its inverse, gain exponent, attack and release.

    Computed as JUCE computes them (float32, ``exp(-2π·1000 / (rate·ms))`` in double), so the
    kernel's output matches pedalboard's ``Compressor`` to float32 rounding.
    """
    f32 = np.float32
    threshold = f32(10.0) ** (f32(threshold_db) * f32(0.05)) if threshold_db > -200.0 else f32(0.0)
    exp_factor = -2.0 * math.pi * 1000.0 / sample_rate

    def cte(ms: float) -> np.float32:
        ms32 = f32(ms)
        return f32(0.0) if ms32 < f32(1e-3) else f32(math.exp(exp_factor / float(ms32)))

    return np.array(
        [threshold, f32(1.0) / threshold, f32(1.0) / f32(ratio) - f32(1.0), cte(attack_ms), cte(release_ms)],
        np.float32,
    )


def compress_measure(
    x: np.ndarray,
    coefs: np.ndarray | None,
    k_sos: np.ndarray | None,
    block_frames: int,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compress ``x`` (``(frames, channels)`` float32; ``coefs=None``: pass it through) and meter the result.

    Parameters
    ----------
    x : numpy.ndarray
        C-contiguous float32 samples, full scale 1.0; not modified (unless it is ``out``).
    coefs : numpy.ndarray or None
        From :func:`compressor_coefficients`.
    k_sos : numpy.ndarray or None
        The K-weighting filter, ``(2, 6)`` sections; None: no metering (the powers come back zero).
    block_frames : int
        Samples per analysis block (a last partial block counts as whole).
    out : numpy.ndarray, optional
        Where the output goes (``x`` itself is allowed); a new array by default.

    Returns
    -------
    tuple of numpy.ndarray
        The output samples (float32, same shape), the K-weighted power per block summed over
        channels, and the plain power per block summed over channels (both mean squares, float64).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    blocks = -(-len(x) // block_frames)
    y = np.empty_like(x) if out is None else out
    if y.shape != x.shape or y.dtype != np.float32 or not y.flags.c_contiguous:
        raise ValueError("compress_measure: out must be C-contiguous float32 of the input's shape")
    k_energy = np.zeros(max(blocks, 1))
    plain = np.zeros(max(blocks, 1))
    c = coefs if coefs is not None else np.ones(5, np.float32)
    _compress_measure(
        x,
        y,
        np.ascontiguousarray(c, dtype=np.float32),
        coefs is not None,
        k_sos is not None,
        np.ascontiguousarray(np.zeros((2, 6)) if k_sos is None else k_sos, dtype=np.float64),
        int(block_frames),
        k_energy,
        plain,
    )
    return y, k_energy[:blocks] / block_frames, plain[:blocks] / block_frames


@numba.njit(
    "void(float32[:, ::1], float32[:, ::1], float32[::1], int64, int64, float32[::1], float32, float32, float32)",
    nogil=True,
    cache=True,
)
def _comb_bank(reads, writes, inp, nb, col, last, inv_damp, damp, feedback):  # pragma: no cover - compiled
    # Eight comb low-passes (one side) over a block, states in registers: eight independent
    # chains the CPU overlaps. Same float32 operations, in the same order, as JUCE's CombFilter.
    u = np.float32(0.1)
    l0, l1, l2, l3 = last[col + 0], last[col + 1], last[col + 2], last[col + 3]
    l4, l5, l6, l7 = last[col + 4], last[col + 5], last[col + 6], last[col + 7]
    for i in range(nb):
        v = inp[i]
        l0 = (reads[i, col + 0] * inv_damp + l0 * damp + u) - u
        writes[i, col + 0] = (v + l0 * feedback + u) - u
        l1 = (reads[i, col + 1] * inv_damp + l1 * damp + u) - u
        writes[i, col + 1] = (v + l1 * feedback + u) - u
        l2 = (reads[i, col + 2] * inv_damp + l2 * damp + u) - u
        writes[i, col + 2] = (v + l2 * feedback + u) - u
        l3 = (reads[i, col + 3] * inv_damp + l3 * damp + u) - u
        writes[i, col + 3] = (v + l3 * feedback + u) - u
        l4 = (reads[i, col + 4] * inv_damp + l4 * damp + u) - u
        writes[i, col + 4] = (v + l4 * feedback + u) - u
        l5 = (reads[i, col + 5] * inv_damp + l5 * damp + u) - u
        writes[i, col + 5] = (v + l5 * feedback + u) - u
        l6 = (reads[i, col + 6] * inv_damp + l6 * damp + u) - u
        writes[i, col + 6] = (v + l6 * feedback + u) - u
        l7 = (reads[i, col + 7] * inv_damp + l7 * damp + u) - u
        writes[i, col + 7] = (v + l7 * feedback + u) - u
    last[col + 0] = l0
    last[col + 1] = l1
    last[col + 2] = l2
    last[col + 3] = l3
    last[col + 4] = l4
    last[col + 5] = l5
    last[col + 6] = l6
    last[col + 7] = l7


@numba.njit(
    "void(float32[:, ::1], float32[::1], int64[::1], int64[::1], float32, float32)",
    nogil=True,
    cache=True,
)
def _freeverb_side(x, out, comb_sizes, allpass_sizes, damp, feedback):  # pragma: no cover - compiled
    # One side of JUCE's Reverb::processStereo (8 combs in parallel, 4 all-passes in series)
    # with constant parameters: pedalboard sets them before it prepares the reverb, so there
    # is no smoothing ramp. The sides share only their input, so they run on two threads.
    # Blocks are no longer than the shortest delay line: every read of a block then precedes
    # the block's writes, so reads are gathered first, the combs' low-passes run side by side
    # (eight independent chains, where JUCE runs them one after another) and each all-pass is
    # element-wise arithmetic.
    frames = x.shape[0]
    f32 = np.float32
    gain = f32(0.015)
    undenorm = f32(0.1)  # JUCE_UNDENORMALISE: x += 0.1f; x -= 0.1f
    half = f32(0.5)
    inv_damp = f32(1.0) - damp
    block = min(comb_sizes.min(), allpass_sizes.min())
    comb_off = np.zeros(9, np.int64)
    for k in range(8):
        comb_off[k + 1] = comb_off[k] + comb_sizes[k]
    ap_off = np.zeros(5, np.int64)
    for k in range(4):
        ap_off[k + 1] = ap_off[k] + allpass_sizes[k]
    comb = np.zeros(comb_off[8], np.float32)
    ap = np.zeros(ap_off[4], np.float32)
    comb_pos = np.zeros(8, np.int64)
    ap_pos = np.zeros(4, np.int64)
    last = np.zeros(8, np.float32)
    reads = np.zeros((block, 8), np.float32)
    writes = np.zeros((block, 8), np.float32)
    inp = np.zeros(block, np.float32)
    acc = np.zeros(block, np.float32)
    for n0 in range(0, frames, block):
        nb = min(block, frames - n0)
        for i in range(nb):
            inp[i] = (x[n0 + i, 0] + x[n0 + i, 1]) * gain
        for k in range(8):
            p = comb_pos[k]
            base = comb_off[k]
            size = comb_sizes[k]
            for i in range(nb):
                reads[i, k] = comb[base + p]
                p += 1
                if p == size:
                    p = 0
        _comb_bank(reads, writes, inp, nb, 0, last, inv_damp, damp, feedback)
        for k in range(8):
            p = comb_pos[k]
            base = comb_off[k]
            size = comb_sizes[k]
            for i in range(nb):
                comb[base + p] = writes[i, k]
                p += 1
                if p == size:
                    p = 0
            comb_pos[k] = p
        for i in range(nb):
            a = f32(0.0)
            for k in range(8):  # summed in JUCE's order
                a += reads[i, k]
            acc[i] = a
        for j in range(4):
            p = ap_pos[j]
            base = ap_off[j]
            size = allpass_sizes[j]
            for i in range(nb):
                bv = ap[base + p]
                s = acc[i]
                t = s + bv * half
                ap[base + p] = (t + undenorm) - undenorm
                acc[i] = bv - s
                p += 1
                if p == size:
                    p = 0
            ap_pos[j] = p
        for i in range(nb):
            out[n0 + i] = acc[i]


def freeverb(
    send: np.ndarray, room_size: float, damping: float, width: float, sample_rate: int, threads: int = 2
) -> np.ndarray:
    """pedalboard's ``Reverb(room_size, damping, wet_level=1, dry_level=0, width)`` on a stereo send.

    Parameters
    ----------
    send : numpy.ndarray
        ``(frames, 2)`` float32.
    room_size, damping, width : float
        0–1, as pedalboard takes them.
    sample_rate : int
        Hz (sets the delay lengths, as JUCE does).
    threads : int
        2: the two sides on two threads (same result).

    Returns
    -------
    numpy.ndarray
        ``(frames, 2)`` float32, the wet signal only.
    """
    f32 = np.float32
    rate = int(sample_rate)
    combs = np.concatenate(((rate * _COMB_TUNINGS) // 44100, (rate * (_COMB_TUNINGS + _STEREO_SPREAD)) // 44100))
    allpasses = np.concatenate(
        ((rate * _ALLPASS_TUNINGS) // 44100, (rate * (_ALLPASS_TUNINGS + _STEREO_SPREAD)) // 44100)
    )
    wet = f32(1.0) * f32(3.0)
    wet1 = f32(0.5) * wet * (f32(1.0) + f32(width))
    wet2 = f32(0.5) * wet * (f32(1.0) - f32(width))
    x = np.ascontiguousarray(send, dtype=np.float32)
    sides = np.empty((2, len(x)), np.float32)
    damp = f32(damping) * f32(0.4)
    feedback = f32(room_size) * f32(0.28) + f32(0.7)

    def run(side: int) -> None:
        _freeverb_side(
            x, sides[side], combs[8 * side : 8 * side + 8], allpasses[4 * side : 4 * side + 4], damp, feedback
        )

    if threads > 1:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(run, (0, 1)))
    else:
        run(0)
        run(1)
    y = np.empty_like(x)
    np.multiply(sides[0], wet1, out=y[:, 0])
    y[:, 0] += sides[1] * wet2
    np.multiply(sides[1], wet1, out=y[:, 1])
    y[:, 1] += sides[0] * wet2
    return y


_F32_2D = numba.types.Array(numba.float32, 2, "C")
_F32_2D_READONLY = numba.types.Array(numba.float32, 2, "C", readonly=True)  # a parked strip, memory-mapped


@numba.njit(
    [
        numba.void(_F32_2D, _F32_2D, y, numba.float32, numba.float32, numba.float32, numba.float32[::1], numba.float32)
        for y in (_F32_2D, _F32_2D_READONLY)
    ],
    nogil=True,
    cache=True,
)
def _add_placed(bus, send, y, gl, gr, side_scale, fader, send_gain):  # pragma: no cover - compiled
    frames, channels = y.shape
    ride = fader.shape[0] > 0
    wants_send = send.shape[0] > 0
    half = np.float32(0.5)
    for i in range(frames):
        if channels == 1:
            left = y[i, 0] * gl
            right = y[i, 0] * gr
        else:
            a = y[i, 0]
            b = y[i, 1]
            if side_scale != half:  # width 1: the image as it is
                mid = half * (a + b)
                side = side_scale * (a - b)
                a = mid + side
                b = mid - side
            left = a * gl
            right = b * gr
        if ride:
            left *= fader[i]
            right *= fader[i]
        bus[i, 0] += left
        bus[i, 1] += right
        if wants_send:
            send[i, 0] += send_gain * left
            send[i, 1] += send_gain * right


def add_placed(
    bus: np.ndarray,
    send: np.ndarray | None,
    y: np.ndarray,
    gains: tuple[float, float],
    width: float,
    fader: np.ndarray | None,
    send_gain: float | None,
) -> None:
    """Add a strip's output into ``bus`` (and ``send``), in place.

    Parameters
    ----------
    bus, send : numpy.ndarray
        ``(frames, 2)`` float32 accumulators (``send`` None: no reverb bus).
    y : numpy.ndarray
        The strip's ``(frames, 1 or 2)`` float32 output.
    gains : tuple of float
        Linear (left, right) gains: fader times the pan law (times √2 for a stereo stem).
    width : float
        Side scale of a stereo stem (1 keeps its image).
    fader : numpy.ndarray or None
        Per-sample linear automation, or None.
    send_gain : float or None
        Linear reverb send (post-fader), or None for a dry stem.
    """
    empty2 = np.zeros((0, 2), np.float32)
    use_send = send is not None and send_gain is not None
    _add_placed(
        bus,
        send if use_send else empty2,
        np.ascontiguousarray(y, dtype=np.float32),
        np.float32(gains[0]),
        np.float32(gains[1]),
        np.float32(0.5 * width),
        np.zeros(0, np.float32) if fader is None else np.ascontiguousarray(fader[: len(y)], dtype=np.float32),
        np.float32(send_gain if use_send else 0.0),
    )
