"""Biquad design and filtering kernels against scipy.signal (the reference, used only here)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from tunesmith.audio.iir import highpass, one_pole, peaking, response_db, sosfilt_inplace, sosfilt_state

RATE = 44_100


@pytest.mark.parametrize("order", [2, 4, 6])
@pytest.mark.parametrize("cutoff", [20.0, 100.0, 5000.0])
def test_highpass_is_scipys_butterworth(order: int, cutoff: float) -> None:
    ours = highpass(cutoff, order, RATE)
    ref = signal.butter(order, cutoff, "highpass", fs=RATE, output="sos")
    f = np.geomspace(10, 20_000, 200)
    _, h = signal.sosfreqz(ref, worN=f, fs=RATE)
    ref_db = 20 * np.log10(np.abs(h))
    audible = ref_db > -200  # below, both are numerical floor
    assert np.max(np.abs(response_db(ours, f, RATE) - ref_db)[audible]) < 1e-6
    assert response_db(ours, np.array([cutoff]), RATE)[0] == pytest.approx(-3.0103, abs=1e-3)


def test_odd_order_is_refused() -> None:
    with pytest.raises(ValueError, match="even"):
        highpass(100, 3, RATE)


@pytest.mark.parametrize("sections", [1, 2, 5, 6])
def test_cascades_match_scipy_for_every_path(rng: np.random.Generator, sections: int) -> None:
    bank = [
        *highpass(60, 2, RATE),
        *peaking(300, -3, 1.0, RATE),
        *peaking(2500, 4, 2.0, RATE),
        *peaking(6000, -2, 0.7, RATE),
        *highpass(30, 2, RATE),
        *peaking(90, 3, 1.0, RATE),
    ]
    sos = np.array(bank[:sections])
    for channels in (1, 2, 3):
        x = rng.standard_normal((30_000, channels)).astype(np.float32)
        ref = signal.sosfilt(sos, x.astype(np.float64), axis=0)
        assert np.max(np.abs(sosfilt_inplace(sos, x.copy()) - ref)) < 1e-5


def test_blockwise_state_equals_one_pass(rng: np.random.Generator) -> None:
    x = rng.standard_normal(50_000).astype(np.float32)
    sos = np.vstack([highpass(100, 2, RATE), peaking(1000, 6, 1.0, RATE)])
    zi = np.zeros((2, 2))
    parts = [sosfilt_state(sos, x[a:b], zi) for a, b in ((0, 777), (777, 30_001), (30_001, 50_000))]
    ref = signal.sosfilt(sos, x.astype(np.float64))
    assert np.max(np.abs(np.concatenate(parts) - ref)) < 1e-5


def test_one_pole_is_an_exponential_smoother(rng: np.random.Generator) -> None:
    x = rng.random(10_000)
    c = 0.99
    state = np.array([x[0]])
    y = np.concatenate([one_pole(c, x[:4000], state), one_pole(c, x[4000:], state)])
    ref, _ = signal.lfilter([1 - c], [1, -c], x, zi=[c * x[0]])
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_block_spectra_chunks_equal_one_pass(rng: np.random.Generator) -> None:
    from tunesmith.audio.bands import block_spectra
    from tunesmith.audio.meter import k_weighting_sos

    n = RATE // 10
    x = (0.1 * rng.standard_normal((n * 37 + 1234, 2))).astype(np.float32)  # > one chunk, partial last block
    got = block_spectra(x, RATE)
    padded = np.concatenate((x, np.zeros((38 * n - len(x), 2), np.float32)))  # the last block counts as whole
    k = signal.sosfilt(k_weighting_sos(RATE), padded.astype(np.float64), axis=0)
    ref = (k**2).reshape(38, n, 2).sum(axis=(1, 2)) / n
    np.testing.assert_allclose(got.k_power, ref, rtol=1e-5)
    plain = np.concatenate((x, np.zeros((38 * n - len(x), 2), np.float32))).astype(np.float64)
    np.testing.assert_allclose(got.band_power.sum(axis=1), (plain**2).reshape(38, n, 2).sum(axis=(1, 2)) / n, rtol=1e-5)


@pytest.mark.parametrize("sections", [2, 5])
def test_silence_after_sound_leaves_no_subnormal_floats(rng: np.random.Generator, sections: int) -> None:
    # A decaying biquad state sinks into subnormal floats (100x slower arithmetic, and rounding
    # can trap it there); the cascade must flush it so silence filters to exact zeros.
    rate = 44_100
    sos = np.vstack(
        [highpass(38.0, 2, rate), *[peaking(1000.0 * (k + 1), 3.0, 1.0, rate) for k in range(sections - 1)]]
    )
    x = np.zeros((10 * rate, 2), np.float32)
    x[:rate] = rng.standard_normal((rate, 2)).astype(np.float32) * 0.3
    y = sosfilt_inplace(sos, x.copy())
    tiny = np.finfo(np.float32).tiny
    assert not np.any((y != 0) & (np.abs(y) < tiny)), "subnormal samples in the output"
    assert np.all(y[-rate:] == 0.0), "silence did not filter to exact zeros"
    ref = signal.sosfilt(sos, x.astype(np.float64), axis=0)
    assert np.max(np.abs(y - ref)) < 1e-6
    zi = np.zeros((1, 2))
    mono = sosfilt_state(sos[:1], x[:, 0], zi)
    assert np.all(mono[-rate:] == 0.0) and np.all(zi == 0.0)


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_fused_k_energy_matches_filtering_then_summing(channels: int) -> None:
    from tunesmith.audio.iir import k_energy_segments, sosfilt_state
    from tunesmith.audio.meter import k_weighting_sos

    sos = k_weighting_sos(44_100)
    rng = np.random.default_rng(channels)
    x = (0.3 * rng.standard_normal((30_000, channels))).astype(np.float32)
    x[10_000:12_000] = 0.0  # a silence: the state must not stall in subnormals
    cuts = np.arange(441, len(x), 441)
    stats = np.zeros((3, channels))
    zi = np.zeros((2, channels, 2))
    # Two blocks with the state carried give the one-pass result.
    first = k_energy_segments(sos, x[:13_000], zi, cuts[cuts <= 13_000], stats)
    second = k_energy_segments(sos, x[13_000:], zi, cuts[cuts > 13_000] - 13_000, stats)
    joined = np.concatenate((first[:-1], first[-1:] + second[:1], second[1:]))
    for c in range(channels):
        y = sosfilt_state(sos, np.ascontiguousarray(x[:, c]), np.zeros((2, 2)))
        expected = np.add.reduceat(np.square(y, dtype=np.float64), np.concatenate(([0], cuts)))
        # float64 between the sections here, float32 there: equal to float32 precision
        np.testing.assert_allclose(joined[:, c], expected, rtol=1e-6, atol=1e-9 * expected.max())
        assert stats[0, c] == np.abs(x[:, c]).max()
        assert stats[1, c] == pytest.approx(float(np.dot(x[:, c].astype(np.float64), x[:, c])), rel=1e-12)
        assert stats[2, c] == pytest.approx(float(x[:, c].sum(dtype=np.float64)), rel=1e-9, abs=1e-9)


def test_each_section_and_channel_is_flushed_on_its_own(rng: np.random.Generator) -> None:
    # The K filter's shelf forgets a sound within a few hundred samples, its 38 Hz high-pass only
    # after ~0.25 s; a flush that waited for both (or for both channels) left the shelf computing
    # on subnormal floats meanwhile (3x slower metering of music with gaps). One channel sounds
    # throughout, the other stops: its shelf state must be exactly zero while its high-pass rings.
    from tunesmith.audio.iir import k_energy_segments
    from tunesmith.audio.meter import k_weighting_sos

    rate = 44_100
    sos = k_weighting_sos(rate)
    x = (0.3 * rng.standard_normal((rate, 2))).astype(np.float32)
    x[rate // 2 : rate // 2 + 3000, 1] = 0.0
    zi = np.zeros((2, 2, 2))
    k_energy_segments(sos, x[: rate // 2 + 3000], zi, np.array([], np.int64))
    assert np.all(zi[0, 1] == 0.0), "the silent channel's shelf state was not flushed"
    assert np.any(zi[1, 1] != 0.0), "its high-pass should still be ringing (the case the old flush missed)"
    assert np.any(zi[0, 0] != 0.0), "the sounding channel's state must be untouched"
