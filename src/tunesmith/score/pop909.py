"""POP909 (Wang et al., ISMIR 2020): songs as :class:`Score` with their chord, beat and key annotations.

Each song folder holds ``NNN.mid`` (tracks MELODY, BRIDGE, PIANO),
``chord_midi.txt`` and ``beat_midi.txt`` (times in seconds on the MIDI's own
timeline) and ``key_audio.txt``. Annotations are converted to beats through
the MIDI's tempo map so they line up with the notes.

Split (``../shared/data/README.md``): songs 001–818 train/development, 819–909
held out for final evaluation only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tunesmith.errors import InputFileError
from tunesmith.score.midi import read_midi
from tunesmith.score.theory import ChordParseError, Key, parse_chord
from tunesmith.score.types import ChordSymbol, KeyChange, Score

LAST_TRAIN_SONG = 818
_ROLES = {"MELODY": ("melody", 0), "BRIDGE": ("counter-melody", 0), "PIANO": ("chords", 0)}


@dataclass(frozen=True)
class Pop909Song:
    """One POP909 song.

    Attributes
    ----------
    song_id : int
        1–909.
    score : Score
        Notes (roles ``melody``, ``counter-melody``, ``chords``), chords and key.
    beats : numpy.ndarray
        Annotated beat positions, in beats of the score's timeline.
    downbeats : numpy.ndarray
        Boolean per annotated beat: the second column of ``beat_midi.txt``, which marks every
        other beat (half bars of 4/4).
    bar_starts : numpy.ndarray
        Boolean per annotated beat: the third column, the first beat of each 4/4 bar.
    """

    song_id: int
    score: Score
    beats: np.ndarray
    downbeats: np.ndarray
    bar_starts: np.ndarray


def split_of(song_id: int) -> str:
    """``"train"`` for songs 1–818, ``"test"`` for the held-out 819–909."""
    return "train" if song_id <= LAST_TRAIN_SONG else "test"


def song_ids(root: str | os.PathLike[str], split: str = "train") -> list[int]:
    """Song numbers present under ``root`` in a split (``train``, ``test`` or ``all``)."""
    ids = sorted(int(p.name) for p in Path(root).iterdir() if p.is_dir() and p.name.isdigit())
    return ids if split == "all" else [i for i in ids if split_of(i) == split]


def load_song(root: str | os.PathLike[str], song_id: int) -> Pop909Song:
    """Load song ``song_id`` from the POP909 folder ``root``.

    Raises
    ------
    InputFileError
        If a file is missing or an annotation line cannot be read.
    """
    folder = Path(root) / f"{song_id:03d}"
    score = read_midi(folder / f"{song_id:03d}.mid")
    tracks = []
    for t in score.tracks:
        role, _ = _ROLES.get(t.name.split(" (")[0], ("other", 0))
        tracks.append(replace(t, role=role))
    chords = []
    chord_file = folder / "chord_midi.txt"
    for n, line in enumerate(_lines(chord_file), 1):
        parts = line.split()
        if len(parts) != 3:
            raise InputFileError(f"line {n}: expected 'start end chord'", chord_file)
        start, end = score.beats(float(parts[0])), score.beats(float(parts[1]))
        try:
            chord = parse_chord(parts[2])
        except ChordParseError as exc:
            raise InputFileError(f"line {n}: {exc}", chord_file) from None
        if end > start:
            chords.append(ChordSymbol(start, end - start, chord))
    beat_rows = [line.split() for line in _lines(folder / "beat_midi.txt")]
    beat_s = np.array([float(r[0]) for r in beat_rows])
    beats = np.array([score.beats(t) for t in beat_s])
    downbeats = np.array([float(r[1]) == 1.0 for r in beat_rows], dtype=bool)
    bar_starts = np.array([len(r) > 2 and float(r[2]) == 1.0 for r in beat_rows], dtype=bool)
    keys = []
    key_file = folder / "key_audio.txt"
    if key_file.exists():
        for line in _lines(key_file):
            start, _, label = line.split()
            try:
                keys.append(KeyChange(max(0.0, score.beats(float(start))), Key.parse(label)))
            except ValueError:
                continue
    score = replace(score, tracks=tuple(tracks), chords=tuple(chords), keys=tuple(keys), title=f"POP909 {song_id:03d}")
    return Pop909Song(song_id, score, beats, downbeats, bar_starts)


def load_split(root: str | os.PathLike[str], split: str = "train", workers: int | None = None) -> list[Pop909Song]:
    """Load every song of a split, in song order, on ``workers`` processes (default: all cores)."""
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    ids = song_ids(root, split)
    workers = workers or os.cpu_count() or 1
    if workers <= 1:
        return [load_song(root, i) for i in ids]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(partial(load_song, root), ids, chunksize=16))


def _lines(path: Path) -> list[str]:
    if not path.exists():
        raise InputFileError("missing POP909 annotation file", path)
    return [line for line in path.read_text().splitlines() if line.strip()]
