"""Standard MIDI files <-> :class:`Score` (through mido).

Reading keeps every note (type 0 and 1 files, any resolution, tempo and metre
changes, drums on channel 10, one :class:`Track` per track, channel and
program). Writing produces a type-1 file at 480 ticks per beat with a
conductor track (tempo, time signature, key, section markers, chord symbols as
text events) and one track per part (GM program, drums on channel 10).
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from pathlib import Path

import mido
from mido.midifiles.meta import KeySignatureError

from tunesmith.atomic import atomic_path
from tunesmith.errors import InputFileError
from tunesmith.score.theory import ChordParseError, Key, parse_chord
from tunesmith.score.types import (
    ChordSymbol,
    KeyChange,
    Note,
    Score,
    Section,
    TempoChange,
    TimeSignature,
    Track,
    chord_spans,
)

PPQ = 480
DRUM_CHANNEL = 9
MIN_BPM, MAX_BPM = 10.0, 1000.0
MAX_DENOMINATOR = 128  # 1/128 notes: beyond any metre in use
_SECTION_PREFIX = "section:"
_SECTIONS_END = "tunesmith:sections-end"


def read_midi(path: str | os.PathLike[str]) -> Score:
    """Read a MIDI file into a :class:`Score`.

    Raises
    ------
    InputFileError
        Missing, not MIDI, damaged, or with an implausible tempo (outside 10–1000 BPM).
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError("no such file", p)
    if p.is_dir():
        raise InputFileError("is a directory, not a MIDI file", p)
    try:
        mid = mido.MidiFile(str(p), clip=False)
    # mido raises its own KeySignatureError (not a ValueError) for an unknown key mode byte.
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, KeySignatureError) as exc:
        raise InputFileError(f"not a readable MIDI file ({exc.__class__.__name__}: {str(exc)[:80]})", p) from None
    if mid.type == 2:
        raise InputFileError("type-2 MIDI (independent sequences) is not supported", p)
    ppq = mid.ticks_per_beat
    if not ppq or ppq <= 0:
        raise InputFileError("MIDI file uses SMPTE time division, which tunesmith does not read", p)

    tempos: list[TempoChange] = []
    sigs: list[TimeSignature] = []
    keys: list[KeyChange] = []
    chord_marks: list[tuple[float, str]] = []
    sections: list[tuple[float, str]] = []
    tracks: list[Track] = []
    sections_end: float | None = None
    for index, mtrack in enumerate(mid.tracks):
        tick = 0
        name = mtrack.name or f"track {index + 1}"
        program = defaultdict(int)  # current program per channel
        pending: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)  # (ch, pitch) -> [(tick, vel)]
        parts: dict[tuple[int, int], list[Note]] = defaultdict(list)  # (channel, program) -> notes
        for msg in mtrack:
            tick += msg.time
            beat = tick / ppq
            if msg.type == "set_tempo":
                if msg.tempo <= 0:
                    raise InputFileError(f"tempo of 0 at beat {beat:g}", p)
                bpm = mido.tempo2bpm(msg.tempo)
                if not MIN_BPM <= bpm <= MAX_BPM:
                    raise InputFileError(f"implausible tempo {bpm:.0f} BPM at beat {beat:g} (10-1000 BPM)", p)
                tempos.append(TempoChange(beat, bpm))
            elif msg.type == "time_signature":
                # 0/4 would make a bar zero beats long; 4/2^255 (the byte allows it) all but so.
                if not (msg.numerator >= 1 and 1 <= msg.denominator <= MAX_DENOMINATOR):
                    raise InputFileError(
                        f"implausible time signature {msg.numerator}/{msg.denominator} at beat {beat:g}", p
                    )
                sigs.append(TimeSignature(beat, msg.numerator, msg.denominator))
            elif msg.type == "key_signature":
                with contextlib.suppress(ValueError):
                    keys.append(KeyChange(beat, Key.parse(msg.key)))
            elif msg.type in ("marker", "text", "cue_marker"):
                text = msg.text.strip()
                if text == _SECTIONS_END:
                    sections_end = beat
                elif text.lower().startswith(_SECTION_PREFIX):
                    sections.append((beat, text[len(_SECTION_PREFIX) :]))
                elif text:
                    chord_marks.append((beat, text))
            elif msg.type == "program_change":
                program[msg.channel] = msg.program
            elif msg.type == "note_on" and msg.velocity > 0:
                pending[(msg.channel, msg.note)].append((tick, msg.velocity))
            elif msg.type in ("note_off", "note_on"):
                starts = pending.get((msg.channel, msg.note))
                if starts:
                    t0, vel = starts.pop(0)
                    if tick > t0:
                        prog = -1 if msg.channel == DRUM_CHANNEL else program[msg.channel]
                        parts[(msg.channel, prog)].append(Note(t0 / ppq, (tick - t0) / ppq, msg.note, vel))
        for (channel, prog), notes in sorted(parts.items()):
            is_drum = channel == DRUM_CHANNEL
            label = name if len(parts) == 1 else f"{name} (ch {channel + 1}{'' if is_drum else f', program {prog}'})"
            tracks.append(Track(label, tuple(notes), max(prog, 0), is_drum, "drums" if is_drum else "other"))

    end = max([t.end for t in tracks] + [0.0])
    chords = _chords_from_marks(chord_marks, end)
    section_list = _sections_from_marks(sections, sigs, end if sections_end is None else sections_end)
    return Score(
        tracks=tuple(tracks),
        tempos=tuple(tempos) or (TempoChange(0.0, 120.0),),
        time_signatures=tuple(sigs) or (TimeSignature(0.0),),
        keys=tuple(keys),
        chords=chords,
        sections=section_list,
        title=p.stem,
    )


def _chords_from_marks(marks: list[tuple[float, str]], end: float) -> tuple[ChordSymbol, ...]:
    """Text events that parse as chord symbols; each lasts until the next one (or the end)."""
    parsed = []
    for beat, text in marks:
        try:
            parsed.append((beat, parse_chord(text)))
        except ChordParseError:
            continue
    return chord_spans(parsed, end)


def _sections_from_marks(marks: list[tuple[float, str]], sigs: list[TimeSignature], end: float) -> tuple[Section, ...]:
    """Sections from ``section:NAME`` markers; the last runs to ``end`` (the end marker, or the music's end)."""
    if not marks:
        return ()
    probe = Score(time_signatures=tuple(sigs) or (TimeSignature(0.0),))
    starts = [(probe.bar_at(b), name) for b, name in sorted(marks)]
    last = max(probe.bar_at(end - 1e-6) + 1 if end > 0 else 0, starts[-1][0] + 1)
    return tuple(
        Section(name, bar, (starts[i + 1][0] if i + 1 < len(starts) else last) - bar)
        for i, (bar, name) in enumerate(starts)
    )


def _ticks(beat: float) -> int:
    return round(beat * PPQ)


def write_midi(score: Score, path: str | os.PathLike[str], label: str | None = None) -> None:
    """Write ``score`` as a type-1 MIDI file at 480 ticks per beat, atomically.

    Track 0 carries tempo, time signatures, keys, section markers
    (``section:NAME``) and chord symbols (text events in lead-sheet spelling).
    Each part gets its own track and channel (drums on channel 10); more than
    15 pitched parts share channels round-robin.

    Parameters
    ----------
    label : str, optional
        Written as the file's copyright meta event — e.g. the plain-words statement that the
        music is AI-generated, which every MIDI tool shows.
    """
    mid = mido.MidiFile(type=1, ticks_per_beat=PPQ)
    conductor: list[tuple[int, int, mido.MetaMessage]] = []
    for t in score.tempos:
        conductor.append((_ticks(t.beat), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(t.bpm))))
    for s in score.time_signatures:
        conductor.append(
            (_ticks(s.beat), 1, mido.MetaMessage("time_signature", numerator=s.numerator, denominator=s.denominator))
        )
    for k in score.keys:
        if k.key.mode in ("major", "minor"):
            conductor.append((_ticks(k.beat), 2, mido.MetaMessage("key_signature", key=k.key.short())))
    for sec in score.sections:
        conductor.append(
            (_ticks(score.bar_start(sec.start_bar)), 3, mido.MetaMessage("marker", text=_SECTION_PREFIX + sec.name))
        )
    if score.sections:
        last = max(score.sections, key=lambda x: x.start_bar + x.bars)
        conductor.append(
            (_ticks(score.bar_start(last.start_bar + last.bars)), 3, mido.MetaMessage("marker", text=_SECTIONS_END))
        )
    for c in score.chords:
        conductor.append((_ticks(c.start), 4, mido.MetaMessage("text", text=c.chord.symbol() if c.chord else "N.C.")))
    head = mido.MidiTrack()
    head.append(mido.MetaMessage("track_name", name=score.title or "tunesmith"))
    if label:
        head.append(mido.MetaMessage("copyright", text=label))
    _append_sorted(head, conductor)
    mid.tracks.append(head)

    channels = [c for c in range(16) if c != DRUM_CHANNEL]
    pitched = 0
    for track in score.tracks:
        channel = DRUM_CHANNEL if track.is_drum else channels[pitched % len(channels)]
        if not track.is_drum:
            pitched += 1
        events: list[tuple[int, int, mido.Message]] = []
        for n in track.notes:
            on, off = _ticks(n.start), max(_ticks(n.end), _ticks(n.start) + 1)
            events.append((on, 2, mido.Message("note_on", channel=channel, note=n.pitch, velocity=n.velocity)))
            events.append((off, 1, mido.Message("note_off", channel=channel, note=n.pitch, velocity=0)))
        mtrack = mido.MidiTrack()
        mtrack.append(mido.MetaMessage("track_name", name=track.name))
        if not track.is_drum:
            mtrack.append(mido.Message("program_change", channel=channel, program=track.program))
        _append_sorted(mtrack, events)
        mid.tracks.append(mtrack)
    with atomic_path(path) as tmp:
        mid.save(str(tmp))


def _append_sorted(track: mido.MidiTrack, events: list[tuple[int, int, mido.Message]]) -> None:
    """Append (tick, order, message) events as delta times; note-offs sort before note-ons at equal ticks."""
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
