"""`tunesmith analyze` end to end: JSON contract, plots, recipes and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import shared, sine

from tunesmith.audio import save
from tunesmith.provenance import read_recipe, sha256_file

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "tunesmith" / "data" / "example.ogg"
REQUIRED_KEYS = {
    "integrated_lufs",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "loudness_range_lu",
    "short_term_max_lufs",
    "momentary_max_lufs",
    "duration_s",
    "sample_rate_hz",
    "channels",
    "tempo_bpm",
    "key",
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tunesmith.cli", *args], capture_output=True, text=True, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], path: Path, problem: str) -> None:
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"tunesmith: error: {path}: ")
    assert problem in lines[0]
    assert "Traceback" not in proc.stderr


def test_ebu_tone_reads_minus_23() -> None:
    path = shared("ebu_loudness", "seq-3341-1-16bit.wav")
    proc = run("analyze", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert abs(doc["integrated_lufs"] + 23.0) <= 0.1
    assert doc.keys() >= REQUIRED_KEYS
    assert doc["sample_rate_hz"] == 48_000 and doc["channels"] == 2 and doc["duration_s"] == 20.0


def test_bundled_example_json_contract() -> None:
    proc = run("analyze", str(EXAMPLE), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # exactly one JSON document
    assert doc.keys() >= REQUIRED_KEYS
    assert all(k == k.lower() and " " not in k for k in doc)
    assert doc["key"] == "C major"  # the example is I-V-vi-IV in C
    assert doc["tempo_bpm"] == pytest.approx(120, abs=2)
    assert doc["true_peak_dbtp"] >= doc["sample_peak_dbfs"]
    assert doc["plr_db"] == pytest.approx(doc["true_peak_dbtp"] - doc["integrated_lufs"], abs=0.02)
    shares = doc["spectral_balance_pct"]
    assert sum(shares.values()) == pytest.approx(100, abs=0.2)


def test_several_files_give_a_list_and_bad_ones_fail_alone(tmp_path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    proc = run("analyze", str(EXAMPLE), str(bad), "--json", "--no-musical")
    assert proc.returncode == 1
    docs = json.loads(proc.stdout)
    assert isinstance(docs, list) and len(docs) == 2
    assert docs[0]["integrated_lufs"] is not None
    assert docs[1]["file"] == str(bad) and "not an audio file" in docs[1]["error"]


def test_plot_and_recipe(tmp_path) -> None:
    png = tmp_path / "plot.png"
    proc = run("analyze", str(EXAMPLE), "--plot", str(png), "--no-musical")
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    recipe = read_recipe(png)
    assert recipe["command"] == "analyze"
    assert recipe["inputs"][0]["sha256"] == sha256_file(EXAMPLE)
    assert recipe["output"]["sha256"] == sha256_file(png)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_plot_refuses_to_overwrite_input(tmp_path) -> None:
    wav = tmp_path / "song.wav"
    save(sine(440, 1, 44_100), wav)
    before = wav.read_bytes()
    proc = run("analyze", str(wav), "--plot", str(wav))
    assert proc.returncode != 0
    assert wav.read_bytes() == before


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("hello, I am a text file\n" * 10), "not an audio file"),
        (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00"), "damaged WAV"),
    ],
    ids=["missing", "directory", "zero-byte", "text-as-wav", "truncated-header"],
)
def test_bad_input_gives_one_line_error(tmp_path, make, problem) -> None:
    path = tmp_path / "input.wav"
    make(path)
    assert_one_line_error(run("analyze", str(path)), path, problem)
    assert_one_line_error(run("analyze", str(path), "--json"), path, problem)


def test_nan_samples_give_one_line_error(tmp_path) -> None:
    path = tmp_path / "nan.wav"
    x = np.zeros((48_000, 2), np.float32)
    x[100] = np.inf
    sf.write(path, x, 48_000, subtype="FLOAT")
    assert_one_line_error(run("analyze", str(path)), path, "NaN or infinite samples")


def test_all_zero_audio_reports_null_loudness(tmp_path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((48_000 * 4, 2), np.float32), 48_000)
    proc = run("analyze", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["integrated_lufs"] is None and doc["true_peak_dbtp"] is None and doc["tempo_bpm"] is None
    assert any("minus infinity" in n for n in doc["notes"])


def test_one_sample_file_is_well_defined(tmp_path) -> None:
    path = tmp_path / "one.wav"
    sf.write(path, np.array([[0.5, 0.5]], np.float32), 44_100, subtype="FLOAT")
    proc = run("analyze", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["integrated_lufs"] is None and doc["sample_peak_dbfs"] == pytest.approx(-6.02, abs=0.01)
    assert any("400 ms" in n for n in doc["notes"])


def test_truncated_wav_is_measured_with_a_note(tmp_path) -> None:
    path = tmp_path / "cut.wav"
    save(sine(1000, 4, 48_000, 0.1), path, "wav24")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    proc = run("analyze", str(path), "--json", "--no-musical")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["duration_s"] == pytest.approx(2.0, abs=0.01)
    assert any("truncated WAV" in n for n in doc["notes"])


def test_usage_errors_exit_2() -> None:
    assert run("analyze").returncode == 2
    assert run("analyze", "--no-such-option", str(EXAMPLE)).returncode == 2


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("tunesmith ")
