"""Mastering: targets hit exactly, ceilings held, references matched, bad input handled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import pink_noise, shared

from tunesmith.audio import Audio, load, measure_loudness, save, true_peak
from tunesmith.audio.features import SpectrumAccumulator
from tunesmith.audio.fir import BlockFir, magnitude_on_grid, minimum_phase_fir
from tunesmith.audio.tonal import BAND_CENTRES_HZ, band_levels_db
from tunesmith.errors import InputFileError, UsageError
from tunesmith.master import PRESETS, MasterSettings, master, parse_target
from tunesmith.master.limiter import LimiterCurve, true_peak_envelope

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "tunesmith" / "data" / "example.ogg"


def song(rng: np.random.Generator, seconds: float = 12.0, sample_rate: int = 44_100, channels: int = 2) -> Audio:
    """Music-like test signal: pink noise with drum-like bursts and a quiet and a loud section."""
    audio = pink_noise(seconds, sample_rate, rng, channels)
    x = audio.samples.copy()
    n = len(x)
    beat = int(0.5 * sample_rate)
    t = np.arange(int(0.08 * sample_rate)) / sample_rate
    hit = (np.sin(2 * np.pi * 60 * t) * np.exp(-t * 40))[:, None] * 0.6
    for s in range(0, n - len(t), beat):
        x[s : s + len(t)] += hit.astype(np.float32)
    x[: n // 3] *= 0.35  # a quiet verse
    return Audio(np.clip(x, -1, 1), sample_rate)


@pytest.fixture
def song_wav(tmp_path, rng) -> Path:
    path = tmp_path / "song.wav"
    save(song(rng), path, "wav24")
    return path


def test_parse_target() -> None:
    assert parse_target("streaming") == PRESETS["streaming"]
    assert parse_target("APPLE").lufs == -16.0
    assert parse_target("-12").lufs == -12.0 and parse_target("-12").ceiling_dbtp == -1.0
    assert parse_target("club", ceiling_dbtp=-0.1).ceiling_dbtp == -0.1
    assert parse_target(None, reference_lufs=-9.87).lufs == -9.87
    assert parse_target(None).name == "streaming"
    for bad in ("loud", "-80", "5"):
        with pytest.raises(UsageError):
            parse_target(bad)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_hits_loudness_and_ceiling(tmp_path, song_wav, preset) -> None:
    out = tmp_path / "master.wav"
    report, _ = master(song_wav, out, MasterSettings(target=preset))
    lo = measure_loudness(load(out))
    target = PRESETS[preset]
    assert abs(lo.integrated_lufs - target.lufs) <= 0.1
    assert lo.true_peak_dbtp <= target.ceiling_dbtp
    assert report.output_loudness["integrated_lufs"] == pytest.approx(lo.integrated_lufs, abs=0.01)


def test_lra_survives_at_intensity_half(tmp_path, song_wav) -> None:
    report, _ = master(song_wav, tmp_path / "m.wav", MasterSettings(intensity=0.5))
    assert report.output_loudness["loudness_range_lu"] >= 0.7 * report.input_loudness["loudness_range_lu"]


def test_same_input_gives_identical_bytes(tmp_path, song_wav) -> None:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    master(song_wav, a, MasterSettings(encoding="wav16"))
    master(song_wav, b, MasterSettings(encoding="wav16"))
    assert a.read_bytes() == b.read_bytes()


def test_one_core_runs_the_stages_in_turn_with_the_same_output(tmp_path, song_wav, monkeypatch) -> None:
    """On one core the overlapped stages run inline in the caller's thread, and nothing changes."""
    import threading

    from tunesmith.cores import THREADS_ENV, InlineExecutor, stage_pool

    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    monkeypatch.setenv(THREADS_ENV, "2")
    master(song_wav, a, MasterSettings(encoding="wav16"))
    monkeypatch.setenv(THREADS_ENV, "1")
    assert isinstance(stage_pool(), InlineExecutor)
    before = threading.active_count()
    master(song_wav, b, MasterSettings(encoding="wav16"))
    assert threading.active_count() == before
    assert a.read_bytes() == b.read_bytes()


def test_inline_executor_keeps_an_error_for_result() -> None:
    from tunesmith.cores import InlineExecutor

    future = InlineExecutor().submit(int, "not a number")
    with pytest.raises(ValueError):
        future.result()
    assert InlineExecutor().submit(pow, 2, 10).result() == 1024


def test_reference_matching_moves_the_balance_towards_the_reference(tmp_path, rng, song_wav) -> None:
    # A reference with much more top end and less bass than the input.
    ref = pink_noise(10, 48_000, rng)
    spectrum = np.fft.rfft(ref.samples, axis=0)
    f = np.fft.rfftfreq(ref.frames, 1 / 48_000)
    spectrum *= np.clip((f / 1000.0) ** 0.5, 0.2, 5.0)[:, None]
    ref_x = np.fft.irfft(spectrum, n=ref.frames, axis=0)
    ref_path = tmp_path / "ref.flac"  # another format, rate and length than the input
    save(Audio((ref_x / np.abs(ref_x).max() * 0.5).astype(np.float32), 48_000), ref_path)
    out = tmp_path / "m.wav"
    report, _ = master(song_wav, out, MasterSettings(references=[str(ref_path)]))

    def bands(path: Path) -> np.ndarray:
        a = load(path)
        acc = SpectrumAccumulator(a.sample_rate)
        acc.push(a.samples.mean(axis=1))
        return band_levels_db(*acc.result())

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        sel = (BAND_CENTRES_HZ >= 25) & (BAND_CENTRES_HZ <= 16_000)
        d = a[sel] - b[sel]
        return float(np.mean(np.abs(d - d.mean())))

    before = distance(bands(song_wav), bands(ref_path))
    after = distance(bands(out), bands(ref_path))
    assert after < 0.5 * before
    ref_lufs = measure_loudness(load(ref_path)).integrated_lufs
    assert report.target["name"] == "reference"
    assert abs(measure_loudness(load(out)).integrated_lufs - ref_lufs) <= 0.1


def test_mono_stays_mono_and_rates_are_kept(tmp_path, rng) -> None:
    for rate in (8_000, 192_000):
        src = tmp_path / f"mono{rate}.wav"
        save(song(rng, 6.0, rate, channels=1), src, "wav24")
        out = tmp_path / f"out{rate}.flac"
        master(src, out, MasterSettings())
        a = load(out)
        assert a.channels == 1 and a.sample_rate == rate
        lo = measure_loudness(a)
        assert abs(lo.integrated_lufs + 14.0) <= 0.1 and lo.true_peak_dbtp <= -1.0


def test_sample_rate_conversion(tmp_path, song_wav) -> None:
    out = tmp_path / "m48.wav"
    master(song_wav, out, MasterSettings(sample_rate=48_000))
    a = load(out)
    assert a.sample_rate == 48_000 and abs(a.duration_s - 12.0) < 0.01


def test_mp3_and_16_bit_outputs_respect_the_ceiling(tmp_path, song_wav) -> None:
    for name, fmt in (("m.mp3", None), ("m16.wav", "wav16")):
        out = tmp_path / name
        master(song_wav, out, MasterSettings(encoding=fmt))
        lo = measure_loudness(load(out))
        assert lo.true_peak_dbtp <= -1.0
        assert abs(lo.integrated_lufs + 14.0) <= 0.1


def test_clipped_input_is_mastered_with_a_warning(tmp_path, rng) -> None:
    x = song(rng).samples * 4.0
    src = tmp_path / "clipped.wav"
    save(Audio(np.clip(x, -1, 1), 44_100), src, "wav16")
    report, _ = master(src, tmp_path / "m.wav", MasterSettings())
    assert any("clipped" in w for w in report.warnings)
    assert report.output_loudness["true_peak_dbtp"] <= -1.0


def test_silence_is_an_error(tmp_path) -> None:
    src = tmp_path / "silence.wav"
    sf.write(src, np.zeros((44_100 * 3, 2), np.float32), 44_100)
    with pytest.raises(InputFileError, match="nothing to master"):
        master(src, tmp_path / "m.wav", MasterSettings())
    assert not (tmp_path / "m.wav").exists()


def test_nan_input_is_an_error(tmp_path) -> None:
    src = tmp_path / "nan.wav"
    x = np.zeros((44_100, 2), np.float32)
    x[10] = np.nan
    sf.write(src, x, 44_100, subtype="FLOAT")
    with pytest.raises(InputFileError, match="NaN"):
        master(src, tmp_path / "m.wav", MasterSettings())


def test_refuses_to_overwrite_input(song_wav) -> None:
    before = song_wav.read_bytes()
    with pytest.raises(UsageError, match="overwrite"):
        master(song_wav, song_wav, MasterSettings())
    assert song_wav.read_bytes() == before


def test_bad_options() -> None:
    for settings in (MasterSettings(intensity=1.5), MasterSettings(width=-1), MasterSettings(style="loud")):
        with pytest.raises(UsageError):
            settings.validate()


# ---------------------------------------------------------------- building blocks


def test_limiter_holds_the_ceiling_on_hot_noise(rng) -> None:
    x = (rng.standard_normal((44_100 * 3, 2)) * 0.5).astype(np.float32)
    env = true_peak_envelope(x, 44_100)
    curve = LimiterCurve(env, 44_100, pre_gain_db=12.0, ceiling_dbtp=-1.0)
    y = np.concatenate([x[s : s + len(g)] * (g * np.float32(curve.pre_gain))[:, None] for s, g in curve.blocks()])
    assert 20 * np.log10(true_peak(y, 44_100).max()) <= -1.0 + 0.05


def test_minimum_phase_fir_has_the_asked_magnitude_and_no_pre_ringing() -> None:
    rate, taps = 44_100, 4096
    gains = np.where(BAND_CENTRES_HZ < 200, 6.0, np.where(BAND_CENTRES_HZ > 5000, -4.0, 0.0))
    grid = magnitude_on_grid(BAND_CENTRES_HZ, gains, 4 * taps, rate)
    h = minimum_phase_fir(grid, taps)
    response = 20 * np.log10(np.abs(np.fft.rfft(h, 4 * taps)))
    freqs = np.fft.rfftfreq(4 * taps, 1 / rate)
    for f, want in ((60, 6.0), (1000, 0.0), (10_000, -4.0)):
        assert response[np.argmin(np.abs(freqs - f))] == pytest.approx(want, abs=0.3)
    energy = np.cumsum(h**2) / np.sum(h**2)
    assert energy[int(0.005 * rate)] > 0.9  # 90 % of the energy within 5 ms of the onset: no pre-echo


def test_block_fir_equals_one_long_convolution(rng) -> None:
    h = rng.standard_normal(257)
    x = rng.standard_normal((2, 10_000)).astype(np.float32)
    fir = BlockFir([h, h * 0.5])
    y = np.concatenate([fir.process(x[:, s : s + 3000]) for s in range(0, 10_000, 3000)], axis=1)
    np.testing.assert_allclose(y[0], np.convolve(x[0], h)[:10_000], atol=1e-4)
    np.testing.assert_allclose(y[1], np.convolve(x[1], h * 0.5)[:10_000], atol=1e-4)


# ---------------------------------------------------------------- CLI


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tunesmith.cli", *args], capture_output=True, text=True, check=False)


def test_cli_json_report_preview_and_recipe(tmp_path) -> None:
    out, report, preview = tmp_path / "m.wav", tmp_path / "r.html", tmp_path / "p.wav"
    proc = run(
        "master",
        str(EXAMPLE),
        "-o",
        str(out),
        "--target",
        "apple",
        "--report",
        str(report),
        "--preview",
        str(preview),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["target"]["integrated_lufs"] == -16.0
    assert abs(doc["output_loudness"]["integrated_lufs"] + 16.0) <= 0.1
    assert set(doc["files"]) == {"output", "report", "preview"}
    text = report.read_text()
    assert text.count("data:image/png;base64,") == 3 and "http" not in text.split("<body>")[1]
    clip = load(preview)
    assert clip.duration_s == pytest.approx(2 * 16.0 + 0.75, abs=0.2)  # shorter than 30 s: the whole song, twice
    half = int(16.0 * clip.sample_rate)
    a = measure_loudness(Audio(clip.samples[:half], clip.sample_rate)).integrated_lufs
    b = measure_loudness(Audio(clip.samples[-half:], clip.sample_rate)).integrated_lufs
    assert abs(a - b) < 0.3  # loudness-matched A/B
    recipe = json.loads((tmp_path / "m.wav.recipe.json").read_text())
    assert recipe["command"] == "master" and recipe["parameters"]["target"]["name"] == "apple"


def test_cli_bad_input_is_one_line(tmp_path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_text("no")
    proc = run("master", str(bad), "-o", str(tmp_path / "o.wav"))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.wav").exists()
    proc = run("master", str(EXAMPLE), "-o", str(tmp_path / "o.wav"), "--target", "loud")
    assert proc.returncode == 2 and "unknown --target" in proc.stderr


def test_real_mix_streaming_preset() -> None:
    src = shared("mixes", "Kevin_MacLeod_-_Vibe_Ace.hq.ogg")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "m.flac"
        report, _ = master(src, out, MasterSettings())
        lo = measure_loudness(load(out))
        assert abs(lo.integrated_lufs + 14.0) <= 0.1 and lo.true_peak_dbtp <= -1.0
        assert report.output_loudness["loudness_range_lu"] >= 0.7 * report.input_loudness["loudness_range_lu"]


def test_warnings_name_the_problems(tmp_path, rng) -> None:
    x = song(rng, 8.0).samples
    problems = {
        "phase": np.stack([x[:, 0], -x[:, 0]], axis=1) * 0.5 + x * 0.05,  # mostly out of phase
        "quiet": x * 10 ** (-30 / 20),
        "dc": x * 0.5 + 0.01,
    }
    t = np.arange(len(x)) / 44_100
    sub = 0.5 * np.sin(2 * np.pi * 30 * t)[:, None] + x * 0.05
    problems["sub-bass"] = np.repeat(sub[:, :1], 2, axis=1)
    expected = {"phase": "correlation is negative", "quiet": "very quiet", "dc": "DC offset", "sub-bass": "sub-bass"}
    for name, signal in problems.items():
        src = tmp_path / f"{name}.wav"
        save(Audio(np.clip(signal, -1, 1).astype(np.float32), 44_100), src, "wav24")
        report, _ = master(src, tmp_path / f"{name}-m.wav", MasterSettings())
        assert any(expected[name] in w for w in report.warnings), (name, report.warnings)
