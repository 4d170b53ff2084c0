"""``produce``: compose → render → mix → master, end to end (needs FluidSynth and a GM SoundFont)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tunesmith.audio import load, measure_loudness
from tunesmith.audio.loops import read_loop_points
from tunesmith.compose import ComposeOptions
from tunesmith.pipeline import ProduceOptions, produce
from tunesmith.pipeline.produce import mix_role
from tunesmith.render import find_soundfont
from tunesmith.score import Track


def _can_render() -> bool:
    if shutil.which("fluidsynth") is None:
        return False
    try:
        find_soundfont()
    except Exception:
        return False
    return True


needs_render = pytest.mark.skipif(not _can_render(), reason="fluidsynth or a GM SoundFont is not installed")


def test_mix_roles_follow_the_score() -> None:
    assert mix_role(Track("melody", program=73, role="melody")) == "synth_lead"
    assert mix_role(Track("bass", program=33, role="bass")) == "bass"
    assert mix_role(Track("kit", is_drum=True, role="drums")) == "drums"
    assert mix_role(Track("gtr", program=25, role="chords")) == "guitar"
    assert mix_role(Track("pad", program=89, role="pad")) == "pad"
    assert mix_role(Track("horns", program=61, role="chords")) == "brass"


@needs_render
def test_produce_makes_a_released_song(tmp_path: Path) -> None:
    out = tmp_path / "song"
    report = produce(ProduceOptions(ComposeOptions(style="rock", bars=8, seed=3)), out)
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for name in (
        "song.mid",
        "leadsheet.musicxml",
        "mix.wav",
        "master.wav",
        "master.mp3",
        "report.html",
        "mix-report.html",
        "master-report.html",
    ):
        assert name in names, name
    for name in ("song.mid", "leadsheet.musicxml", "mix.wav", "master.wav", "master.mp3"):
        recipe = json.loads((out / f"{name}.recipe.json").read_text())
        assert recipe["ai_generated"] is True and recipe["seed"] == 3, name
    stems = sorted(n for n in names if n.startswith("stems/") and n.endswith(".wav"))
    assert len(stems) == sum(1 for t in report.song["tracks"] if t["notes"])  # tracks that play
    assert all(f"{s}.recipe.json" in names for s in stems)
    for name in ("master.wav", "master.mp3"):  # on target and under the ceiling, measured on the files
        lo = measure_loudness(load(out / name))
        assert abs(lo.integrated_lufs - -14.0) <= 0.1, name
        assert lo.true_peak_dbtp <= -1.0, name
    assert "AI-generated" in (out / "report.html").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial folder left behind


@needs_render
def test_produce_loop_repeats_sample_exactly(tmp_path: Path) -> None:
    out = tmp_path / "loop"
    report = produce(ProduceOptions(ComposeOptions(style="house", loop=True, bars=4, seed=2)), out)
    tempo = report.song["tempo_bpm"]
    frames = round(4 * 4 * 60 / tempo * 44_100)
    for name in ("master.wav", "mix.wav", "stems/01-melody.wav"):
        audio, rate = sf.read(str(out / name), dtype="float32", always_2d=True)
        assert rate == 44_100 and len(audio) == frames, name
        assert read_loop_points(out / name) == [(0, frames)], name
        # The seam (last sample -> first) is no bigger a step than the music's own.
        seam = float(np.abs(audio[0] - audio[-1]).max())
        steps = np.abs(np.diff(audio, axis=0)).max(axis=1)
        assert seam <= np.percentile(steps, 99.9) + 1e-4, name


@needs_render
def test_cli_produce_bad_input_writes_nothing(tmp_path: Path) -> None:
    exe = [sys.executable, "-m", "tunesmith.cli", "produce"]
    for args in (["--style", "nope"], ["--target", "loudest"], ["--bars", "0"], ["--tempo", "20"]):
        out = tmp_path / "x"
        r = subprocess.run([*exe, "-o", str(out), *args], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.startswith("tunesmith: error:") and "Traceback" not in r.stderr
        assert not out.exists() and not list(tmp_path.iterdir())


@needs_render
def test_producing_again_into_the_same_folder_leaves_no_stale_stems(tmp_path: Path) -> None:
    out = tmp_path / "song"
    produce(ProduceOptions(ComposeOptions(style="pop", bars=4, seed=1)), out)
    second = produce(ProduceOptions(ComposeOptions(style="chorale", bars=4, seed=1)), out)
    stems = sorted(p.name for p in (out / "stems").glob("*.wav"))
    assert len(stems) == sum(1 for t in second.song["tracks"] if t["notes"])
    assert all(name.split("-", 1)[1].removesuffix(".wav") in {"soprano", "alto", "tenor", "bass"} for name in stems)
