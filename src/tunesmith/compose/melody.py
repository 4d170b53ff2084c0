"""The lead line: phrases built from a motif that returns and varies, chord tones on strong beats.

A section's melody is made of phrases (four bars, or two in short sections). A
phrase states a one-bar motif (a rhythm cell from the style and a contour of
scale steps), answers it with a contrasting bar, restates the motif over the new
harmony, and lands on a cadence — the classic sentence shape. A section heard
again (the second verse) reuses its motifs with small changes. Pitches follow a
contour that arches over each phrase and sits higher in choruses; every onset on
a strong beat, and every note held a beat or longer, is a chord tone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunesmith.compose.harmony import Slot
from tunesmith.compose.style import Style
from tunesmith.score.theory import Chord, Key, strong_beats
from tunesmith.score.types import Note

# Where the tune sits in its range per section kind (0 = bottom, 1 = top).
_REGISTER = {"chorus": 0.62, "b": 0.6, "bridge": 0.55, "prechorus": 0.5, "solo": 0.58, "loop": 0.58}


def chord_scale(key: Key, chord: Chord) -> tuple[int, ...]:
    """Pitch classes to move through over ``chord``: the key's scale with the chord's own tones swapped in.

    Over a chord borrowed from outside the key (a secondary dominant), its tones replace
    the scale notes a semitone away, so passing notes never clash with the harmony.
    """
    pcs = set(key.scale)
    for pc in chord.pitch_classes:
        if pc not in pcs:
            pcs -= {(pc + 1) % 12, (pc - 1) % 12}
            pcs.add(pc)
    pcs |= set(chord.pitch_classes)
    return tuple(sorted(pcs))


@dataclass
class _Motif:
    cell: str
    answer: str
    steps: list[int]
    answer_steps: list[int]


def _onsets(cell: str, bar: float) -> list[tuple[float, float]]:
    """(offset, length) in beats of each onset of a rhythm cell over one bar."""
    step = bar / len(cell)
    out = []
    for i, ch in enumerate(cell):
        if ch != "x":
            continue
        j = i + 1
        while j < len(cell) and cell[j] == "-":
            j += 1
        out.append((i * step, (j - i) * step))
    return out


def _contour(n: int, rng: np.random.Generator, leap: int) -> list[int]:
    """Scale steps between successive notes: mostly steps, a few skips, at most one leap, moving on."""
    steps = []
    direction = 1 if rng.random() < 0.5 else -1
    for i in range(n):
        r = rng.random()
        if i == 0:
            steps.append(0)
            continue
        if r < 0.55:
            s = direction
        elif r < 0.8:
            s = 2 * direction
        elif r < 0.9:
            s = 0
        else:
            s = -direction * min(3, max(2, leap // 2))
        if rng.random() < 0.3:
            direction = -direction
        steps.append(s)
    return steps


def _nearest(candidates: list[int], target: float) -> int:
    return min(candidates, key=lambda p: (abs(p - target), p))


def _pitches_in(pcs: tuple[int, ...] | list[int], lo: int, hi: int) -> list[int]:
    return [p for p in range(lo, hi + 1) if p % 12 in pcs]


def _step_from(prev: int, steps: int, scale_pitches: list[int]) -> int:
    """The pitch ``steps`` scale steps from ``prev`` (prev snapped to the scale first)."""
    if not scale_pitches:
        return prev
    i = min(range(len(scale_pitches)), key=lambda k: abs(scale_pitches[k] - prev))
    j = min(max(i + steps, 0), len(scale_pitches) - 1)
    return scale_pitches[j]


def chord_at(slots: list[Slot], beat: float) -> Chord:
    """The chord sounding at ``beat`` (the last one before it if past the end)."""
    lo, hi = 0, len(slots) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if slots[mid].start <= beat + 1e-9:
            lo = mid
        else:
            hi = mid - 1
    return slots[lo].chord


def write_melody(
    style: Style,
    key: Key,
    sections: list[tuple[str, int, int, float]],
    slots: list[Slot],
    rng: np.random.Generator,
    part_range: tuple[int, int],
    memory: dict[str, _Motif] | None = None,
) -> list[Note]:
    """The melody for every section that has one.

    Parameters
    ----------
    sections : list of (name, start_bar, bars, energy)
        The sections the melody plays in.
    slots : list of Slot
        The song's chords.
    part_range : (int, int)
        The melody instrument's range; the style's melody range is kept inside it.

    Returns
    -------
    list of Note
    """
    bar = style.bar_beats
    lo = max(style.melody_range[0], part_range[0])
    hi = min(style.melody_range[1], part_range[1])
    if hi - lo < 12:  # never squeeze a tune into less than an octave
        hi = min(127, lo + 12)
    strong = strong_beats(style.numerator, style.denominator)
    memory = {} if memory is None else memory
    notes: list[Note] = []
    prev = None
    tonic_pitches = _pitches_in([key.tonic], lo, hi)
    for name, start_bar, bars, energy in sections:
        motif = memory.get(name)
        cells = list(style.melody_rhythms)
        if motif is None:
            a = cells[int(rng.integers(len(cells)))]
            b_choices = [c for c in cells if c != a] or cells
            b = b_choices[int(rng.integers(len(b_choices)))]
            motif = _Motif(
                a, b, _contour(len(_onsets(a, bar)), rng, style.leap), _contour(len(_onsets(b, bar)), rng, style.leap)
            )
            memory[name] = motif
        else:
            # The section returns: the same motif, its answer varied (new contour, same rhythm).
            motif = _Motif(
                motif.cell, motif.answer, motif.steps, _contour(len(_onsets(motif.answer, bar)), rng, style.leap)
            )
        centre = lo + (hi - lo) * _REGISTER.get(name, 0.42)
        phrase_bars = 4 if bars >= 4 else bars
        velocity = round(64 + 44 * energy)
        for pb in range(0, bars, phrase_bars):
            n_bars = min(phrase_bars, bars - pb)
            for k in range(n_bars):
                bar_no = start_bar + pb + k
                bar_start = bar_no * bar
                last = k == n_bars - 1 and n_bars > 1
                if last:
                    cell, steps = style.cadence_rhythm, None
                elif k % 2 == 0:
                    cell, steps = motif.cell, motif.steps
                else:
                    cell, steps = motif.answer, motif.answer_steps
                onsets = _onsets(cell, bar)
                # The phrase arches: up towards its third bar, back down to the cadence.
                arch = (0.0, 2.5, 4.0, -1.5)[min(k, 3)] if n_bars >= 4 else (0.0, -1.0)[min(k, 1)]
                target = centre + arch
                chord = chord_at(slots, bar_start)
                tones = _pitches_in(chord.pitch_classes, lo, hi)
                # Each bar's first note is a chord tone near the contour: the motif restated over the new chord.
                anchor = _nearest(tones, target if prev is None else 0.5 * target + 0.5 * prev)
                for j, (offset, length) in enumerate(onsets):
                    beat = bar_start + offset
                    chord = chord_at(slots, beat)
                    tones = _pitches_in(chord.pitch_classes, lo, hi)
                    scale = _pitches_in(chord_scale(key, chord), lo, hi)
                    if j == 0:
                        pitch = anchor
                    elif steps is not None and j < len(steps):
                        pitch = _step_from(prev if prev is not None else anchor, steps[j], scale)
                    else:
                        s = int(rng.choice([-2, -1, -1, 1, 1, 2]))
                        pitch = _step_from(prev if prev is not None else anchor, s, scale)
                    on_strong = any(abs(offset - s) < 1e-6 for s in strong)
                    # Held notes and strong beats get chord tones; the last note of a phrase its root.
                    if on_strong or length >= 1.0 - 1e-9 or (offset % 1.0 == 0 and length >= 0.5):
                        pitch = _nearest(tones, pitch)
                    if last and j == len(onsets) - 1:
                        roots = _pitches_in([chord.root], lo, hi)
                        closing = tonic_pitches if chord.root == key.tonic else roots
                        pitch = _nearest(closing or tones, pitch)
                    if prev is not None and abs(pitch - prev) > 9:  # no wild leaps: come back by octave
                        pitch += -12 if pitch > prev else 12
                        pitch = min(max(pitch, lo), hi)
                        if on_strong and pitch % 12 not in chord.pitch_classes:
                            pitch = _nearest(tones, pitch)
                    accent = 8 if on_strong else 0
                    notes.append(Note(beat, length * 0.95, int(pitch), min(127, velocity + accent)))
                    prev = pitch
    return notes
