"""``tunesmith hum``: a sung take → notes, melody, arrangement, master, report (end to end on the CLI)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tunesmith.errors import UsageError
from tunesmith.score.midi import read_midi
from tunesmith.voice.song import HumOptions, arrange, hum
from tunesmith.voice.synth import sing
from tunesmith.voice.transcribe import read_notes_csv, transcribe

mir_eval = pytest.importorskip("mir_eval")  # a dev dependency: the metrics are mir_eval's
pytest.importorskip("swift_f0", reason="swift-f0 (the pitch tracker) is not installed")

RATE = 22_050


def _can_render() -> bool:
    from tunesmith.render import find_soundfont

    if shutil.which("fluidsynth") is None:
        return False
    try:
        find_soundfont()
    except Exception:
        return False
    return True


needs_render = pytest.mark.skipif(not _can_render(), reason="fluidsynth or a GM SoundFont is not installed")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tunesmith.cli", *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def take(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """Nine seconds of a tune in G major at 96 BPM, sung, starting after 1.3 s of room tone."""
    beat = 60 / 96
    tune = [67, 71, 74, 74, 72, 71, 69, 67, 69, 71, 67, 62, 67]
    beats = [1, 1, 1, 1, 0.5, 0.5, 1, 1, 1, 1, 1, 1, 2]
    melody, t = [], 1.3
    for p, b in zip(tune, beats, strict=True):
        melody.append((t, t + b * beat - 0.03, p))
        t += b * beat
    audio, truth = sing(melody, seed=31, sample_rate=RATE, female=True, fit_range=False)
    path = tmp_path_factory.mktemp("hum") / "take.wav"
    sf.write(path, audio, RATE)
    return path, truth


def test_arrangement_keeps_the_voice_and_doubles_it_only_when_asked(take: tuple) -> None:
    result = transcribe(take[0])
    harm, song, to_render = arrange(result, HumOptions(style="pop", keep_voice=True, seed=1))
    melody = song.track("melody")
    assert [n.pitch for n in melody.notes] == [n.pitch for n in result.melody]  # never transposed
    assert [n.start for n in melody.notes] == [n.start for n in result.melody]
    assert all(t.role != "melody" for t in to_render.tracks)  # the voice sings it
    assert song.keys[0].key == result.key and song.tempos[0].bpm == pytest.approx(result.grid.tempo_bpm)
    assert harm.chords and len(song.tracks) >= 3
    _, _song2, to_render2 = arrange(result, HumOptions(style="pop", keep_voice=True, instrument=73, seed=1))
    doubled = [t for t in to_render2.tracks if t.role == "melody"]
    assert len(doubled) == 1 and doubled[0].program == 73
    # The chords are the chord model's reading of the tune: mostly holding the sung notes.
    held = sum(
        any(
            c.start <= n.start < c.end and c.chord is not None and n.pitch % 12 in c.chord.pitch_classes
            for c in harm.chords
        )
        for n in result.melody
    )
    assert held >= 0.6 * len(result.melody)


@needs_render
def test_hum_cli_end_to_end(take: tuple, tmp_path: Path) -> None:
    path, truth = take
    out = tmp_path / "song"
    proc = run("hum", str(path), "-o", str(out), "--keep-voice", "--seed", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    for name in ("notes.csv", "melody.mid", "song.mid", "master.wav", "mix.wav", "report.html", "stems/voice.wav"):
        assert (out / name).is_file(), name
        assert (out / (name + ".recipe.json")).is_file(), name
    recipe = {
        n: json.loads((out / (n + ".recipe.json")).read_text()) for n in ("notes.csv", "melody.mid", "master.wav")
    }
    assert not recipe["notes.csv"]["ai_generated"] and not recipe["melody.mid"]["ai_generated"]
    assert "transcription of the singer's own voice" in recipe["notes.csv"]["parameters"]["content"]
    assert recipe["master.wav"]["ai_generated"] and recipe["master.wav"]["seed"] == 3
    assert not list(tmp_path.glob(".song.partial-*"))

    # notes.csv: the notes as sung (mir_eval defaults: 50 ms onsets, 50 cents).
    rows = read_notes_csv(out / "notes.csv")
    est_iv = np.array([[r[0], r[1]] for r in rows])
    est_hz = 440.0 * 2 ** ((np.array([r[2] for r in rows]) - 69) / 12)
    ref_iv = np.array([[n.onset_s, n.offset_s] for n in truth])
    ref_hz = np.array([n.pitch_hz for n in truth])
    f1 = mir_eval.transcription.precision_recall_f1_overlap(ref_iv, ref_hz, est_iv, est_hz, offset_ratio=None)[2]
    assert f1 >= 0.85

    # The tune in song.mid is the one in melody.mid: same pitches (the voice is never transposed).
    melody = read_midi(out / "melody.mid")
    song = read_midi(out / "song.mid")
    tune = [n.pitch for n in melody.tracks[0].notes]
    leads = [t for t in song.tracks if [n.pitch for n in t.notes] == tune]
    assert len(leads) == 1
    lead = leads[0]
    assert song.chords and doc["transcription"]["key"] == "G major"

    # The band's beat 0 sits on the voice: the first sung note starts in voice.wav where the
    # arrangement's first melody note starts (up to the sixteenth-note grid and the onset ramp).
    tempo = doc["transcription"]["tempo_bpm"]
    first_note_s = lead.notes[0].start * 60.0 / tempo
    voice, sr = sf.read(out / "stems" / "voice.wav", dtype="float32", always_2d=True)
    env = np.abs(voice[:, 0])
    threshold = 0.1 * env.max()
    voice_onset_s = int(np.argmax(env > threshold)) / sr
    assert abs(voice_onset_s - first_note_s) < 0.09
    assert abs(voice_onset_s - (rows[0][0] - doc["transcription"]["beat0_s"])) < 0.05
    stems = sorted(p.name for p in (out / "stems").glob("*.wav"))
    assert not any("melody" in s for s in stems)  # the voice sings the tune, nothing doubles it

    # Mastered to the streaming target; the report shows the pitch track and the chords.
    assert doc["master"]["integrated_lufs"] == pytest.approx(-14.0, abs=0.5)
    assert doc["master"]["true_peak_dbtp"] <= -0.9
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and doc["song"]["chords"][0]["chord"] in page


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--tempo", "fast"], 2, "--tempo must be auto or a number"),
        (["--tempo", "400"], 2, "--tempo must be 30..300"),
        (["--instrument", "300"], 2, "--instrument must be a General MIDI program"),
        (["--key", "H#"], 2, "--key"),
        (["--style", "nope"], 2, "nope"),
    ],
)
def test_hum_cli_usage_errors(take: tuple, tmp_path: Path, args: list[str], code: int, message: str) -> None:
    out = tmp_path / "song"
    proc = run("hum", str(take[0]), "-o", str(out), *args)
    assert proc.returncode == code
    assert proc.stderr.startswith("tunesmith: error:") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_hum_cli_no_voice_leaves_nothing(tmp_path: Path) -> None:
    noise = (0.05 * np.random.default_rng(3).standard_normal(4 * RATE)).astype(np.float32)
    path = tmp_path / "room.wav"
    sf.write(path, noise, RATE)
    out = tmp_path / "song"
    proc = run("hum", str(path), "-o", str(out))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "room.wav: no singing or humming found" in lines[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["room.wav"]
    with pytest.raises(UsageError, match="overwrite an input"):
        hum(path, path)
