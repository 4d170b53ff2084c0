"""Music theory: names, chord symbols in both spellings, keys, roman numerals, key finding."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.score.theory import (
    CHORD_QUALITIES,
    Chord,
    ChordParseError,
    Key,
    detect_key,
    interval_name,
    midi_note_name,
    parse_chord,
    parse_pitch_class,
    roman_numeral,
)


def test_pitch_names() -> None:
    assert [parse_pitch_class(n) for n in ("C", "C#", "Db", "B#", "Cb", "Ebb", "f#")] == [0, 1, 1, 0, 11, 2, 6]
    assert midi_note_name(60) == "C4" and midi_note_name(69) == "A4" and midi_note_name(70, flats=True) == "Bb4"
    assert interval_name(7) == "P5" and interval_name(12) == "P8" and interval_name(3) == "m3"
    with pytest.raises(ValueError):
        parse_pitch_class("H")


@pytest.mark.parametrize(
    ("text", "pcs", "printed"),
    [
        ("C", (0, 4, 7), "C"),
        ("Am", (9, 0, 4), "Am"),
        ("G7", (7, 11, 2, 5), "G7"),
        ("Fmaj7", (5, 9, 0, 4), "Fmaj7"),
        ("Dm7", (2, 5, 9, 0), "Dm7"),
        ("Bm7b5", (11, 2, 5, 9), "Bm7b5"),
        ("Bdim", (11, 2, 5), "Bdim"),
        ("C#dim7", (1, 4, 7, 10), "C#dim7"),
        ("Caug", (0, 4, 8), "Caug"),
        ("Dsus2", (2, 4, 9), "Dsus2"),
        ("Esus4", (4, 9, 11), "Esus4"),
        ("F6", (5, 9, 0, 2), "F6"),
        ("Cadd9", (0, 4, 7, 2), "Cadd9"),
        ("G9", (7, 11, 2, 5, 9), "G9"),
        ("C11", (0, 4, 7, 10, 2, 5), "C11"),
        ("A13", (9, 1, 4, 7, 11, 6), "A13"),
        ("C/E", (0, 4, 7), "C/E"),
        ("Am/G", (9, 0, 4, 7), "Am/G"),
        # POP909 / Harte spelling
        ("B:maj", (11, 3, 6), "B"),
        ("C#:min7", (1, 4, 8, 11), "C#m7"),
        ("Bb:maj/3", (10, 2, 5), "A#/D"),
        ("A:min/b3", (9, 0, 4), "Am/C"),
        ("G:sus4(b7)", (7, 0, 2, 5), "G7sus4"),
        ("F#:hdim7", (6, 9, 0, 4), "F#m7b5"),
        ("D:maj7/7", (2, 6, 9, 1), "Dmaj7/C#"),
        ("E:minmaj7", (4, 7, 11, 3), "Em(maj7)"),
    ],
)
def test_chord_symbols(text: str, pcs: tuple[int, ...], printed: str) -> None:
    chord = parse_chord(text)
    assert chord is not None
    assert chord.pitch_classes == pcs
    assert chord.symbol() == printed
    assert parse_chord(chord.symbol()) == chord  # printing and parsing round-trip


def test_every_quality_round_trips_in_every_key() -> None:
    for quality in CHORD_QUALITIES:
        for root in range(12):
            for bass in (None, (root + 4) % 12):
                chord = Chord(root, quality, bass)
                for flats in (False, True):
                    assert parse_chord(chord.symbol(flats)) == Chord(root, quality, None if bass == root else bass)


def test_no_chord_and_errors() -> None:
    assert parse_chord("N") is None and parse_chord("N.C.") is None
    for bad in ("H7", "Cxyz", "C:blah", "C:maj/12", "C/H"):
        with pytest.raises(ChordParseError):
            parse_chord(bad)


def test_keys() -> None:
    assert Key.parse("F#m") == Key(6, "minor")
    assert Key.parse("Gb:maj") == Key(6, "major")
    assert Key.parse("Bb major").name() == "Bb major"
    assert Key.parse("D dorian").scale == (2, 4, 5, 7, 9, 11, 0)
    assert Key.parse("Eb").short() == "Eb" and Key.parse("c#m").short() == "C#m"
    assert Key(0).contains(64) and not Key(0).contains(61)


@pytest.mark.parametrize(
    ("chord", "key", "numeral"),
    [
        ("G7", "C", "V7"),
        ("Dm", "C", "ii"),
        ("Bb", "C", "bVII"),
        ("Bdim", "C", "viio"),
        ("E", "Am", "V"),
        ("F", "Am", "VI"),
        ("Fmaj7", "C", "IVmaj7"),
        ("F#m7b5", "C", "#ivø7"),
    ],
)
def test_roman_numerals(chord: str, key: str, numeral: str) -> None:
    assert roman_numeral(parse_chord(chord), Key.parse(key)) == numeral


def test_key_detection_on_scales_and_cadences() -> None:
    for tonic in range(12):
        for mode in ("major", "minor"):
            key = Key(tonic, mode)
            hist = np.zeros(12)
            for degree, weight in zip(key.scale, (5, 2, 3, 2, 4, 2, 2), strict=True):
                hist[degree] += weight
            if mode == "minor":  # the leading tone of harmonic minor
                hist[(tonic + 11) % 12] += 1.5
            assert detect_key(hist)[0] == key


def test_instrument_ranges() -> None:
    from tunesmith.score.theory import instrument_range

    for program in range(128):
        low, high = instrument_range(program)
        assert 0 <= low < high <= 127 and high - low >= 24  # at least two octaves
    assert instrument_range(33)[1] <= 67  # electric bass stays low
    assert instrument_range(72)[0] >= 72  # piccolo stays high
    assert instrument_range(58)[0] < instrument_range(56)[0]  # tuba below trumpet
    assert instrument_range(0, is_drum=True) == (35, 81)
    with pytest.raises(ValueError):
        instrument_range(128)
