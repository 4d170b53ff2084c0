"""MusicXML/MXL and ABC reading through music21, and the MusicXML lead sheet."""

from __future__ import annotations

import pytest

from tunesmith.errors import InputFileError, UsageError
from tunesmith.score import (
    ChordSymbol,
    Key,
    KeyChange,
    Note,
    Score,
    TempoChange,
    TimeSignature,
    Track,
    parse_chord,
    read_score,
    write_midi,
    write_musicxml,
)

corpus = pytest.importorskip("music21.corpus")


def test_reads_a_bach_chorale_from_music21s_corpus() -> None:
    path = sorted(corpus.getComposer("bach"))[0]
    score = read_score(path)
    names = [t.name for t in score.tracks]
    assert {"Soprano", "Alto", "Tenor", "Bass"} <= set(names)
    soprano = score.track("Soprano")
    assert len(soprano.notes) > 20 and all(55 <= n.pitch <= 84 for n in soprano.notes)
    assert len(score.keys) == 1 and len(score.time_signatures) == 1  # one per piece, not one per part


def test_reads_an_abc_tune() -> None:
    path = next(p for p in corpus.getPaths(fileExtensions=("abc",)) if "essenFolksong" in str(p))
    score = read_score(path)
    assert len(score.tracks) == 1 and len(score.tracks[0].notes) > 10
    # A folk tune in its written key: nearly every note is a scale tone (a few chromatic passing notes allowed).
    notes = score.tracks[0].notes
    assert score.keys and sum(score.keys[0].key.contains(n.pitch) for n in notes) >= 0.8 * len(notes)


def test_additive_abc_metre_reads_as_its_sum(tmp_path) -> None:
    # music21 alone reads M:2+3+2/8 as 232/8 (slowly); the ABC standard means 7/8 grouped 2+3+2.
    path = tmp_path / "seven.abc"
    path.write_text("X:1\nT:Seven\nM:2+3+2/8\nL:1/8\nK:D\nDE FGA Bc|dc BAG FE|DE FGA Bc|\n")
    score = read_score(path)
    assert [(t.numerator, t.denominator) for t in score.time_signatures][:1] == [(7, 8)]
    assert len(score.tracks[0].notes) == 21
    assert path.read_text().count("2+3+2") == 1  # the file itself is left alone


def lead_song() -> Score:
    melody = (Note(0, 1, 72), Note(1, 0.5, 74), Note(1.5, 0.5, 76), Note(2, 2, 79), Note(4, 3, 77), Note(7, 1, 76))
    return Score(
        tracks=(Track("melody", melody, program=0, role="melody"), Track("bass", (Note(0, 8, 36),), program=33)),
        tempos=(TempoChange(0, 96.0),),
        time_signatures=(TimeSignature(0, 4, 4),),
        keys=(KeyChange(0, Key.parse("F")),),
        chords=(
            ChordSymbol(0, 2, parse_chord("Fmaj7")),
            ChordSymbol(2, 2, parse_chord("Dm7")),
            ChordSymbol(4, 2, parse_chord("Bb/D")),
            ChordSymbol(6, 2, parse_chord("C7sus4")),
        ),
        title="lead",
    )


@pytest.mark.parametrize("suffix", [".musicxml", ".mxl"])
def test_lead_sheet_round_trip(tmp_path, suffix) -> None:
    song = lead_song()
    path = tmp_path / f"lead{suffix}"
    write_musicxml(song, path)
    back = read_score(path)
    assert len(back.tracks) == 1  # a lead sheet: the melody only
    got = [(n.start, n.duration, n.pitch) for n in back.tracks[0].notes]
    assert got == [(n.start, n.duration, n.pitch) for n in song.track("melody").notes]
    assert [c.chord for c in back.chords] == [c.chord for c in song.chords]
    assert back.keys[0].key == Key.parse("F") and round(back.tempos[0].bpm) == 96
    assert "<harmony" in (path.read_text() if suffix == ".musicxml" else "<harmony")


def test_read_score_dispatches_and_errors(tmp_path) -> None:
    mid = tmp_path / "song.mid"
    write_midi(lead_song(), mid)
    assert len(read_score(mid).tracks) == 2
    bad = tmp_path / "broken.musicxml"
    bad.write_text("<score-partwise><part><measure>")
    with pytest.raises(InputFileError, match="not a readable MUSICXML"):
        read_score(bad)
    with pytest.raises(UsageError, match="unknown score format"):
        read_score(tmp_path / "song.docx")
    with pytest.raises(InputFileError, match="no such file"):
        read_score(tmp_path / "missing.abc")


@pytest.mark.parametrize("style", ["pop", "jazz", "blues", "chorale"])
def test_composed_lead_sheets_read_back_note_for_note(tmp_path, style) -> None:
    from tunesmith.compose import ComposeOptions, compose
    from tunesmith.score.theory import CHORD_QUALITIES, Chord

    song = compose(ComposeOptions(style=style, bars=16, seed=4)).score
    path = tmp_path / "lead.musicxml"
    write_musicxml(song, path)
    text = path.read_text()
    assert "AI-generated" in text
    back = read_score(path)
    expected = []
    # One voice on the sixteenth grid, taken in the order the notes were played: where two land on
    # the same sixteenth (a swung or triplet figure) the earlier one stays; a later onset cuts a note.
    for n in sorted(song.track("melody").notes, key=lambda n: (n.start, -n.pitch)):
        start = round(n.start * 4) / 4
        end = max(start + 0.25, round(n.end * 4) / 4)
        if expected and expected[-1][0] == start:
            continue
        if expected and expected[-1][0] + expected[-1][1] > start:
            expected[-1] = (expected[-1][0], start - expected[-1][0], expected[-1][2])
        expected.append((start, end - start, n.pitch))
    assert [(n.start, n.duration, n.pitch) for n in back.tracks[0].notes] == expected
    chords = [(c.start, c.chord) for c in song.chords if c.chord is not None and c.start < song.end - 1e-9]
    assert [(c.start, c.chord) for c in back.chords][: len(chords)] == chords
    # Every chord quality we know survives the trip.
    from tunesmith.score import ChordSymbol, Note, Score, Track

    n = len(CHORD_QUALITIES)
    held = Track("melody", tuple(Note(4.0 * i, 4.0, 60 + i % 12) for i in range(n)), role="melody")
    all_q = Score(
        tracks=(held,), chords=tuple(ChordSymbol(4.0 * i, 4.0, Chord(i % 12, q)) for i, q in enumerate(CHORD_QUALITIES))
    )
    write_musicxml(all_q, path)
    assert [c.chord for c in read_score(path).chords][: len(CHORD_QUALITIES)] == [c.chord for c in all_q.chords]
