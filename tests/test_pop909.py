"""Every POP909 training song loads with aligned annotations and round-trips through MIDI exactly."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared

from tunesmith.score import read_midi, write_midi
from tunesmith.score.pop909 import LAST_TRAIN_SONG, load_split, song_ids, split_of
from tunesmith.score.theory import detect_key


@pytest.fixture(scope="module")
def songs():
    return load_split(shared("pop909"), "train")


def test_split_is_respected() -> None:
    root = shared("pop909")
    train = song_ids(root, "train")
    assert train[-1] == LAST_TRAIN_SONG and all(split_of(i) == "train" for i in train)
    assert all(i > LAST_TRAIN_SONG for i in song_ids(root, "test"))


def test_all_train_songs_load_with_annotations(songs) -> None:
    assert len(songs) == 818
    medians = []
    for song in songs:
        roles = {t.role for t in song.score.tracks}
        assert "melody" in roles, song.song_id
        assert song.score.chords and len(song.beats) > 16, song.song_id
        # Chord changes sit on annotated beats (both converted through the same tempo map).
        starts = np.array([c.start for c in song.score.chords])
        assert np.abs(starts[:, None] - song.beats[None, :]).min(axis=1).max() < 1e-3, song.song_id
        # Melody onsets sit on the annotated beat grid (16ths or triplet 8ths).
        onsets = np.array([n.start for n in song.score.track("melody").notes])
        pos = np.interp(onsets, song.beats, np.arange(len(song.beats)))
        off = np.minimum(np.abs(pos * 4 - np.round(pos * 4)) / 4, np.abs(pos * 3 - np.round(pos * 3)) / 3)
        medians.append(np.median(off))
    # A misaligned timeline (seconds taken as beats, a lost pickup offset) puts typical
    # onsets tenths of a beat off the grid; aligned songs sit within a few hundredths.
    medians = np.array(medians)
    assert np.median(medians) < 0.01
    assert np.mean(medians < 0.05) >= 0.95


def test_key_finding_beats_chance_on_pop909(songs) -> None:
    hits = 0
    for song in songs:
        hits += detect_key(song.score.pitch_class_histogram())[0] == song.score.keys[0].key
    assert hits / len(songs) > 0.6  # chance is 1/24; see docs/BENCHMARKS.md for the figure


@pytest.mark.parametrize("chunk", range(8))
def test_midi_round_trip_on_every_train_song(tmp_path, chunk) -> None:
    root = shared("pop909")
    for song_id in song_ids(root, "train")[chunk::8]:
        original = read_midi(root / f"{song_id:03d}" / f"{song_id:03d}.mid")
        path = tmp_path / f"{song_id}.mid"
        write_midi(original, path)
        back = read_midi(path)
        assert len(back.tracks) == len(original.tracks), song_id
        for a, b in zip(original.tracks, back.tracks, strict=True):
            ticks_a = [(round(n.start * 480), round(n.end * 480), n.pitch, n.velocity) for n in a.notes]
            ticks_b = [(round(n.start * 480), round(n.end * 480), n.pitch, n.velocity) for n in b.notes]
            assert ticks_a == ticks_b, (song_id, a.name)
            assert (a.program, a.is_drum) == (b.program, b.is_drum)
        assert [round(t.bpm, 3) for t in back.tempos] == [round(t.bpm, 3) for t in original.tempos]
