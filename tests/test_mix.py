"""Automatic mixing: roles, level invariance, lead on top, headroom, settings round trip, bad input."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tunesmith.audio import Audio, load, measure_loudness, save
from tunesmith.audio.bands import block_spectra
from tunesmith.audio.iir import highpass, peaking, sosfilt_inplace
from tunesmith.errors import InputFileError, UsageError
from tunesmith.mix import MixOptions, automix, load_settings, role_from_name
from tunesmith.mix.roles import classify, stem_features

RATE = 44_100
SECONDS = 12.0


def _t(seconds: float = SECONDS) -> np.ndarray:
    return np.arange(round(seconds * RATE)) / RATE


def kick(rng: np.random.Generator, seconds: float = SECONDS) -> np.ndarray:
    """A 55 Hz thump with a falling pitch every half second."""
    x = np.zeros(round(seconds * RATE))
    hit = np.arange(round(0.3 * RATE)) / RATE
    body = np.sin(2 * np.pi * (50 * hit + 60 * (1 - np.exp(-hit * 30)) / 30)) * np.exp(-hit * 12)
    for start in np.arange(0, seconds - 0.3, 0.5):
        s0 = round(start * RATE)
        x[s0 : s0 + len(body)] += body
    return 0.8 * x


def hats(rng: np.random.Generator, seconds: float = SECONDS) -> np.ndarray:
    """High-passed noise ticks on every eighth note."""
    x = np.zeros(round(seconds * RATE))
    n = round(0.06 * RATE)
    for start in np.arange(0, seconds - 0.1, 0.25):
        s0 = round(start * RATE)
        noise = rng.standard_normal(n) * np.exp(-np.arange(n) / RATE * 60)
        x[s0 : s0 + n] += noise
    y = x[:, None].astype(np.float32)
    sosfilt_inplace(highpass(6000, 4, RATE), y)
    return 0.5 * y[:, 0]


def bass(rng: np.random.Generator, seconds: float = SECONDS) -> np.ndarray:
    """Sustained low notes (a few harmonics), one per second."""
    t = _t(seconds)
    notes = np.array([41.2, 55.0, 49.0, 61.7])[(t // 1.0).astype(int) % 4]
    phase = 2 * np.pi * np.cumsum(notes) / RATE
    return 0.4 * (np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase))


def vocal(rng: np.random.Generator, seconds: float = SECONDS) -> np.ndarray:
    """A sung-like line: harmonic tone with vibrato, in phrases of 3 s with 1 s rests."""
    t = _t(seconds)
    f0 = np.array([330.0, 392.0, 440.0, 392.0, 349.0, 330.0])[(t // 0.5).astype(int) % 6]
    f0 = f0 * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    phrase = ((t % 4.0) < 3.0).astype(float)
    env = np.convolve(phrase, np.ones(2000) / 2000, mode="same")
    return 0.3 * tone * env


def pad(rng: np.random.Generator, seconds: float = SECONDS) -> np.ndarray:
    """A sustained triad."""
    t = _t(seconds)
    return 0.15 * sum(np.sin(2 * np.pi * f * t + i) for i, f in enumerate((261.6, 329.6, 392.0, 523.2)))


MAKERS = {"kick": kick, "hats": hats, "bass": bass, "vocal": vocal, "pad": pad}


def write_stems(folder: Path, rng: np.random.Generator, gains_db: dict[str, float] | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in MAKERS.items():
        x = make(np.random.default_rng(7)) * 10 ** ((gains_db or {}).get(name, 0.0) / 20)
        stereo = np.repeat(x[:, None], 2, axis=1).astype(np.float32)
        path = folder / f"{name}.wav"
        save(Audio(stereo, RATE), path, "wav32f")
        paths.append(path)
    return paths


def test_role_from_name() -> None:
    cases = {
        "Lead Vox.wav": "lead_vocal",
        "LeadVocal_comp.wav": "lead_vocal",
        "BV harmony 2.wav": "backing_vocal",
        "Kick In.wav": "kick",
        "bass drum.wav": "kick",
        "SNR top.wav": "snare",
        "OH L.wav": "drums",
        "HiHat.wav": "hats",
        "Bass DI.wav": "bass",
        "808.wav": "bass",
        "Ac Gtr.wav": "guitar",
        "Rhodes.wav": "keys",
        "Strings.wav": "pad",
        "Trumpet.wav": "brass",
        "Synth Lead.wav": "synth_lead",
        "riser fx.wav": "fx",
        "Audio 07.wav": None,
    }
    for name, role in cases.items():
        assert role_from_name(name) == role, name


def test_audio_decides_when_the_name_says_nothing(rng: np.random.Generator) -> None:
    expected = {"kick": "kick", "hats": "hats", "bass": "bass"}
    for name, role in expected.items():
        x = np.repeat(MAKERS[name](rng)[:, None], 2, axis=1).astype(np.float32)
        features = stem_features(x, block_spectra(x, RATE))
        got, confidence, source = classify("Audio 01.wav", features)
        assert source == "audio"
        assert got == role, (name, got, features)
        assert 0.0 < confidence <= 1.0


def test_block_loudness_matches_the_meter(rng: np.random.Generator) -> None:
    for name, make in MAKERS.items():
        x = np.repeat(make(rng)[:, None], 2, axis=1).astype(np.float32)
        ours = block_spectra(x, RATE).integrated_lufs()
        meter = measure_loudness(Audio(x, RATE), true_peak=False).integrated_lufs
        assert ours == pytest.approx(meter, abs=0.05), name


def test_biquad_cascade_matches_scipy(rng: np.random.Generator) -> None:
    from scipy.signal import sosfilt

    sos = np.vstack([highpass(80, 4, RATE), peaking(1000, -4, 2, RATE)])
    for channels in (1, 2, 3):
        x = rng.standard_normal((20_000, channels)).astype(np.float32)
        ref = sosfilt(sos, x.astype(np.float64), axis=0)
        ours = sosfilt_inplace(sos, x.copy())
        assert np.max(np.abs(ours - ref)) < 1e-5


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    folder = tmp_path_factory.mktemp("stems")
    write_stems(folder, np.random.default_rng(1))
    out = folder.parent / "mix.wav"
    report, settings = automix([folder], out)
    settings_path = folder.parent / "settings.json"
    settings.save(settings_path)
    return out, report.to_dict(), settings_path


def test_headroom_and_level(mixed: tuple[Path, dict, Path]) -> None:
    out, report, _ = mixed
    lo = measure_loudness(load(out))
    assert lo.true_peak_dbtp <= -6.0 + 0.05
    assert lo.integrated_lufs <= -18.0 + 0.1
    # At the target loudness unless the true-peak ceiling held it back.
    assert abs(lo.integrated_lufs + 18.0) <= 0.1 or lo.true_peak_dbtp >= -6.1
    assert report["output_loudness_lufs"] == pytest.approx(lo.integrated_lufs, abs=0.1)


def test_roles_lead_and_pan(mixed: tuple[Path, dict, Path]) -> None:
    _, report, _ = mixed
    by_name = {Path(s["file"]).stem: s for s in report["stems"]}
    assert by_name["vocal"]["role"] == "lead_vocal"
    assert Path(report["lead"]).stem == "vocal"
    for centred in ("kick", "bass", "vocal"):
        assert by_name[centred]["pan"] == 0.0
    # The lead is the loudest stem in the mix; the others sit below it by role.
    lead = by_name["vocal"]["mix_lufs"]
    assert all(s["mix_lufs"] < lead for k, s in by_name.items() if k != "vocal")
    assert by_name["hats"]["mix_lufs"] < by_name["kick"]["mix_lufs"]


def test_levels_do_not_depend_on_recording_level(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    levels = []
    for trial in range(3):
        gains = {name: float(rng.uniform(-15, 15)) for name in MAKERS}
        folder = write_stems(tmp_path / f"t{trial}", rng, gains)
        report, _ = automix(folder, tmp_path / f"mix{trial}.wav")
        levels.append([s["mix_lufs"] for s in report.to_dict()["stems"]])
    spread = np.std(np.array(levels), axis=0)
    assert np.all(spread <= 0.5), spread


def test_apply_reproduces_and_follows_edits(mixed: tuple[Path, dict, Path], tmp_path: Path) -> None:
    out, report, settings_path = mixed
    again = tmp_path / "again.wav"
    automix([], again, MixOptions(apply=load_settings(settings_path)))
    assert sf.read(again)[0].tobytes() == sf.read(out)[0].tobytes()
    # An edit (hats up 6 dB) is followed exactly: the hats move 6 dB against the rest.
    doc = json.loads(settings_path.read_text())
    for s in doc["stems"]:
        if Path(s["file"]).stem == "hats":
            s["gain_db"] += 6.0
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    rep, _ = automix([], tmp_path / "edited.wav", MixOptions(apply=load_settings(edited)))
    before = {Path(s["file"]).stem: s["mix_lufs"] for s in report["stems"]}
    after = {Path(s["file"]).stem: s["mix_lufs"] for s in rep.to_dict()["stems"]}
    assert (after["hats"] - after["kick"]) - (before["hats"] - before["kick"]) == pytest.approx(6.0, abs=0.05)


def test_bad_settings_file(tmp_path: Path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text('{"version": 1, "stems": [{"file": "a.wav", "role": "tuba"}], "bus": {}}')
    with pytest.raises(InputFileError, match="unknown role"):
        load_settings(bad)
    bad.write_text("not json")
    with pytest.raises(InputFileError, match="not a settings JSON"):
        load_settings(bad)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tunesmith.cli", *args], capture_output=True, text=True, check=False)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = run_cli("mix", str(tmp_path / "empty"), "-o", str(tmp_path / "m.wav"))
    assert proc.returncode == 1
    assert "no audio files" in proc.stderr and "empty" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.wav").exists()


def test_corrupt_stem_among_good_ones(tmp_path: Path) -> None:
    folder = tmp_path / "stems"
    write_stems(folder, np.random.default_rng(2))
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    out = tmp_path / "m.wav"
    proc = run_cli("mix", str(folder), "-o", str(out), "--settings", str(tmp_path / "s.json"))
    assert proc.returncode == 1
    assert "broken.wav" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and not (tmp_path / "s.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_one_stem_silent_stem_and_longer_stem(tmp_path: Path) -> None:
    folder = tmp_path / "stems"
    folder.mkdir()
    x = np.repeat(vocal(np.random.default_rng(0))[:, None], 2, axis=1).astype(np.float32)
    save(Audio(x, RATE), folder / "vox.wav", "wav32f")
    report, _ = automix([folder / "vox.wav"], tmp_path / "one.wav")
    assert report.output_true_peak_dbtp <= -6.0 + 0.05
    # A silent stem is kept and reported; a much longer stem sets the length.
    save(Audio(np.zeros((RATE * 4, 2), np.float32), RATE), folder / "silence.wav", "wav32f")
    long = np.repeat(pad(np.random.default_rng(0), 3 * SECONDS)[:, None], 2, axis=1).astype(np.float32)
    save(Audio(long, 48_000), folder / "pad.wav", "wav32f")  # another rate too: resampled
    report, _ = automix([folder], tmp_path / "three.wav")
    assert sf.info(str(tmp_path / "three.wav")).frames == round(len(long) * RATE / 48_000)
    assert any("silence.wav is silent" in w for w in report.warnings)
    assert any("much longer" in n for n in report.notes)
    assert any("resampled to 44100 Hz: pad.wav" in n for n in report.notes)
    silent = next(s for s in report.stems if s["file"].endswith("silence.wav"))
    assert silent["silent"] and silent["mix_lufs"] is None


def test_sixty_four_stems_and_too_many(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(3)
    makers = list(MAKERS.values())
    for i in range(64):
        x = makers[i % len(makers)](rng, 2.0) * rng.uniform(0.2, 1.0)
        sf.write(str(folder / f"track {i:02d}.wav"), x.astype(np.float32), RATE, subtype="FLOAT")
    out = tmp_path / "m.wav"
    report, _ = automix([folder], out)
    assert len(report.stems) == 64
    assert measure_loudness(load(out)).true_peak_dbtp <= -6.0 + 0.05
    sf.write(str(folder / "track 64.wav"), np.zeros(RATE, np.float32), RATE)
    with pytest.raises(UsageError, match="at most 64"):
        automix([folder], tmp_path / "m2.wav")


# --- compiled console kernels (speed, issue 5): they must sound exactly like pedalboard's processors ---


def _programme(rng: np.random.Generator, seconds: float = 4.0) -> np.ndarray:
    """Stereo test material with swells, bursts and true silences (where envelopes decay)."""
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    swell = 0.02 + 0.6 * (0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t)) ** 3
    x = rng.standard_normal((n, 2)) * swell[:, None] * 0.3
    x[:, 1] += 0.4 * np.sin(2 * np.pi * 220 * t) * swell
    x[round(1.5 * RATE) : round(2.2 * RATE)] = 0.0  # a rest
    return x.astype(np.float32)


@pytest.mark.parametrize(
    ("threshold_db", "ratio", "attack_ms", "release_ms"),
    [(-20.0, 4.0, 10.0, 150.0), (-30.0, 2.0, 0.5, 80.0), (-12.0, 8.0, 30.0, 1000.0)],
)
def test_compressor_matches_pedalboard(
    rng: np.random.Generator, threshold_db: float, ratio: float, attack_ms: float, release_ms: float
) -> None:
    import pedalboard

    from tunesmith.mix import kernels

    x = _programme(rng)
    board = pedalboard.Pedalboard([pedalboard.Compressor(threshold_db, ratio, attack_ms, release_ms)])
    ref = board(x.T.copy(), RATE).T
    coefs = kernels.compressor_coefficients(threshold_db, ratio, attack_ms, release_ms, RATE)
    ours = kernels.compress_measure(x, coefs, None, 4410)[0]
    # The same float32 arithmetic as JUCE's Compressor: equal to the last bit or within one rounding.
    assert np.max(np.abs(ours - ref)) <= 1e-6
    assert np.max(np.abs(ours - x)) > 0.01  # it did compress
    mono = kernels.compress_measure(np.ascontiguousarray(x[:, :1]), coefs, None, 4410)[0]
    assert np.array_equal(mono[:, 0], ours[:, 0])  # channels are independent, as in JUCE


def test_compressor_meters_what_it_puts_out(rng: np.random.Generator) -> None:
    from tunesmith.audio.meter import k_weighting_sos
    from tunesmith.mix import kernels

    x = _programme(rng, 3.05)  # a last partial block
    coefs = kernels.compressor_coefficients(-24.0, 3.0, 5.0, 100.0, RATE)
    y, k_power, plain = kernels.compress_measure(x, coefs, k_weighting_sos(RATE), 4410)
    ref = block_spectra(y, RATE)
    assert len(k_power) == len(ref.k_power) == 31
    np.testing.assert_allclose(k_power, ref.k_power, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(plain, ref.band_power.sum(axis=1), rtol=1e-5, atol=1e-12)
    # In place gives the same samples.
    z = x.copy()
    kernels.compress_measure(z, coefs, None, 4410, out=z)
    assert np.array_equal(z, y)


def test_reverb_matches_pedalboard(rng: np.random.Generator) -> None:
    import pedalboard

    from tunesmith.mix import kernels

    x = _programme(rng, 3.0) * np.float32(0.3)
    for rate, room, damping, width in ((RATE, 0.45, 0.5, 1.0), (48_000, 0.8, 0.2, 0.6)):
        board = pedalboard.Pedalboard(
            [pedalboard.Reverb(room_size=room, damping=damping, wet_level=1.0, dry_level=0.0, width=width)]
        )
        ref = board(x.T.copy(), rate).T
        for threads in (1, 2):
            ours = kernels.freeverb(x, room, damping, width, rate, threads=threads)
            assert np.array_equal(ours, ref), (rate, threads, float(np.max(np.abs(ours - ref))))
    assert np.max(np.abs(ref[round(2.5 * RATE) :])) > 1e-3  # a tail rings on after the input


def test_add_placed_matches_place(rng: np.random.Generator) -> None:
    from tunesmith.mix import console, kernels
    from tunesmith.mix.settings import StemSettings

    y = _programme(rng, 1.0)
    fader = np.linspace(0.5, 1.0, len(y)).astype(np.float32)
    for channels, width, pan in ((2, 1.0, 0.0), (2, 0.4, -0.5), (1, 1.0, 0.75)):
        s = StemSettings(file="a.wav", role="keys", gain_db=-4.5, pan=pan, width=width, reverb_send_db=-12.0)
        part = np.ascontiguousarray(y[:, :channels])
        ref = console.place(part, s, fader)
        bus = np.zeros((len(y), 2), np.float32)
        send = np.zeros((len(y), 2), np.float32)
        g = 10 ** (s.gain_db / 20)
        gl, gr = console.pan_gains(pan)
        k = np.sqrt(2.0) if channels == 2 else 1.0
        kernels.add_placed(bus, send, part, (g * gl * k, g * gr * k), width, fader, 10 ** (-12 / 20))
        np.testing.assert_allclose(bus, ref, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(send, ref * 10 ** (-12 / 20), rtol=1e-5, atol=1e-7)


def test_mix_is_bit_identical_run_to_run(mixed: tuple[Path, dict, Path], tmp_path: Path) -> None:
    out, report, _ = mixed
    again = tmp_path / "again.wav"
    automix([Path(s["file"]) for s in report["stems"]], again)
    assert sf.read(again)[0].tobytes() == sf.read(out)[0].tobytes()


def test_mix_is_the_same_whatever_the_workers_and_wherever_stems_are_parked(
    mixed: tuple[Path, dict, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    automix_module = importlib.import_module("tunesmith.mix.automix")  # the package's `automix` is the function

    out, report, _ = mixed
    stems = [Path(s["file"]) for s in report["stems"]]
    one = tmp_path / "one-worker.wav"
    automix(stems, one, MixOptions(workers=1))
    # A budget of 0 bytes parks every stem in a temporary file (memory-mapped) instead of memory.
    monkeypatch.setattr(automix_module, "PARK_IN_MEMORY_BYTES", 0)
    on_disk = tmp_path / "on-disk.wav"
    automix(stems, on_disk, MixOptions(workers=3))
    reference = sf.read(out)[0].tobytes()
    assert sf.read(one)[0].tobytes() == reference
    assert sf.read(on_disk)[0].tobytes() == reference


def test_listen_equals_the_separate_analyses(rng: np.random.Generator) -> None:
    from tunesmith.mix.automix import _loud_level_db
    from tunesmith.mix.listen import listen, loud_level_db

    # Music with rests (the K filter rings down into exact silence) and a last partial block.
    x = _programme(rng, 6.05)
    x[round(1.0 * RATE) : round(2.5 * RATE)] = 0.0
    for stem in (x, np.ascontiguousarray(x[:, :1])):
        ref = block_spectra(stem, RATE)
        spectra, sums = listen(stem, RATE)
        assert len(spectra.k_power) == len(ref.k_power) == 61
        np.testing.assert_allclose(spectra.k_power, ref.k_power, rtol=1e-5, atol=1e-15)
        np.testing.assert_allclose(spectra.band_power, ref.band_power, rtol=1e-5, atol=1e-15)
        assert spectra.integrated_lufs() == pytest.approx(ref.integrated_lufs(), abs=1e-6)
        assert loud_level_db(sums.hop_power, sums.hop_frames, sums.channels) == pytest.approx(
            _loud_level_db(stem, RATE), abs=1e-6
        )
        ours, theirs = stem_features(stem, spectra, sums), stem_features(stem, ref)
        for name, value in theirs.__dict__.items():
            assert getattr(ours, name) == pytest.approx(value, rel=1e-4, abs=1e-6), name


def test_meter_keeps_its_pace_in_silences(rng: np.random.Generator) -> None:
    """Clicks in silence: the K filter's states decay to zero instead of into subnormal floats."""
    import time

    from tunesmith.audio.meter import k_weighting_sos
    from tunesmith.mix import kernels

    sos = k_weighting_sos(RATE)
    dense = (rng.standard_normal((20 * RATE, 2)) * 0.1).astype(np.float32)
    clicks = np.zeros_like(dense)
    clicks[:: RATE // 2] = 0.5  # each click rings down into exact silence
    kernels.compress_measure(clicks[:4410], None, sos, 4410)  # compiled before timing

    def cpu(x: np.ndarray) -> float:
        best = np.inf
        for _ in range(3):
            t0 = time.thread_time()
            kernels.compress_measure(x, None, sos, 4410)
            best = min(best, time.thread_time() - t0)
        return best

    # A section that held subnormal states was ~10x slower than dense audio; equal pace now.
    assert cpu(clicks) < 2.0 * cpu(dense)
    k_power = kernels.compress_measure(clicks, None, sos, 4410)[1]
    np.testing.assert_allclose(k_power, block_spectra(clicks, RATE).k_power, rtol=1e-5, atol=1e-15)


def test_fused_strip_filter_matches_the_cascade(rng: np.random.Generator) -> None:
    from tunesmith.audio.iir import sosfilt_fused_inplace

    x = _programme(rng, 2.0)
    for sections in (highpass(80.0, 4, RATE), np.vstack((highpass(120.0, 4, RATE), peaking(2500.0, -4.0, 1.4, RATE)))):
        ref = sosfilt_inplace(sections, x.copy())
        ours = sosfilt_fused_inplace(sections, x.copy())
        # float64 between sections instead of float32: within a float32 rounding or two
        assert np.max(np.abs(ours - ref)) <= 2e-7 * max(1.0, float(np.max(np.abs(ref))))
        assert np.max(np.abs(ours - x)) > 0.01  # it filtered
        mono = np.ascontiguousarray(x[:, :1])
        assert np.array_equal(sosfilt_fused_inplace(sections, mono.copy()), sosfilt_inplace(sections, mono.copy()))


def test_lanes_meter_equals_one_pass_across_segment_seams(rng: np.random.Generator) -> None:
    from tunesmith.audio.meter import k_weighting_sos
    from tunesmith.mix import kernels

    sos = k_weighting_sos(RATE)
    x = _programme(rng, 6.05)  # 61 blocks, the last partial
    # Stereo runs in two segments (seam at block 30), mono in four (seams at 15, 30, 45): put a
    # burst right before each seam and silence after it, where only the K filter's ringing
    # carried across the seam is left to measure.
    for seam in (15, 30, 45):
        x[(seam - 1) * 4410 : seam * 4410] = rng.standard_normal((4410, 2)).astype(np.float32)
        x[seam * 4410 : (seam + 2) * 4410] = 0.0
    for stem in (x, np.ascontiguousarray(x[:, :1])):
        ref = block_spectra(stem, RATE)
        k_power, plain = kernels.block_powers(stem, sos, 4410)
        assert len(k_power) == len(ref.k_power) == 61
        np.testing.assert_allclose(k_power, ref.k_power, rtol=1e-5, atol=1e-20)
        np.testing.assert_allclose(plain, ref.band_power.sum(axis=1), rtol=1e-5, atol=1e-20)
        assert k_power[30] > 0.0  # the ringing after the seam, measured although the input is silent there
    short = np.ascontiguousarray(x[:5000])  # too short for lanes: the scalar meter
    np.testing.assert_allclose(kernels.block_powers(short, sos, 4410)[0], block_spectra(short, RATE).k_power, rtol=1e-5)
