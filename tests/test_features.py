"""Tempo, key, spectral balance and stereo image on signals whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import sine

from tunesmith.audio import Audio
from tunesmith.audio.features import (
    SpectrumAccumulator,
    StereoAccumulator,
    estimate_key,
    musical_features,
    spectral_balance,
)

SR = 22_050


def _chord_track(roots_and_thirds: list[list[int]], seconds_per_chord: float = 2.0) -> np.ndarray:
    out = []
    for chord in roots_and_thirds:
        t = np.arange(int(seconds_per_chord * SR)) / SR
        x = sum(np.sin(2 * np.pi * 440 * 2 ** ((n - 69) / 12) * t) for n in chord)
        out.append(x * np.exp(-t))
    return np.concatenate(out).astype(np.float32) * 0.1


@pytest.mark.parametrize(
    ("chords", "expected"),
    [
        ([[60, 64, 67], [65, 69, 72], [67, 71, 74], [60, 64, 67]], "C major"),  # I IV V I in C
        ([[57, 60, 64], [62, 65, 69], [64, 68, 71], [57, 60, 64]], "A minor"),  # i iv V i in A minor
        ([[66, 70, 73], [71, 75, 78], [73, 77, 80], [66, 70, 73]], "F# major"),
    ],
)
def test_key_of_cadences(chords, expected) -> None:
    features, notes = musical_features(_chord_track(chords * 2), SR)
    assert features.key == expected, notes


@pytest.mark.parametrize("bpm", [90.0, 120.0, 140.0])
def test_tempo_of_a_click_track(bpm: float) -> None:
    n = int(20 * SR)
    x = np.zeros(n, np.float32)
    click = (np.sin(2 * np.pi * 1000 * np.arange(400) / SR) * np.exp(-np.arange(400) / 60)).astype(np.float32)
    for i, start in enumerate(np.arange(0, n - 400, 60 / bpm * SR).astype(int)):
        x[start : start + 400] += click * (1.0 if i % 4 == 0 else 0.6)
    features, _ = musical_features(x, SR)
    assert features.tempo_bpm == pytest.approx(bpm, rel=0.02)


def test_short_and_silent_input_have_no_tempo_or_key() -> None:
    assert musical_features(np.zeros(SR, np.float32), SR)[0].tempo_bpm is None
    features, notes = musical_features(np.zeros(10 * SR, np.float32), SR)
    assert features.key is None and "quiet" in notes[0]


def test_key_profile_rotation() -> None:
    chroma = np.zeros(12)
    chroma[[2, 6, 9]] = 1.0  # D F# A
    assert estimate_key(chroma)[0] == "D major"


def test_spectral_balance_puts_a_tone_in_its_band() -> None:
    for freq, band in ((100, "low_pct"), (1000, "mid_pct"), (8000, "high_pct")):
        acc = SpectrumAccumulator(48_000)
        acc.push(sine(freq, 1, 48_000, channels=1).samples[:, 0])
        shares = spectral_balance(*acc.result())
        assert shares[band] > 99.0


def test_spectrum_level_of_full_scale_sine() -> None:
    acc = SpectrumAccumulator(48_000)
    bin_centre_hz = 171 * 48_000 / 8192  # on a bin: no scalloping loss
    acc.push(sine(bin_centre_hz, 2, 48_000, amplitude=1.0, channels=1).samples[:, 0])
    _, power = acc.result()
    assert 10 * np.log10(power.max()) == pytest.approx(0.0, abs=0.5)


@pytest.mark.parametrize("block", [1, 1000, 4095, 8192, 20_001])
def test_spectrum_does_not_depend_on_how_the_stream_is_cut(rng, block: int) -> None:
    x = rng.standard_normal(50_000).astype(np.float32)
    whole = SpectrumAccumulator(48_000, threads=1)
    whole.push(x)
    cut = SpectrumAccumulator(48_000, threads=1)
    for s0 in range(0, len(x), block):
        cut.push(x[s0 : s0 + block])
    # Frames (8192 points, hop 4096) start at the same samples however the stream arrives.
    assert cut._count == whole._count == (len(x) - 8192) // 4096 + 1
    np.testing.assert_allclose(cut.result()[1], whole.result()[1], rtol=1e-6)


def test_spectrum_of_nothing_or_less_than_a_frame() -> None:
    freqs, power = SpectrumAccumulator(48_000).result()
    assert len(freqs) == len(power) == 4097 and not power.any()
    acc = SpectrumAccumulator(48_000)
    acc.push(sine(1000, 0.1, 48_000, channels=1).samples[:, 0])  # 4800 samples: zero-padded to one frame
    freqs, power = acc.result()
    assert abs(freqs[np.argmax(power)] - 1000) < 48_000 / 8192


def test_stereo_width_and_correlation(rng) -> None:
    mono = rng.standard_normal(48_000).astype(np.float32)
    other = rng.standard_normal(48_000).astype(np.float32)
    cases = {
        "mono": (np.stack([mono, mono], 1), 0.0, 1.0),
        "uncorrelated": (np.stack([mono, other], 1), 1.0, 0.0),
        "out of phase": (np.stack([mono, -mono], 1), None, -1.0),
    }
    for name, (block, width, corr) in cases.items():
        acc = StereoAccumulator()
        acc.push(block)
        w, c = acc.result()
        assert c == pytest.approx(corr, abs=0.02), name
        if width is None:
            assert w is None, name  # no mid energy at all
        else:
            assert w == pytest.approx(width, abs=0.02), name


def test_audio_duration() -> None:
    assert Audio(np.zeros((44_100, 2), np.float32), 44_100).duration_s == 1.0
