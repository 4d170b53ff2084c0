"""Chord recognition from the notes of a piece: what a musician's own files say the harmony is.

A musician's MIDI, MusicXML or ABC files rarely carry chord symbols, yet the style's
harmonic vocabulary, transitions and harmonic rhythm are learned from chords. Where a
piece has accompaniment (or several voices), every beat gets a duration-weighted
pitch-class profile of all its pitched notes, with the lowest sounding note counted
again (the bass names the root); each of 72 chords (12 roots × major, minor, dominant
seventh, minor seventh, major seventh, diminished) scores the share of the profile
inside its tones minus half the share outside, with a small bonus for chords of the
key. A Viterbi pass then charges a price for every change — less on a bar's strong
beats, where harmony usually moves — so one passing note does not make a new chord.
A piece with one line only (a fiddle tune) has too little to read chords from at beat
level: :func:`tunesmith.models.melody_data.estimate_chords` gives it the diatonic triad
that covers each bar (or half bar), as folk tunes are accompanied.
"""

from __future__ import annotations

import numpy as np

from tunesmith.models.chord import QUALITIES
from tunesmith.score.theory import Chord, Key, strong_beats

#: The chord qualities recognised (a subset of the chord model's), in template order.
RECOGNISED: tuple[str, ...] = ("maj", "min", "7", "min7", "maj7", "dim")
#: Viterbi price of a chord change, in profile shares: on a strong beat of the bar and elsewhere.
CHANGE_STRONG, CHANGE_WEAK = 0.25, 0.55
_OUTSIDE = 0.5  # weight of the profile share outside a chord's tones
_BASS_BONUS = 0.25  # the lowest note is the chord's root
_KEY_BONUS = 0.05  # every tone of the chord is in the key
_FOUR_NOTE_COST = 0.1  # a seventh chord must earn its fourth tone


def _templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(72, 12)`` tone masks, the root and the quality index (into :data:`QUALITIES`) of each chord."""
    masks, roots, quals = [], [], []
    for q in RECOGNISED:
        for root in range(12):
            mask = np.zeros(12)
            mask[list(Chord(root, q).pitch_classes)] = 1.0
            masks.append(mask)
            roots.append(root)
            quals.append(QUALITIES.index(q))
    return np.array(masks), np.array(roots), np.array(quals)


_MASKS, _ROOTS, _QUALS = _templates()


def beat_profiles(notes: np.ndarray, beats: int) -> tuple[np.ndarray, np.ndarray]:
    """Per beat: the duration-weighted pitch-class profile (rows sum to 1, or 0) and the lowest pitch class (-1).

    Parameters
    ----------
    notes : numpy.ndarray
        ``(n, 3)`` onset, duration (beats), MIDI pitch, onsets from 0.
    beats : int
        Number of beats to cover.
    """
    prof = np.zeros((beats, 12))
    low = np.full(beats, 128)
    for on, du, pitch in notes:
        first, last = int(np.floor(on)), int(np.ceil(on + du - 1e-9))
        for b in range(max(0, first), min(beats, last)):
            overlap = min(on + du, b + 1.0) - max(on, float(b))
            if overlap > 1e-6:
                prof[b, int(pitch) % 12] += overlap
                low[b] = min(low[b], int(pitch))
    total = prof.sum(axis=1, keepdims=True)
    prof = np.divide(prof, total, out=np.zeros_like(prof), where=total > 0)
    return prof, np.where(low < 128, low % 12, -1)


def recognise_chords(notes: np.ndarray, bar_beats: float, numerator: int, denominator: int, key: Key) -> np.ndarray:
    """Chords of a piece with accompaniment, beat by beat (see the module docstring).

    Parameters
    ----------
    notes : numpy.ndarray
        ``(n, 3)`` onset, duration (beats, bar lines at multiples of ``bar_beats``), MIDI pitch.
    bar_beats : float
        Bar length, beats.
    numerator, denominator : int
        The metre (its strong beats are where a change costs less).
    key : Key
        The piece's key (chords of the key get a small bonus).

    Returns
    -------
    numpy.ndarray
        ``(c, 4)`` rows of start, end (beats), root pitch class, quality index into
        :data:`tunesmith.models.chord.QUALITIES`; beats without notes extend the chord before.
    """
    if len(notes) == 0:
        return np.zeros((0, 4))
    beats = int(np.ceil(float(np.max(notes[:, 0] + notes[:, 1])) - 1e-9))
    prof, low = beat_profiles(notes, beats)
    scale = set(key.scale)
    in_key = np.array([all(pc in scale for pc in np.flatnonzero(m)) for m in _MASKS])
    four = _MASKS.sum(axis=1) > 3
    score = prof @ _MASKS.T - _OUTSIDE * (prof @ (1.0 - _MASKS).T)
    score += _BASS_BONUS * (low[:, None] == _ROOTS[None, :])
    score += _KEY_BONUS * in_key - _FOUR_NOTE_COST * four
    empty = prof.sum(axis=1) == 0
    score[empty] = 0.0  # silence says nothing: the chord before holds
    strong = {round(s * 1000) for s in strong_beats(numerator, denominator)}
    n_chords = len(_MASKS)
    back = np.zeros((beats, n_chords), dtype=np.int64)
    dp = score[0].copy()
    for b in range(1, beats):
        pos = round(((b % bar_beats) if bar_beats > 0 else 0.0) * 1000)
        cost = CHANGE_STRONG if pos in strong else CHANGE_WEAK
        best = int(np.argmax(dp))
        switch = dp[best] - cost
        stay = dp >= switch
        back[b] = np.where(stay, np.arange(n_chords), best)
        dp = np.where(stay, dp, switch) + score[b]
    path = np.empty(beats, dtype=np.int64)
    path[-1] = int(np.argmax(dp))
    for b in range(beats - 1, 0, -1):
        path[b - 1] = back[b, path[b]]
    # Leading silence takes the first heard chord.
    heard = np.flatnonzero(~empty)
    if len(heard):
        path[: heard[0]] = path[heard[0]]
    rows: list[list[float]] = []
    for b, k in enumerate(path.tolist()):
        if rows and rows[-1][4] == k:
            rows[-1][1] = b + 1.0
        else:
            rows.append([float(b), b + 1.0, float(_ROOTS[k]), float(_QUALS[k]), k])
    return np.array([r[:4] for r in rows], dtype=np.float64).reshape(-1, 4)
