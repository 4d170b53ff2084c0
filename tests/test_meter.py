"""The loudness meter against the EBU/ITU test vectors, pyloudnorm, and first principles."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from conftest import pink_noise, shared, sine

from tunesmith.audio import Audio, LoudnessMeter, load, measure_loudness, true_peak
from tunesmith.audio.meter import k_weighting_sos

# ---------------------------------------------------------------- EBU Tech 3341 / ITU BS.2217 vectors


def _expected_rows() -> list[dict[str, str]]:
    from conftest import SHARED_DATA

    path = SHARED_DATA / "ebu_loudness" / "expected.csv"
    if not path.exists():
        return [{"file": "missing", "case": "shared data absent", "measure": "", "expected": "", "tolerance": ""}]
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _tolerance(text: str) -> tuple[float, float]:
    """'+-0.1' -> (-0.1, +0.1); '+0.2/-0.4' -> (-0.4, +0.2)."""
    text = text.strip()
    if text.startswith("+-"):
        v = float(text[2:])
        return -v, v
    up, down = text.split("/")
    return float(down), float(up)


@pytest.mark.parametrize("row", _expected_rows(), ids=lambda r: r["case"])
def test_ebu_and_itu_compliance_vectors(row: dict[str, str]) -> None:
    path = shared("ebu_loudness", row["file"])
    result = measure_loudness(load(path))
    expected = float(row["expected"].split()[0])
    lo, hi = _tolerance(row["tolerance"])
    measure = row["measure"]
    if measure == "M,S,I":
        readings = {"I": result.integrated_lufs, "M": result.momentary_max_lufs, "S": result.short_term_max_lufs}
        # A steady tone: every complete momentary/short-term window reads the same.
        readings["M(all)"] = float(np.max(np.abs(result.momentary_lufs - expected)) + expected)
        readings["S(all)"] = float(np.max(np.abs(result.short_term_lufs - expected)) + expected)
    elif measure.startswith("M (constant after 1 s)"):
        after_1s = result.momentary_lufs[6:]  # window i ends at (i + 4) / 10 s
        readings = {"M min": float(after_1s.min()), "M max": float(after_1s.max())}
    elif measure == "max S":
        readings = {"max S": result.short_term_max_lufs}
    elif measure == "max M":
        readings = {"max M": result.momentary_max_lufs}
    elif measure == "max true-peak":
        readings = {"TP": result.true_peak_dbtp}
    elif measure.startswith("I"):
        readings = {"I": result.integrated_lufs}
    else:
        pytest.fail(f"unknown measure {measure!r} in expected.csv")
    for name, value in readings.items():
        assert value is not None, name
        assert expected + lo - 1e-9 <= value <= expected + hi + 1e-9, f"{name}={value:.3f}, expected {expected}"


# ---------------------------------------------------------------- agreement with pyloudnorm on real music


def _mixes() -> list[str]:
    from conftest import SHARED_DATA

    files = sorted(p.name for p in (SHARED_DATA / "mixes").glob("*.ogg"))
    return files or ["missing.ogg"]


@pytest.mark.parametrize("name", _mixes())
def test_integrated_agrees_with_pyloudnorm(name: str) -> None:
    pyln = pytest.importorskip("pyloudnorm")
    audio = load(shared("mixes", name))
    ours = measure_loudness(audio).integrated_lufs
    x = audio.samples.astype(np.float64)
    # pyloudnorm's default K-weighting is its own approximation of the filter;
    # the bar is 0.05 LU against it.
    assert abs(ours - pyln.Meter(audio.sample_rate).integrated_loudness(x)) <= 0.05
    # With the standard's exact filter ("DeMan") the gating must agree to the last digit.
    assert abs(ours - pyln.Meter(audio.sample_rate, filter_class="DeMan").integrated_loudness(x)) <= 0.005


# ---------------------------------------------------------------- first principles


def test_k_weighting_matches_standard_coefficients_at_48k() -> None:
    sos = k_weighting_sos(48_000)
    # BS.1770-4 Tables 1 and 2.
    np.testing.assert_allclose(sos[0, :3], [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=1e-8)
    np.testing.assert_allclose(sos[0, 4:], [-1.69065929318241, 0.73248077421585], atol=1e-8)
    np.testing.assert_allclose(sos[1, 4:], [-1.99004745483398, 0.99007225036621], atol=1e-8)


@pytest.mark.parametrize("sample_rate", [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 96_000, 192_000])
@pytest.mark.parametrize("freq_hz", [997.0, 3000.0])
def test_sine_reads_the_same_at_every_rate(sample_rate: int, freq_hz: float) -> None:
    reference = measure_loudness(sine(freq_hz, 5, 48_000, 0.1)).integrated_lufs
    reading = measure_loudness(sine(freq_hz, 5, sample_rate, 0.1)).integrated_lufs
    # Below 44.1 kHz the meter upsamples to 48 kHz and applies the standard's own
    # filter, so it must agree exactly; above, the filter is the analogue
    # prototype re-mapped to the rate, which drifts by a few hundredths of a dB.
    assert abs(reading - reference) < (0.001 if sample_rate < 44_100 else 0.05)


def test_gain_shifts_loudness_exactly(rng: np.random.Generator) -> None:
    audio = pink_noise(8, 44_100, rng)
    base = measure_loudness(audio)
    louder = measure_loudness(Audio(audio.samples * 10 ** (6 / 20), audio.sample_rate))
    assert louder.integrated_lufs - base.integrated_lufs == pytest.approx(6.0, abs=1e-3)
    assert louder.true_peak_dbtp - base.true_peak_dbtp == pytest.approx(6.0, abs=1e-3)
    assert louder.loudness_range_lu == pytest.approx(base.loudness_range_lu, abs=1e-3)


def test_channel_order_does_not_matter_for_stereo(rng: np.random.Generator) -> None:
    audio = pink_noise(5, 48_000, rng)
    swapped = Audio(audio.samples[:, ::-1], audio.sample_rate)
    assert measure_loudness(swapped).integrated_lufs == pytest.approx(measure_loudness(audio).integrated_lufs, abs=1e-9)


def test_block_size_does_not_change_results(rng: np.random.Generator) -> None:
    audio = pink_noise(7.3, 44_100, rng)
    whole = measure_loudness(audio)
    meter = LoudnessMeter(audio.sample_rate, audio.channels)
    for start in range(0, audio.frames, 12_345):
        meter.process(audio.samples[start : start + 12_345])
    pieces = meter.result()
    meter.close()
    for name in ("integrated_lufs", "momentary_max_lufs", "short_term_max_lufs", "loudness_range_lu", "true_peak_dbtp"):
        assert getattr(pieces, name) == pytest.approx(getattr(whole, name), abs=1e-6), name


def test_surround_weights_exclude_lfe_and_boost_surrounds(rng: np.random.Generator) -> None:
    tone = sine(1000, 3, 48_000, 0.1, channels=1).samples[:, 0]
    base = np.zeros((len(tone), 6), np.float32)
    front = base.copy()
    front[:, 0] = tone
    lfe = base.copy()
    lfe[:, 3] = tone
    surround = base.copy()
    surround[:, 4] = tone
    l_front = measure_loudness(Audio(front, 48_000)).integrated_lufs
    assert measure_loudness(Audio(lfe, 48_000)).integrated_lufs is None  # LFE is not counted
    assert measure_loudness(Audio(surround, 48_000)).integrated_lufs - l_front == pytest.approx(
        10 * math.log10(1.41), abs=1e-6
    )


def test_silence_and_short_input_are_well_defined() -> None:
    silent = measure_loudness(Audio(np.zeros((48_000 * 2, 2), np.float32), 48_000))
    assert silent.integrated_lufs is None and silent.true_peak_dbtp is None
    assert any("silent" in n for n in silent.notes)
    one = measure_loudness(Audio(np.array([[0.5, -0.25]], np.float32), 48_000))
    assert one.integrated_lufs is None and any("400 ms" in n for n in one.notes)
    assert one.sample_peak_dbfs == pytest.approx(20 * math.log10(0.5), abs=1e-6)
    assert one.true_peak_dbtp >= one.sample_peak_dbfs


def test_true_peak_finds_intersample_peak() -> None:
    # fs/4 sine with 45 degree phase: every sample sits at 0.707 of the crest.
    # Faded in and out: a sine that starts abruptly really does overshoot.
    audio = sine(12_000, 1, 48_000, 1.0, channels=1, phase=math.pi / 4)
    fade = np.hanning(960)[:480, None]
    audio.samples[:480] *= fade
    audio.samples[-480:] *= fade[::-1]
    result = measure_loudness(audio)
    assert result.sample_peak_dbfs == pytest.approx(-3.01, abs=0.01)
    assert result.true_peak_dbtp == pytest.approx(0.0, abs=0.05)
    assert true_peak(audio.samples, 48_000)[0] == pytest.approx(1.0, abs=0.01)


def test_relative_gate_ignores_quiet_passages() -> None:
    loud = sine(1000, 10, 48_000, 0.1).samples
    quiet = loud * 10 ** (-30 / 20)
    mixed = measure_loudness(Audio(np.concatenate([loud, quiet]), 48_000)).integrated_lufs
    alone = measure_loudness(Audio(loud, 48_000)).integrated_lufs
    # Ungated, the quiet half would pull the level down by 3 dB; gated, only the
    # three 400 ms blocks straddling the change (partly loud) count, costing < 0.1 LU.
    assert abs(mixed - alone) < 0.1


def test_loudness_range_of_two_levels() -> None:
    # Tech 3342 style: 20 s at one level then 20 s 10 dB lower -> LRA close to 10 LU.
    a = sine(1000, 20, 48_000, 10 ** (-20 / 20)).samples
    b = a * 10 ** (-10 / 20)
    lra = measure_loudness(Audio(np.concatenate([a, b]), 48_000)).loudness_range_lu
    assert lra == pytest.approx(10.0, abs=0.2)
