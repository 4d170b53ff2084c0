"""Objective music metrics on hand-built scores with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunesmith.score import ChordSymbol, Key, Note, Score, TimeSignature, Track, parse_chord
from tunesmith.score.metrics import (
    drum_in_pattern_rate,
    drum_pattern_consistency,
    empty_bar_rate,
    empty_bars,
    groove_consistency,
    out_of_range_notes,
    pitch_class_entropy,
    pitch_classes_per_bar,
    pitch_in_key_rate,
    qualified_note_rate,
    scale_consistency,
    strong_beat_chord_tone_rate,
)

C_MAJOR_SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


def line(pitches, start: float = 0.0, step: float = 1.0, duration: float | None = None) -> tuple[Note, ...]:
    return tuple(Note(start + i * step, duration or step, p) for i, p in enumerate(pitches))


def drums(onsets) -> Track:
    return Track("drums", tuple(Note(float(t), 0.1, 42) for t in onsets), is_drum=True, role="drums")


# ---------------------------------------------------------------------------- pitch
def test_scale_consistency_c_major_scale_is_one():
    assert scale_consistency(line(C_MAJOR_SCALE)) == 1.0


def test_scale_consistency_one_foreign_note():
    notes = (*line(C_MAJOR_SCALE[:-1]), Note(7, 1, 66))  # F# replaces the top C
    # Eight notes, at best seven in one scale (C major or G major both hold 7 of 8).
    assert scale_consistency(notes) == pytest.approx(7 / 8)


def test_scale_consistency_accepts_pitches_and_tracks_and_finds_minor():
    a_harmonic = [57, 59, 60, 62, 64, 65, 68]  # G# is outside A natural minor and C major
    assert scale_consistency(a_harmonic) == pytest.approx(6 / 7)
    assert scale_consistency(Track("t", line(C_MAJOR_SCALE))) == 1.0
    assert math.isnan(scale_consistency(()))


def test_chromatic_scale_consistency_is_seven_twelfths():
    assert scale_consistency(range(60, 72)) == pytest.approx(7 / 12)


def test_pitch_in_key_rate():
    notes = (*line(C_MAJOR_SCALE), Note(8, 1, 66), Note(9, 1, 70))
    assert pitch_in_key_rate(notes, Key.parse("C")) == pytest.approx(8 / 10)
    assert pitch_in_key_rate(notes, Key.parse("G")) == pytest.approx(8 / 10)  # F# in, F and Bb out
    assert pitch_in_key_rate(line([57, 60, 64]), Key.parse("Am")) == 1.0
    assert math.isnan(pitch_in_key_rate((), Key.parse("C")))


def test_pitch_class_entropy():
    assert pitch_class_entropy(line([60, 72, 48])) == 0.0  # one pitch class
    assert pitch_class_entropy(line([60, 62])) == pytest.approx(1.0)
    assert pitch_class_entropy(range(60, 72)) == pytest.approx(math.log2(12))
    # Durations do not weigh: a long C and a short D are still one bit.
    assert pitch_class_entropy((Note(0, 8, 60), Note(8, 0.1, 62))) == pytest.approx(1.0)
    assert pitch_class_entropy(line([60, 60, 60, 62])) == pytest.approx(-(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25)))
    assert math.isnan(pitch_class_entropy(()))


def test_out_of_range_notes():
    flute = Track("flute", (Note(0, 1, 40), Note(1, 1, 72), Note(2, 1, 110)), program=73)
    assert out_of_range_notes(flute) == 2
    kit = Track("drums", (Note(0, 1, 36), Note(1, 1, 20), Note(2, 1, 42)), is_drum=True)
    assert out_of_range_notes(kit) == 1
    assert out_of_range_notes(Track("empty")) == 0


# ---------------------------------------------------------------------------- harmony
def chord_score(melody: tuple[Note, ...], chords: tuple[ChordSymbol, ...], sig=(4, 4)) -> tuple[Score, Track]:
    track = Track("melody", melody, program=73, role="melody")
    return Score(tracks=(track,), chords=chords, time_signatures=(TimeSignature(0, *sig),)), track


def test_strong_beat_chord_tone_rate_counts_only_strong_onsets():
    # Two bars of C then G. Strong beats in 4/4: 0 and 2 of each bar.
    chords = (ChordSymbol(0, 4, parse_chord("C")), ChordSymbol(4, 4, parse_chord("G")))
    melody = (
        Note(0, 1, 60),  # strong, C in C: hit
        Note(1, 1, 62),  # weak: ignored
        Note(2, 1, 65),  # strong, F in C: miss
        Note(3.5, 0.5, 61),  # weak: ignored
        Note(4, 2, 67),  # strong, G in G: hit
        Note(6.0005, 2, 71),  # strong within 1e-3, B in G: hit
    )
    score, track = chord_score(melody, chords)
    assert strong_beat_chord_tone_rate(score, track) == pytest.approx(3 / 4)


def test_strong_beat_chord_tone_rate_skips_no_chord_and_is_nan_without_onsets():
    chords = (ChordSymbol(0, 4, None), ChordSymbol(4, 4, parse_chord("Am7")))
    score, track = chord_score((Note(0, 1, 61), Note(4, 1, 67), Note(6, 1, 66)), chords)
    assert strong_beat_chord_tone_rate(score, track) == pytest.approx(1 / 2)  # G in Am7, F# not
    score, track = chord_score((Note(1, 1, 60), Note(3, 1, 60)), chords[1:])
    assert math.isnan(strong_beat_chord_tone_rate(score, track))
    score, track = chord_score((Note(8, 1, 60),), chords)  # after the last chord
    assert math.isnan(strong_beat_chord_tone_rate(score, track))


def test_strong_beat_chord_tone_rate_compound_metre():
    # 6/8: strong at 0 and 1.5 beats of each 3-beat bar.
    score, track = chord_score(
        (Note(0, 0.5, 60), Note(0.5, 0.5, 61), Note(1.5, 0.5, 61), Note(3, 0.5, 64)),
        (ChordSymbol(0, 6, parse_chord("C")),),
        sig=(6, 8),
    )
    assert strong_beat_chord_tone_rate(score, track) == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------- drums and groove
def test_drums_on_sixteenths_are_duple():
    score = Score()
    track = drums(np.arange(32) * 0.25)
    assert drum_in_pattern_rate(track, score, "duple") == 1.0
    assert drum_in_pattern_rate(track, score, "triple") == pytest.approx(8 / 32)  # only the beats
    assert drum_pattern_consistency(track, score) == 1.0


def test_triplet_drums_are_triple():
    score = Score()
    track = drums(np.arange(24) / 3.0)
    assert drum_in_pattern_rate(track, score, "triple") == 1.0
    assert drum_in_pattern_rate(track, score, "duple") == pytest.approx(1 / 3)
    assert drum_pattern_consistency(track, score) == 1.0


def test_swung_eighths_fall_off_the_duple_grid():
    score = Score()
    swung = drums([b + off for b in range(8) for off in (0.0, 2 / 3)])
    assert drum_in_pattern_rate(swung, score, "duple") == pytest.approx(0.5)
    assert drum_pattern_consistency(swung, score) == 1.0
    with pytest.raises(ValueError, match="meter"):
        drum_in_pattern_rate(swung, score, "waltz")
    assert math.isnan(drum_pattern_consistency(drums([]), score))


def test_drum_grid_is_measured_from_the_bar_line():
    # 5/8 bars are 2.5 beats: the second bar starts half a beat off the quarter grid,
    # and its onsets are still on the grid.
    score = Score(time_signatures=(TimeSignature(0, 5, 8),))
    assert drum_in_pattern_rate(drums([0, 0.5, 2.5, 3.0, 3.75]), score) == 1.0


def test_groove_consistency_identical_bars_is_one():
    bar = [0, 0.5, 1.5, 2, 3, 3.25]
    track = drums([b * 4 + t for b in range(8) for t in bar])
    assert groove_consistency(track, Score()) == 1.0


def test_groove_consistency_known_distance():
    # Bar 0: beats 0 and 2; bar 1: beat 0 only; bar 2: beats 0 and 2 again.
    # Each neighbouring pair differs in one of 48 steps.
    track = drums([0, 2, 4, 8, 10])
    assert groove_consistency(track, Score()) == pytest.approx(1 - 1 / 48)
    # Swapping an onset moves two steps.
    track = drums([0, 1, 4, 5.5])
    assert groove_consistency(track, Score()) == pytest.approx(1 - 2 / 48)
    assert math.isnan(groove_consistency(drums([0, 1, 2]), Score()))  # one bar only


def test_groove_consistency_counts_empty_bars_between_but_not_leading_silence():
    one = drums([16, 24])  # bars 4 and 6: bar 5 is empty
    assert groove_consistency(one, Score()) == pytest.approx(1 - 1 / 48)


def test_groove_consistency_in_three_four():
    score = Score(time_signatures=(TimeSignature(0, 3, 4),))
    track = drums([0, 1, 3, 4, 6])  # bars of 36 steps: bar 2 lacks beat 2
    assert groove_consistency(track, score) == pytest.approx(1 - (0 + 1 / 36) / 2)


# ---------------------------------------------------------------------------- per-bar counts
def test_pitch_classes_per_bar():
    notes = (
        *line([60, 64, 67, 72], step=1),  # bar 0: C E G (C twice) -> 3
        Note(4, 8, 62),  # held D through bars 1 and 2
        Note(5, 1, 65),  # bar 1: D F -> 2
        # bar 2: D only -> 1; bar 3 empty: ignored
        Note(16, 1, 60),  # bar 4: C -> 1
    )
    assert pitch_classes_per_bar(Track("p", notes), Score()) == pytest.approx((3 + 2 + 1 + 1) / 4)
    assert math.isnan(pitch_classes_per_bar(Track("p"), Score()))


def test_qualified_note_rate():
    notes = (
        Note(0, 0.25, 60),  # 3 steps: qualified
        Note(1, 0.1, 60),  # 1.2 steps, 1 on the grid: not
        Note(2, 1 / 6, 60),  # 2 steps: not
        Note(3, 4, 60),  # qualified
    )
    assert qualified_note_rate(Track("t", notes)) == pytest.approx(2 / 4)
    assert qualified_note_rate(notes, min_steps=2) == pytest.approx(3 / 4)
    assert qualified_note_rate(notes, steps_per_beat=4) == pytest.approx(1 / 4)  # needs 3/4 beat
    assert math.isnan(qualified_note_rate(Track("t")))


def test_empty_bars_counts_held_notes_as_sounding():
    track = Track(
        "pad",
        (
            Note(0, 6, 60),  # bars 0 and 1
            Note(12, 4, 60),  # bar 3, ends on the bar line of bar 4
            Note(20, 1, 60),  # bar 5
        ),
    )
    score = Score(tracks=(track,))
    assert empty_bars(track, score, range(7)) == [2, 4, 6]
    assert empty_bars(track, score, [5, 4, 0]) == [4]
    assert empty_bars(Track("none"), score, [0, 1]) == [0, 1]
    assert empty_bars(track, score, []) == []
    assert empty_bar_rate(track, score, range(8)) == pytest.approx(4 / 8)
    assert empty_bar_rate(track, score) == pytest.approx(2 / 6)  # bars 0–5, up to the score's end
    assert math.isnan(empty_bar_rate(track, score, []))


def test_empty_bars_follow_metre_changes():
    # One bar of 4/4 then 3/4 bars: bar 1 is beats 4–7, bar 2 beats 7–10.
    score = Score(time_signatures=(TimeSignature(0, 4, 4), TimeSignature(4, 3, 4)))
    track = Track("t", (Note(0, 1, 60), Note(7.5, 1, 62)))
    assert empty_bars(track, score, range(4)) == [1, 3]
