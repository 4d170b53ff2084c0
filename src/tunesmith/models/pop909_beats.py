"""POP909 songs as beat-level training rows for the chord and melody models.

Each song becomes, per annotated beat: the chord token sounding at the beat's
middle, the melody's pitch-class histogram within the beat, and the beat's
place in its bar (counted from the annotated bar starts). Both the training
scripts and ``benchmarks/models_eval.py`` read songs through here, so the
model is evaluated on exactly the encoding it was trained on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tunesmith.models.chord import NO_CHORD, BeatGrid, chord_token, melody_histograms
from tunesmith.score.pop909 import Pop909Song, load_split


@dataclass(frozen=True)
class SongBeats:
    """One song at beat resolution.

    Attributes
    ----------
    song_id : int
        POP909 number.
    tokens : numpy.ndarray
        Chord token per beat (:data:`~tunesmith.models.chord.NO_CHORD` where none is annotated).
    melody : numpy.ndarray
        ``(beats, 12)`` melody pitch-class histograms.
    in_bar : numpy.ndarray
        Beat index within its bar.
    """

    song_id: int
    tokens: np.ndarray
    melody: np.ndarray
    in_bar: np.ndarray


def grid_of(song: Pop909Song) -> BeatGrid:
    """The annotated beats as a grid (the last beat lasts as long as the median beat)."""
    starts = np.asarray(song.beats, dtype=np.float64)
    step = float(np.median(np.diff(starts))) if len(starts) > 1 else 1.0
    ends = np.append(starts[1:], starts[-1] + step)
    in_bar = np.zeros(len(starts), dtype=np.int64)
    count = 0
    for i, down in enumerate(song.bar_starts):
        count = 0 if down else count + 1
        in_bar[i] = count
    return BeatGrid(starts, ends, in_bar)


def song_beats(song: Pop909Song) -> SongBeats:
    """Encode one song (see the module docstring)."""
    grid = grid_of(song)
    mids = 0.5 * (grid.starts + grid.ends)
    tokens = np.full(len(grid), NO_CHORD, dtype=np.int64)
    chords = song.score.chords
    if chords:
        starts = np.array([c.start for c in chords])
        ends = np.array([c.end for c in chords])
        idx = np.searchsorted(starts, mids, side="right") - 1
        for i, j in enumerate(idx):
            if j >= 0 and mids[i] < ends[j]:
                tokens[i] = chord_token(chords[j].chord)
    melody = [n for t in song.score.tracks if t.role == "melody" for n in t.notes]
    return SongBeats(song.song_id, tokens, melody_histograms(melody, grid), grid.in_bar)


def _load_one(args: tuple[str, int]) -> SongBeats:
    from tunesmith.score.pop909 import load_song

    return song_beats(load_song(*args))


def load_beats(root: str | os.PathLike[str], split: str, workers: int | None = None) -> list[SongBeats]:
    """Every song of a POP909 split (``train`` = 001–818, ``test`` = held-out 819–909) at beat resolution."""
    from concurrent.futures import ProcessPoolExecutor

    from tunesmith.score.pop909 import song_ids

    ids = song_ids(root, split)
    workers = workers or os.cpu_count() or 1
    if workers <= 1:
        return [song_beats(s) for s in load_split(root, split, workers=1)]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_load_one, [(str(root), i) for i in ids], chunksize=8))
