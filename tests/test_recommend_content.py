"""Audio content features, the voyager index and the library scan."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tunesmith.audio import load, measure_loudness
from tunesmith.errors import InputFileError
from tunesmith.recommend.content import FEATURE_NAMES, ContentIndex, analyse
from tunesmith.recommend.history import connect, history_stats, models_dir
from tunesmith.recommend.library import scan_library, track_tags

RATE = 44_100
A_MINOR = [([57, 60, 64, 45], 4), ([62, 65, 69, 50], 2), ([64, 68, 71, 52], 2), ([57, 60, 64, 45], 4)]
D_MAJOR = [([62, 66, 69, 50], 4), ([67, 71, 74, 55], 2), ([69, 73, 76, 57], 2), ([62, 66, 69, 50], 4)]


def _hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def song(
    chords: list[tuple[list[int], int]], bpm: float, partials: tuple[float, ...] = (1.0, 0.5, 0.25), repeats: int = 2
) -> np.ndarray:
    """Sustained chords with a click on every beat, stereo (right a little quieter), -6 dBFS peak."""
    beat = 60.0 / bpm
    parts = []
    for notes, beats in chords * repeats:
        t = np.arange(int(beat * beats * RATE)) / RATE
        x = sum(a * np.sin(2 * np.pi * _hz(n) * (h + 1) * t) for n in notes for h, a in enumerate(partials))
        parts.append(x * np.minimum(1.0, np.minimum(t / 0.02, (t[-1] - t + 1e-3) / 0.05)))
    x = np.concatenate(parts)
    k = np.arange(int(0.03 * RATE))
    click = np.sin(2 * np.pi * 1000 * k / RATE) * np.exp(-k / RATE * 200)
    for i in range(0, len(x) - len(k), int(RATE * beat)):
        x[i : i + len(k)] += 2 * click * np.abs(x).max() / 3
    x = 0.5 * x / np.abs(x).max()
    return np.stack([x, 0.9 * x], axis=1).astype(np.float32)


def write(path: Path, samples: np.ndarray) -> Path:
    sf.write(str(path), samples, RATE, subtype="PCM_16")
    return path


@pytest.mark.parametrize(("chords", "bpm", "key"), [(A_MINOR, 100.0, "A minor"), (D_MAJOR, 140.0, "D major")])
def test_tempo_key_and_loudness(tmp_path: Path, chords: list, bpm: float, key: str) -> None:
    path = write(tmp_path / "song.wav", song(chords, bpm))
    f = analyse(path)
    assert f.vector.shape == (len(FEATURE_NAMES),) and np.isfinite(f.vector).all()
    assert f.tempo_bpm == pytest.approx(bpm, rel=0.02)
    assert f.key == key
    # The spectral loudness estimate stays within 1 LU of the BS.1770 meter.
    assert f.loudness_lufs == pytest.approx(measure_loudness(load(path)).integrated_lufs, abs=1.0)


def test_k_weighting_matches_the_meter() -> None:
    from tunesmith.audio.iir import response_db
    from tunesmith.audio.meter import k_weighting_sos
    from tunesmith.recommend.content import k_weighting_gain

    f = np.linspace(10.0, 20_000.0, 200)
    meter_db = response_db(k_weighting_sos(48_000), f, 48_000)
    np.testing.assert_allclose(10 * np.log10(k_weighting_gain(f)), meter_db, atol=1e-6)


def test_long_files_are_described_from_excerpts(tmp_path: Path) -> None:
    x = song(A_MINOR, 120.0, repeats=8)
    path = write(tmp_path / "long.wav", x)
    f = analyse(path)
    assert len(x) > 40 * RATE and f.duration_s == pytest.approx(len(x) / RATE, abs=0.01)
    assert f.analysed_s == pytest.approx(30.0, abs=0.1)  # three 10 s windows
    assert f.tempo_bpm == pytest.approx(120.0, rel=0.02)


def test_bad_audio_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "fake.wav").write_bytes(b"RIFF....WAVEnot really")
    with pytest.raises(InputFileError):
        analyse(tmp_path / "fake.wav")
    write(tmp_path / "silent.wav", np.zeros((RATE * 3, 2), np.float32))
    with pytest.raises(InputFileError, match="silent"):
        analyse(tmp_path / "silent.wav")
    write(tmp_path / "short.wav", song(A_MINOR, 120.0)[: RATE // 2])
    with pytest.raises(InputFileError, match="too short"):
        analyse(tmp_path / "short.wav")


def test_index_finds_tracks_that_sound_alike(tmp_path: Path) -> None:
    # Three families (timbre, tempo, key); two variants of each differ in voicing and level.
    families = [
        (A_MINOR, 90.0, (1.0,)),
        (D_MAJOR, 150.0, (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)),
        (A_MINOR, 125.0, (1.0, 0.0, 0.33, 0.0, 0.2)),
    ]
    vectors, labels = [], []
    for fam, (chords, bpm, partials) in enumerate(families):
        for variant in range(2):
            x = song(chords[variant:] + chords[:variant], bpm, partials, repeats=1) * (1.0 - 0.3 * variant)
            vectors.append(analyse(write(tmp_path / f"{fam}-{variant}.wav", x)).vector)
            labels.append(fam)
    index = ContentIndex(np.arange(len(vectors)) + 1, np.array(vectors))
    for i in range(len(vectors)):
        ids, sims = index.query(index.vector(i + 1), 1, exclude={i + 1})
        assert labels[int(ids[0]) - 1] == labels[i], (i, ids, sims)
    index.save(tmp_path / "models")
    again = ContentIndex.load(tmp_path / "models")
    assert again is not None
    np.testing.assert_array_equal(again.query(again.vector(1), 3)[0], index.query(index.vector(1), 3)[0])


def test_track_tags_from_file_names(tmp_path: Path) -> None:
    path = write(tmp_path / "Nick Drake - Pink Moon.wav", song(A_MINOR, 100.0)[:RATE])
    assert track_tags(path) == ("Nick Drake", "Pink Moon")
    other = write(tmp_path / "untitled.wav", song(A_MINOR, 100.0)[:RATE])
    assert track_tags(other) == (None, "untitled")


def test_library_scan_is_incremental_and_reports_unreadable_files(tmp_path: Path) -> None:
    lib = tmp_path / "music"
    (lib / "sub").mkdir(parents=True)
    write(lib / "Band - One.wav", song(A_MINOR, 100.0))
    write(lib / "Band - Two.wav", song(D_MAJOR, 140.0))
    write(lib / "sub" / "Other - Three.wav", song(A_MINOR, 120.0, (1.0, 0.3)))
    (lib / "broken.flac").write_bytes(b"fLaC but not really" * 50)
    (lib / "notes.txt").write_text("not audio, not scanned")
    db = tmp_path / "h.sqlite"
    calls: list[tuple[int, int]] = []
    report = scan_library(lib, db, workers=2, progress=lambda done, total: calls.append((done, total)))
    assert (report.found, report.analysed, report.unchanged, report.tracks) == (4, 3, 0, 3)
    assert [f["path"] for f in report.failed] == [str((lib / "broken.flac").resolve())]
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)
    assert (models_dir(db) / "content.voy").exists()
    again = scan_library(lib, db, workers=2)
    assert (again.analysed, again.unchanged, len(again.failed)) == (0, 3, 1)
    # One file changes, one disappears: only the change is analysed, the gone one removed.
    write(lib / "Band - One.wav", song(D_MAJOR, 100.0))
    os.utime(lib / "Band - One.wav", ns=(1, 1))
    (lib / "sub" / "Other - Three.wav").unlink()
    third = scan_library(lib, db, workers=1)
    assert (third.analysed, third.unchanged, third.removed, third.tracks) == (1, 1, 1, 2)
    conn = connect(db)
    keys = {row[0] for row in conn.execute("SELECT key FROM tracks")}
    assert keys == {"D major"}
    assert history_stats(db)["library_tracks"] == 2


def test_scan_of_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such folder"):
        scan_library(tmp_path / "nope", tmp_path / "h.sqlite")
