"""The Score type and MIDI I/O: time maps, edits, exact round trips, bad files."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from tunesmith.errors import InputFileError
from tunesmith.score import (
    ChordSymbol,
    Key,
    KeyChange,
    Note,
    Score,
    Section,
    TempoChange,
    TimeSignature,
    Track,
    parse_chord,
    read_midi,
    write_midi,
)


def sample_score() -> Score:
    melody = Track("melody", (Note(0, 1, 72), Note(1, 0.5, 74, 80), Note(1.5, 2.5, 76, 100)), program=73, role="melody")
    bass = Track("bass", tuple(Note(b, 1, 36 + (b % 3)) for b in range(8)), program=33, role="bass")
    drums = Track("drums", tuple(Note(b * 0.5, 0.25, 42, 70) for b in range(16)), is_drum=True, role="drums")
    return Score(
        tracks=(melody, bass, drums),
        tempos=(TempoChange(0, 100), TempoChange(4, 150)),
        time_signatures=(TimeSignature(0, 4, 4), TimeSignature(4, 3, 4)),
        keys=(KeyChange(0, Key.parse("C")), KeyChange(4, Key.parse("Am"))),
        chords=(
            ChordSymbol(0, 4, parse_chord("Cmaj7")),
            ChordSymbol(4, 3, parse_chord("Am/G")),
            ChordSymbol(7, 1, None),
        ),
        sections=(Section("verse", 0, 1), Section("chorus", 1, 2)),
        title="sample",
    )


def test_beats_and_seconds_follow_the_tempo_map() -> None:
    s = sample_score()
    assert s.seconds(4) == pytest.approx(4 * 60 / 100)
    assert s.seconds(6) == pytest.approx(2.4 + 2 * 60 / 150)
    for beat in (0, 1.5, 4, 5.25, 10):
        assert s.beats(s.seconds(beat)) == pytest.approx(beat)


def test_bars_follow_metre_changes() -> None:
    s = sample_score()
    assert [s.bar_start(b) for b in range(4)] == [0, 4, 7, 10]


def test_transpose_slice_quantize_merge() -> None:
    s = sample_score()
    up = s.transpose(2)
    assert up.tracks[0].notes[0].pitch == 74 and up.tracks[2].notes[0].pitch == 42  # drums stay
    assert up.chords[0].chord.symbol() == "Dmaj7" and up.keys[1].key == Key.parse("Bm")
    with pytest.raises(ValueError):
        s.transpose(100)
    bar2 = s.slice_bars(1, 1)  # the 3/4 bar at beats 4-7
    assert bar2.time_signatures[0].numerator == 3 and bar2.tempos[0].bpm == 150
    assert all(0 <= n.start < 3 for t in bar2.tracks for n in t.notes)
    assert bar2.chords[0].chord.symbol() == "Am/G" and bar2.chords[0].duration == 3
    q = Score(tracks=(Track("x", (Note(0.13, 0.4, 60), Note(0.9, 0.2, 62))),)).quantize(0.25)
    assert [(n.start, n.duration) for n in q.tracks[0].notes] == [(0.25, 0.25), (1.0, 0.25)]
    both = s.merge(Score(tracks=(Track("pad", (Note(0, 8, 60),), program=89),)))
    assert [t.name for t in both.tracks] == ["melody", "bass", "drums", "pad"]


def _note_ticks(score: Score) -> list[tuple[str, int, bool, tuple]]:
    return [
        (
            t.name.split(" (")[0],
            t.program,
            t.is_drum,
            tuple((round(n.start * 480), round(n.end * 480), n.pitch, n.velocity) for n in t.notes),
        )
        for t in score.tracks
    ]


def test_midi_round_trip_keeps_everything(tmp_path) -> None:
    s = sample_score()
    path = tmp_path / "song.mid"
    write_midi(s, path)
    back = read_midi(path)
    assert _note_ticks(back) == _note_ticks(s)
    assert [(t.beat, round(t.bpm, 6)) for t in back.tempos] == [(0, 100), (4, 150)]
    assert [(t.beat, t.numerator, t.denominator) for t in back.time_signatures] == [(0, 4, 4), (4, 3, 4)]
    assert [k.key for k in back.keys] == [Key.parse("C"), Key.parse("Am")]
    assert [(c.start, c.duration, c.chord) for c in back.chords] == [(c.start, c.duration, c.chord) for c in s.chords]
    assert [(x.name, x.start_bar, x.bars) for x in back.sections] == [("verse", 0, 1), ("chorus", 1, 2)]
    midi = mido.MidiFile(str(path))
    assert midi.ticks_per_beat == 480
    drum_channels = {m.channel for m in midi.tracks[3] if m.type == "note_on"}
    assert drum_channels == {9}


def _midi(tmp_path, events: list[mido.Message], name: str = "x.mid", ppq: int = 480) -> str:
    mid = mido.MidiFile(ticks_per_beat=ppq)
    track = mido.MidiTrack(events)
    mid.tracks.append(track)
    path = tmp_path / name
    mid.save(str(path))
    return str(path)


def test_type_0_with_tempo_changes_and_drums(tmp_path) -> None:
    events = [
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0),
        mido.Message("program_change", channel=0, program=24, time=0),
        mido.Message("note_on", channel=0, note=60, velocity=90, time=0),
        mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
        mido.Message("note_off", channel=9, note=36, velocity=0, time=120),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(140), time=360),
        mido.Message("note_on", channel=0, note=60, velocity=0, time=0),
    ]
    score = read_midi(_midi(tmp_path, events, ppq=96))
    guitar = next(t for t in score.tracks if not t.is_drum)
    drums = next(t for t in score.tracks if t.is_drum)
    assert guitar.program == 24 and guitar.notes[0].duration == pytest.approx(480 / 96)
    assert drums.notes[0].pitch == 36
    assert [round(t.bpm) for t in score.tempos] == [90, 140]


def test_program_changes_mid_track_on_16_channels_split_parts(tmp_path) -> None:
    events = []
    for ch in range(16):
        for prog in (ch * 3, ch * 3 + 1):
            events += [
                mido.Message("program_change", channel=ch, program=prog, time=0),
                mido.Message("note_on", channel=ch, note=50 + ch, velocity=64, time=0),
                mido.Message("note_off", channel=ch, note=50 + ch, velocity=0, time=240),
            ]
    score = read_midi(_midi(tmp_path, events))
    assert sum(len(t.notes) for t in score.tracks) == 32
    assert len(score.tracks) == 31  # 15 pitched channels x 2 programs + 1 drum part


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.write_text("MThd but not really"), "not a readable MIDI"),
        (lambda p: p.write_bytes(b""), "not a readable MIDI"),
    ],
)
def test_bad_files(tmp_path, make, problem) -> None:
    path = tmp_path / "bad.mid"
    make(path)
    with pytest.raises(InputFileError, match=problem):
        read_midi(path)
    with pytest.raises(InputFileError, match="no such file"):
        read_midi(tmp_path / "missing.mid")


def test_implausible_tempos(tmp_path) -> None:
    for bpm in (10_000,):
        path = _midi(tmp_path, [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))], f"t{bpm}.mid")
        with pytest.raises(InputFileError, match="implausible tempo"):
            read_midi(path)
    raw = tmp_path / "zero.mid"
    data = bytearray(Path(_midi(tmp_path, [mido.MetaMessage("set_tempo", tempo=500000)], "z.mid")).read_bytes())
    i = data.index(b"\xff\x51\x03")
    data[i + 3 : i + 6] = b"\x00\x00\x00"  # tempo of 0 microseconds per beat
    raw.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match="tempo of 0"):
        read_midi(raw)


def test_notes_outside_midi_range_are_a_damaged_file(tmp_path) -> None:
    path = _midi(tmp_path, [mido.Message("note_on", note=60, velocity=64), mido.Message("note_off", note=60, time=10)])
    data = bytearray(Path(path).read_bytes())
    i = data.index(bytes([0x90, 60]))
    data[i + 1] = 200  # a data byte above 127
    Path(path).write_bytes(bytes(data))
    with pytest.raises(InputFileError):
        read_midi(path)


def test_midi_without_notes_is_an_empty_score(tmp_path) -> None:
    score = read_midi(_midi(tmp_path, [mido.MetaMessage("set_tempo", tempo=500000)]))
    assert score.tracks == () and score.end == 0


def test_two_hour_midi_loads(tmp_path) -> None:
    notes = 2 * 60 * 60 * 2  # a note every half second at 120 BPM for two hours
    events = []
    for i in range(notes):
        events += [
            mido.Message("note_on", note=60 + i % 12, velocity=80, time=0 if i == 0 else 240),
            mido.Message("note_off", note=60 + i % 12, velocity=0, time=240),
        ]
    score = read_midi(_midi(tmp_path, events))
    assert sum(len(t.notes) for t in score.tracks) == notes
    assert score.duration_s == pytest.approx(7200, abs=1)
