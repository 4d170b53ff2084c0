"""Reading and writing audio: formats, rates, channel counts, bad files, atomic writes."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import soundfile as sf
from conftest import pink_noise, sine

from tunesmith.audio import Audio, AudioReader, AudioWriter, info, load, resample, save
from tunesmith.errors import InputFileError, UsageError


@pytest.mark.parametrize(
    ("subtype", "tolerance"),
    [("PCM_16", 2 / 32768), ("PCM_24", 2 / 2**23), ("PCM_32", 1e-7), ("FLOAT", 0.0), ("DOUBLE", 1e-7)],
)
def test_wav_sample_formats_load_exactly(tmp_path, rng, subtype, tolerance) -> None:
    x = (rng.uniform(-0.9, 0.9, (4800, 2))).astype(np.float32)
    path = tmp_path / f"x_{subtype}.wav"
    sf.write(path, x, 48_000, subtype=subtype)
    audio = load(path)
    assert audio.samples.dtype == np.float32 and audio.samples.shape == (4800, 2)
    assert np.max(np.abs(audio.samples - x)) <= tolerance + 1e-9


@pytest.mark.parametrize("channels", [1, 2, 6, 8])
def test_channel_counts_and_extensible_header(tmp_path, rng, channels) -> None:
    x = rng.uniform(-0.5, 0.5, (1000, channels)).astype(np.float32)
    path = tmp_path / "multi.wav"
    sf.write(path, x, 44_100, format="WAVEX", subtype="PCM_24")  # WAVE_FORMAT_EXTENSIBLE
    audio = load(path)
    assert audio.channels == channels
    np.testing.assert_allclose(audio.samples, x, atol=1e-6)


@pytest.mark.parametrize("sample_rate", [8_000, 22_050, 44_100, 96_000, 192_000])
def test_sample_rates_are_kept(tmp_path, sample_rate) -> None:
    path = tmp_path / "rate.flac"
    save(sine(440, 0.5, sample_rate), path)
    assert load(path).sample_rate == sample_rate


@pytest.mark.parametrize(
    ("suffix", "encoding", "max_err"),
    [
        (".wav", "wav16", 3 / 32768),
        (".wav", "wav24", 2 / 2**23),
        (".wav", "wav32f", 0.0),
        (".flac", "flac", 2 / 2**23),
        (".flac", "flac16", 3 / 32768),
        (".aiff", "aiff", 2 / 2**23),
    ],
)
def test_lossless_round_trip(tmp_path, rng, suffix, encoding, max_err) -> None:
    audio = pink_noise(1, 44_100, rng)
    path = tmp_path / f"out{suffix}"
    save(audio, path, encoding)
    back = load(path)
    assert back.sample_rate == 44_100 and back.frames == audio.frames
    assert np.max(np.abs(back.samples - audio.samples)) <= max_err + 1e-9


@pytest.mark.parametrize("suffix", [".mp3", ".ogg"])
def test_lossy_round_trip_keeps_level_and_length(tmp_path, suffix) -> None:
    audio = sine(1000, 2, 44_100, 0.5)
    path = tmp_path / f"out{suffix}"
    save(audio, path)
    back = load(path)
    assert back.sample_rate == 44_100
    assert abs(back.frames - audio.frames) < 0.05 * audio.frames
    rms = np.sqrt(np.mean(back.samples[4410:-4410] ** 2))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.03)


def test_16_bit_output_is_dithered_and_reproducible(tmp_path) -> None:
    # A -100 dBFS tone is below half an LSB: truncation would erase it; TPDF dither keeps it audible in noise.
    quiet = sine(1000, 1, 48_000, 10 ** (-100 / 20), channels=1)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    save(quiet, a, "wav16", seed=7)
    save(quiet, b, "wav16", seed=7)
    assert a.read_bytes() == b.read_bytes()
    x = sf.read(a, dtype="int16")[0].astype(float)
    assert np.count_nonzero(x) > 0.3 * len(x)  # noise, not silence
    error = x / 32768 - quiet.samples[:, 0]
    assert abs(error.mean()) < 2e-6  # unbiased
    lsb = 1 / 32768
    # TPDF of +-1 LSB plus rounding: error variance = LSB^2/6 + LSB^2/12 = LSB^2/4.
    assert error.var() == pytest.approx(lsb**2 / 4, rel=0.05)


def test_resample_keeps_pitch_and_level() -> None:
    audio = sine(1000, 1, 44_100, 0.5, channels=2)
    out = resample(audio, 48_000)
    assert out.sample_rate == 48_000 and out.frames == 48_000
    spectrum = np.abs(np.fft.rfft(out.samples[:, 0] * np.hanning(out.frames)))
    assert np.argmax(spectrum) * 48_000 / out.frames == pytest.approx(1000, abs=1.0)
    assert np.sqrt(np.mean(out.samples[4800:-4800] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.001)


def test_mp3_decoding_falls_back_to_ffmpeg_for_other_containers(tmp_path) -> None:
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    wav = tmp_path / "src.wav"
    save(sine(440, 1, 44_100), wav)
    m4a = tmp_path / "song.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    audio = load(m4a)
    assert audio.sample_rate == 44_100 and audio.channels == 2
    assert abs(audio.frames - 44_100) < 4096


# ---------------------------------------------------------------- bad input


def test_missing_file(tmp_path) -> None:
    with pytest.raises(InputFileError, match="no such file") as err:
        load(tmp_path / "nope.wav")
    assert str(tmp_path / "nope.wav") in str(err.value)


def test_directory(tmp_path) -> None:
    with pytest.raises(InputFileError, match="is a directory"):
        load(tmp_path)


def test_zero_byte_file(tmp_path) -> None:
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(InputFileError, match="empty file"):
        load(p)


def test_text_file_named_wav(tmp_path) -> None:
    p = tmp_path / "notes.wav"
    p.write_text("this is not audio\n" * 20)
    with pytest.raises(InputFileError, match="not an audio file") as err:
        load(p)
    assert "\n" not in str(err.value)


def test_truncated_wav_header_is_an_error(tmp_path) -> None:
    p = tmp_path / "cut.wav"
    save(sine(440, 1, 44_100), p, "wav16")
    p.write_bytes(p.read_bytes()[:30])
    with pytest.raises(InputFileError, match="damaged WAV"):
        load(p)


def test_truncated_wav_data_is_read_with_a_warning(tmp_path) -> None:
    p = tmp_path / "cut.wav"
    save(sine(440, 2, 44_100), p, "wav16")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with AudioReader(p) as reader:
        audio = reader.read()
        assert any("truncated WAV" in w and "2.00 s" in w for w in reader.warnings)
    assert 0.9 < audio.duration_s < 1.1


def test_nan_and_inf_samples_are_rejected(tmp_path) -> None:
    x = np.zeros((4800, 2), np.float32)
    x[2400, 1] = np.nan
    p = tmp_path / "nan.wav"
    sf.write(p, x, 48_000, subtype="FLOAT")
    with pytest.raises(InputFileError, match=r"NaN or infinite samples \(first at 0.050 s\)"):
        load(p)
    x[2400, 1] = np.inf
    sf.write(p, x, 48_000, subtype="FLOAT")
    with pytest.raises(InputFileError, match="NaN or infinite"):
        load(p)


def test_one_sample_file_loads(tmp_path) -> None:
    p = tmp_path / "one.wav"
    sf.write(p, np.array([[0.25, -0.25]], np.float32), 48_000, subtype="FLOAT")
    audio = load(p)
    assert audio.frames == 1 and audio.samples[0, 0] == 0.25


def test_unsupported_sample_rate(tmp_path) -> None:
    p = tmp_path / "slow.wav"
    sf.write(p, np.zeros(100, np.float32), 4_000)
    with pytest.raises(InputFileError, match="unsupported sample rate 4000 Hz"):
        load(p)


def test_wav_with_no_frames(tmp_path) -> None:
    p = tmp_path / "none.wav"
    sf.write(p, np.zeros((0, 2), np.float32), 48_000)
    with pytest.raises(InputFileError, match="no audio"):
        info(p)


# ---------------------------------------------------------------- atomic writes


def test_failed_write_leaves_nothing_behind(tmp_path) -> None:
    target = tmp_path / "out.wav"
    with pytest.raises(RuntimeError), AudioWriter(target, 48_000, 2) as writer:
        writer.write(np.zeros((100, 2), np.float32))
        raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_existing_file_survives_a_failed_write(tmp_path) -> None:
    target = tmp_path / "out.wav"
    save(sine(440, 0.1, 48_000), target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError), AudioWriter(target, 48_000, 2) as writer:
        writer.write(np.ones((100, 2), np.float32))
        raise RuntimeError("boom")
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.wav"]


def test_unknown_output_suffix(tmp_path) -> None:
    with pytest.raises(UsageError, match="cannot tell the output format"):
        save(sine(440, 0.1), tmp_path / "out.xyz")


def test_mp3_refuses_high_rates(tmp_path) -> None:
    with pytest.raises(UsageError, match="MP3"):
        save(sine(440, 0.1, 96_000), tmp_path / "out.mp3")
    assert not (tmp_path / "out.mp3").exists()


def test_audio_type_validates_shape() -> None:
    assert Audio(np.zeros(10), 8000).samples.shape == (10, 1)
    with pytest.raises(ValueError):
        Audio(np.zeros((2, 2, 2)), 8000)


def _riff_chunks(data: bytes) -> list[bytes]:
    out, pos = [], 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        out.append(cid)
        pos += 8 + size + (size & 1)
    return out


def test_multichannel_wav_is_written_extensible(tmp_path, rng) -> None:
    p = tmp_path / "six.wav"
    save(Audio(rng.uniform(-0.5, 0.5, (100, 6)).astype(np.float32), 48_000), p)
    data = p.read_bytes()
    assert b"fmt " in _riff_chunks(data)
    fmt_at = data.index(b"fmt ")
    assert struct.unpack("<H", data[fmt_at + 8 : fmt_at + 10])[0] == 0xFFFE  # WAVE_FORMAT_EXTENSIBLE
