"""Rendering to stems through FluidSynth: dry, aligned, equal length, clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tunesmith.audio import load, measure_loudness
from tunesmith.errors import UsageError
from tunesmith.render import RenderError, find_soundfont, render, stem_name
from tunesmith.score import Note, Score, TempoChange, Track, write_midi

needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth not installed")


def has_soundfont() -> bool:
    try:
        find_soundfont()
    except RenderError:
        return False
    return True


needs_soundfont = pytest.mark.skipif(not has_soundfont(), reason="no General MIDI SoundFont installed")


def small_song() -> Score:
    return Score(
        tracks=(
            Track("Lead Vox!", (Note(0, 1, 72), Note(1, 1, 76), Note(2, 2, 79)), program=73),
            Track("bass", (Note(0, 4, 36, 110),), program=33),
            Track("drums", (Note(0, 0.25, 36, 120), Note(1, 0.25, 38, 120)), is_drum=True),
            Track("empty", ()),
        ),
        tempos=(TempoChange(0, 120.0),),
    )


def test_stem_names() -> None:
    assert stem_name(0, Track("Lead Vox!")) == "01-lead-vox.wav"
    assert stem_name(11, Track("", is_drum=True)) == "12-drums.wav"


@needs_fluidsynth
@needs_soundfont
def test_stems_are_aligned_equal_length_and_sound(tmp_path) -> None:
    song = small_song()
    report = render(song, tmp_path / "stems", mix_path=tmp_path / "mix.wav", sample_rate=48_000)
    assert report.stems == ["01-lead-vox.wav", "02-bass.wav", "03-drums.wav"]  # the empty track is skipped
    stems = [load(tmp_path / "stems" / s) for s in report.stems]
    assert {a.frames for a in stems} == {stems[0].frames} and stems[0].sample_rate == 48_000
    assert stems[0].duration_s >= song.duration_s  # the release tail is kept
    for a in stems:
        assert measure_loudness(a).integrated_lufs is not None
    # Drum hits land where the score puts them: the kick at 0 s, the snare at 0.5 s (120 BPM).
    env = np.convolve(np.abs(stems[2].samples).max(axis=1), np.ones(48) / 48, mode="same")  # 1 ms smoothing
    first = int(np.argmax(env > 0.05 * env.max()))
    assert first / 48_000 < 0.01
    rise = np.diff(env[int(0.4 * 48_000) : int(0.7 * 48_000)])
    start = int(np.argmax(rise > 0.1 * rise.max())) + int(0.4 * 48_000)  # where the snare's attack begins
    assert abs(start / 48_000 - 0.5) < 0.005
    mix = load(tmp_path / "mix.wav")
    total = sum(a.samples for a in stems)
    assert np.max(np.abs(mix.samples - total)) < 1e-5


@needs_fluidsynth
def test_errors(tmp_path, monkeypatch) -> None:
    with pytest.raises(RenderError, match="no notes"):
        render(Score(tracks=(Track("x"),)), tmp_path)
    with pytest.raises(UsageError):
        render(small_song(), tmp_path, sample_rate=200_000)
    with pytest.raises(RenderError, match="SoundFont not found"):
        render(small_song(), tmp_path, soundfont=tmp_path / "missing.sf2")
    monkeypatch.setattr("tunesmith.render.SOUNDFONT_PATHS", ())
    monkeypatch.delenv("TUNESMITH_SOUNDFONT", raising=False)
    with pytest.raises(RenderError, match="fluid-soundfont-gm"):
        find_soundfont()


def test_missing_fluidsynth_names_the_package(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(RenderError, match="Debian package fluidsynth"):
        render(small_song(), tmp_path)


@needs_fluidsynth
@needs_soundfont
def test_cli_render(tmp_path) -> None:
    mid = tmp_path / "song.mid"
    write_midi(small_song(), mid)
    proc = subprocess.run(
        [sys.executable, "-m", "tunesmith.cli", "render", str(mid), "-o", str(tmp_path / "out"), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["stems"]) == 3 and (tmp_path / "out" / "02-bass.wav.recipe.json").exists()
    bad = tmp_path / "notes.txt"
    bad.write_text("hi")
    proc = subprocess.run(
        [sys.executable, "-m", "tunesmith.cli", "render", str(bad), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
