"""MusicXML/MXL and ABC through music21, and the MusicXML lead sheet.

``read_score`` is the one entry point for every symbolic format: MIDI goes to
:func:`tunesmith.score.midi.read_midi`, MusicXML/MXL/ABC to music21, whose
parts become tracks (tied notes merged, chords split into notes, chord symbols
kept as :class:`ChordSymbol`). ``write_musicxml`` writes a lead sheet — the
melody with chord symbols, key, metre and tempo — that MuseScore opens.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tunesmith.errors import InputFileError, UsageError
from tunesmith.score.midi import read_midi
from tunesmith.score.theory import Chord, ChordParseError, Key, parse_chord
from tunesmith.score.types import KeyChange, Note, Score, TempoChange, TimeSignature, Track, chord_spans

NOTATION_SUFFIXES = (".musicxml", ".xml", ".mxl", ".abc")
MIDI_SUFFIXES = (".mid", ".midi")
NOTATION_GRID = 0.25  # beats: the lead sheet is notated in sixteenths

# Canonical chord quality -> MusicXML/music21 chord kind.
_KINDS = {
    "maj": "major",
    "min": "minor",
    "7": "dominant-seventh",
    "maj7": "major-seventh",
    "min7": "minor-seventh",
    "minmaj7": "minor-major-seventh",
    "hdim7": "half-diminished-seventh",
    "dim": "diminished",
    "dim7": "diminished-seventh",
    "aug": "augmented",
    "sus2": "suspended-second",
    "sus4": "suspended-fourth",
    "7sus4": "suspended-fourth-seventh",
    "maj6": "major-sixth",
    "min6": "minor-sixth",
    "9": "dominant-ninth",
    "maj9": "major-ninth",
    "min9": "minor-ninth",
    "11": "dominant-11th",
    "min11": "minor-11th",
    "13": "dominant-13th",
    "add9": "major",
}
_FROM_KIND = {v: k for k, v in _KINDS.items() if k != "add9"}
_FROM_KIND.update({"dominant": "7", "suspended-fourth-seventh": "7sus4", "major-minor": "minmaj7"})


def read_score(path: str | os.PathLike[str]) -> Score:
    """Read MIDI, MusicXML/MXL or ABC into a :class:`Score` (format from the suffix).

    Raises
    ------
    InputFileError
        Missing or unreadable file.
    UsageError
        Unknown suffix.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return read_midi(p)
    if suffix not in NOTATION_SUFFIXES:
        raise UsageError(f"unknown score format {suffix or '(no suffix)'!r}: use .mid, .musicxml, .mxl or .abc", p)
    if not p.exists():
        raise InputFileError("no such file", p)
    if p.is_dir():
        raise InputFileError("is a directory, not a score", p)
    if suffix not in (".mxl", ".abc"):  # (zipped: nothing to scan without unpacking; see from_music21)
        _check_metres(p)
    import music21  # imported on use: it takes a second

    limit = read_time_limit_s()
    try:
        with _time_limit(limit):
            abc_text = _check_abc(p) if suffix == ".abc" else None
            try:
                # forceSource: music21 would otherwise keep a pickle of every file it reads in its
                # shared scratch folder (/tmp/music21) and load it back next time — unbounded, and
                # unpickling what another user can plant there.
                if abc_text is not None:  # additive metres rewritten (see _additive_metres)
                    parsed = music21.converter.parseData(abc_text, format="abc", forceSource=True)
                else:
                    parsed = music21.converter.parse(
                        str(p), format="abc" if suffix == ".abc" else "musicxml", forceSource=True
                    )
            except Exception as exc:  # music21 raises many unrelated types for malformed files
                raise _unreadable(exc, suffix, p) from None
            if isinstance(parsed, music21.stream.Opus):  # an ABC book: the first tune
                scores = list(parsed.scores)
                if not scores:
                    raise InputFileError("holds no tunes", p)
                parsed = scores[0]
            return from_music21(parsed, title=p.stem)
    except _TimeUp:
        raise InputFileError(
            f"music21 did not finish reading it in {limit:g} s (set TUNESMITH_SCORE_READ_SECONDS to allow more)", p
        ) from None


#: Longest music21 may take over one file by default, s. Some small files send it into work that
#: grows without bound (irregular bars make it build metres of hundreds of beats); a user's real
#: scores read in seconds.
READ_TIME_LIMIT_S = 120.0


def read_time_limit_s() -> float:
    """The time limit on reading one MusicXML/ABC file: ``$TUNESMITH_SCORE_READ_SECONDS`` or 120 s."""
    try:
        return max(0.1, float(os.environ.get("TUNESMITH_SCORE_READ_SECONDS", READ_TIME_LIMIT_S)))
    except ValueError:
        return READ_TIME_LIMIT_S


class _TimeUp(BaseException):  # a BaseException, so no `except Exception` in music21 swallows it
    """The time limit on reading a score ran out."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`_TimeUp` in the block after ``seconds`` (main thread only, where signals arrive).

    An outer timer (a test runner's, say) is put back afterwards with the time it had left.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _TimeUp

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay:
            left = max(outer_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


#: Most beats in a bar accepted from a file. music21 builds a metre's accent pattern in time that
#: grows with the cube of its beats: 64 take a quarter of a second, 412 took 40 s, 10 000 would
#: never finish. No piece is written in more.
MAX_METRE_BEATS = 64
_XML_BEATS = re.compile(rb"<beats>([^<]*)</beats>")

#: Widest key signature accepted, in fifths either way: 7 sharps or flats is the most any notation
#: program shows. music21 spells a key of ``fifths`` by that many transpositions
#: (``<fifths>-1666…6</fifths>`` never finished).
MAX_KEY_FIFTHS = 7
_XML_FIFTHS = re.compile(rb"<fifths>([^<]*)</fifths>")

#: Longest ABC note accepted, in multiples of the unit note length (``d999``); music21 fills every
#: bar such a note spans (``d222222222`` asked for gigabytes).
MAX_ABC_NOTE_UNITS = 999
#: Most quarter notes accepted between two ABC bar lines. music21 splits an overfull bar and gives
#: the rest a metre of as many beats as it lasts (``Measure.bestTimeSignature``): memory grows with
#: that length (602 056 quarters took 4.2 GB) and time with its cube. 2 048 is a tune of 512 bars
#: of 4/4 written without one bar line.
MAX_ABC_BAR_QUARTERS = 2048
_ABC_QUOTED = re.compile(r'"[^"]*"')


def _check_metres(path: Path) -> None:
    """Refuse, before music21 sees it, a MusicXML file declaring a bar of more than
    :data:`MAX_METRE_BEATS` beats or a key signature of more than :data:`MAX_KEY_FIFTHS` fifths.

    The beats are counted as music21 reads ``<beats>``: every digit kept, ``+`` adding groups
    (``2+3+2``). ABC files are checked by :func:`_check_abc` (through music21's tokenizer).
    """
    data = _read_bytes(path)
    for match in _XML_BEATS.finditer(data):
        groups = re.sub(rb"[^0-9+]", b"", match.group(1)).split(b"+")
        beats = sum(int(g) for g in groups if g)
        if beats > MAX_METRE_BEATS:
            raise InputFileError(f"implausible metre: {beats} beats in a bar (at most {MAX_METRE_BEATS})", path)
    for match in _XML_FIFTHS.finditer(data):
        text = match.group(1).strip()
        try:
            fifths = int(text)
        except ValueError:  # not a number at all: music21 reports it
            continue
        if abs(fifths) > MAX_KEY_FIFTHS:
            shown = fifths if len(text) <= 12 else f"a {len(text.lstrip(b'+-'))}-digit number"
            raise InputFileError(
                f"implausible key signature: <fifths> {shown} (a key signature has -{MAX_KEY_FIFTHS} to"
                f" {MAX_KEY_FIFTHS})",
                path,
            )


def _unreadable(exc: Exception, suffix: str, path: Path) -> InputFileError:
    """The one-line error for a file music21 failed on (it raises many unrelated types)."""
    message = " ".join(str(exc).split())[:100]
    return InputFileError(f"not a readable {suffix[1:].upper()} file ({exc.__class__.__name__}: {message})", path)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot be read ({exc.strerror})", path) from None


#: An additive ABC metre field (``M:2+3+2/8``, also inline ``[M:3+3+2/8]``).
_ABC_ADDITIVE_METRE = re.compile(r"(^|\[)(M:\s*)(\d+(?:\s*\+\s*\d+)+)(\s*/\s*\d+)", re.MULTILINE)


def _additive_metres(text: str) -> tuple[str, int]:
    """``text`` with each additive metre written as its sum (``M:2+3+2/8`` → ``M:7/8``), and how many.

    The ABC standard reads ``M:2+3+2/8`` as 7/8 grouped 2+3+2; music21 keeps every digit and
    reads 232/8, which is both wrong and slow (a metre's beat pattern costs the cube of its beats).
    The grouping is lost, the bar length is right.
    """

    def total(match: re.Match[str]) -> str:
        beats = sum(int(g) for g in match.group(3).split("+"))
        return f"{match.group(1)}{match.group(2)}{beats}{match.group(4)}"

    return _ABC_ADDITIVE_METRE.subn(total, text)


def _check_abc(path: Path) -> str | None:
    """Refuse, before music21 reads it, an ABC file that would send music21 into unbounded work.

    Returns the text music21 should read instead of the file when additive metres were rewritten
    (:func:`_additive_metres`), else None.

    The file goes through music21's own tokenizer (linear in its length), so each field and note
    is measured as music21 will read it — not as the ABC standard means it: music21 takes a metre
    field to run to the end of its line wherever ``M:`` starts it and keeps every digit in it
    (``|1M:Em"E2GB e2dc|"A7"(M:4/4`` is 2274/4), and a note's length is every digit in the note,
    whatever lies between them (``=1204=120`` is 1 204 120 units). Refused: a metre of more than
    :data:`MAX_METRE_BEATS` beats, a note (a chord: inner times outer length) of more than
    :data:`MAX_ABC_NOTE_UNITS` units, more than :data:`MAX_ABC_BAR_QUARTERS` quarter notes
    between two bar lines.
    """
    from music21 import abcFormat

    text, rewritten = _additive_metres(_read_bytes(path).decode("utf-8", errors="replace"))
    handler = abcFormat.ABCHandler()
    try:
        handler.tokenize(text)
    except Exception as exc:  # music21's tokenizer indexes past the end of some malformed files
        raise _unreadable(exc, ".abc", path) from None
    unit_q = 0.5  # quarters per unit note length: music21's default (L:1/8) unless L: says otherwise
    bar_q = 0.0
    for token in handler.tokens:
        if isinstance(token, abcFormat.ABCBar):
            bar_q = 0.0
        elif isinstance(token, abcFormat.ABCMetadata):
            try:
                token.preParse()
            except Exception as exc:
                raise _unreadable(exc, ".abc", path) from None
            if token.isReferenceNumber():  # a new tune
                unit_q, bar_q = 0.5, 0.0
            metre = unit = None
            with contextlib.suppress(Exception):  # a field music21 cannot read: it reports it itself
                metre = token.getTimeSignatureParameters() if token.isMeter() else None
                unit = float(token.getDefaultQuarterLength()) if token.isDefaultNoteLength() else None
            if metre is not None and metre[0] > MAX_METRE_BEATS:
                raise InputFileError(
                    f"implausible metre: {metre[0]} beats in a bar (at most {MAX_METRE_BEATS};"
                    f" music21 reads {token.src[:40]!r} as {metre[0]}/{metre[1]})",
                    path,
                )
            unit_q = unit if unit is not None else unit_q
        elif isinstance(token, abcFormat.ABCNote):
            units = _abc_units(token)
            if units > MAX_ABC_NOTE_UNITS:
                shown = f"{units:.0f}" if units == int(units) else f"{units:.1f}"
                raise InputFileError(f"implausible note length: {shown} units (at most {MAX_ABC_NOTE_UNITS})", path)
            bar_q += units * unit_q
            if bar_q > MAX_ABC_BAR_QUARTERS:
                raise InputFileError(
                    f"implausible bar: over {MAX_ABC_BAR_QUARTERS} quarter notes between two bar lines", path
                )
    return text if rewritten else None


def _abc_units(token: object) -> float:
    """A music21 ABC note or chord token's length in unit note lengths (0 where music21 cannot read it)."""
    from music21 import abcFormat

    src = _ABC_QUOTED.sub("", token.src)  # chord symbols ("A7") hold digits that are no length
    try:
        if not isinstance(token, abcFormat.ABCChord):
            return float(token.getQuarterLength(src, forceDefaultQuarterLength=1.0))
        inner, _, outer = src.partition("]")
        handler = abcFormat.ABCHandler()
        handler.tokenize(inner.lstrip("["))
        notes = [t for t in handler.tokens if isinstance(t, abcFormat.ABCNote)]
        first = float(notes[0].getQuarterLength(notes[0].src, forceDefaultQuarterLength=1.0)) if notes else 1.0
        return first * float(token.getQuarterLength(outer, forceDefaultQuarterLength=1.0))
    except Exception:  # music21 cannot read the length either: its own read reports the file
        return 0.0


def from_music21(stream: object, title: str = "") -> Score:
    """Convert a music21 stream (Score or Part) into a :class:`Score`."""
    from music21 import chord as m21chord
    from music21 import harmony, key, meter, note, tempo
    from music21 import stream as m21stream

    assert isinstance(stream, m21stream.Stream)
    flat = stream.flatten()
    tempos = [
        TempoChange(float(m.offset), bpm)
        for m in flat.getElementsByClass(tempo.MetronomeMark)
        if (bpm := _quarter_bpm(m)) is not None
    ]
    sigs = [
        TimeSignature(float(t.offset), t.numerator, t.denominator) for t in flat.getElementsByClass(meter.TimeSignature)
    ]
    keys = []
    for k in flat.getElementsByClass(key.KeySignature):
        if abs(k.sharps) > MAX_KEY_FIFTHS:  # (an .mxl is not scanned first) asKey() takes |sharps| steps
            continue
        as_key = k if isinstance(k, key.Key) else k.asKey()
        mode = as_key.mode if as_key.mode in ("major", "minor") else "major"
        keys.append(KeyChange(float(k.offset), Key(as_key.tonic.pitchClass, mode)))
    parts = list(stream.parts) if isinstance(stream, m21stream.Score) and stream.parts else [stream]
    tracks, chord_marks = [], []
    for index, part in enumerate(parts):
        notes = []
        for el in part.stripTies().flatten().notes:
            start = float(el.offset)
            if isinstance(el, harmony.ChordSymbol):
                chord_marks.append((start, _chord_of(el)))
                continue
            length = float(el.quarterLength)
            if length <= 0:  # grace notes have no duration of their own
                continue
            velocity = int(el.volume.velocity) if el.volume.velocity else 80
            pitches = el.pitches if isinstance(el, m21chord.Chord) else [el.pitch] if isinstance(el, note.Note) else []
            notes += [Note(start, length, int(p.midi), velocity) for p in pitches if 0 <= p.midi <= 127]
        instrument = part.getInstrument(returnDefault=True)
        program = instrument.midiProgram if instrument is not None and instrument.midiProgram is not None else 0
        # A score whose parts are not in its part list comes back as a bare Score (no partName).
        part_name = getattr(part, "partName", None)
        name = part_name or (instrument.instrumentName if instrument else None) or f"part {index + 1}"
        tracks.append(Track(str(name), tuple(notes), int(program), role="melody" if index == 0 else "other"))
    chords = chord_spans(chord_marks, max([t.end for t in tracks] + [0.0]))
    return Score(
        tracks=tuple(tracks),
        tempos=_unique(tempos) or (TempoChange(0.0, 120.0),),
        time_signatures=_unique(sigs) or (TimeSignature(0.0),),
        keys=_unique(keys),
        chords=chords,
        title=title,
    )


def _quarter_bpm(mark: object) -> float | None:
    """A metronome mark's tempo in quarter notes per minute, or None when it has none that works."""
    try:
        bpm = mark.getQuarterBPM()
    except ZeroDivisionError:  # "Q:0/4=120": a beat that lasts no time
        return None
    return float(bpm) if bpm and 0 < bpm < float("inf") else None


def _unique(changes: list) -> tuple:
    """Changes with duplicates removed: every part repeats the key, metre and tempo."""
    return tuple(dict.fromkeys(sorted(changes, key=lambda c: c.beat)))


def _chord_of(symbol: object) -> Chord | None:
    """Our :class:`Chord` for a music21 ChordSymbol: root, MusicXML kind and bass; the figure as fallback."""
    from music21.chord import ChordException

    try:
        root = symbol.root()
    except ChordException:  # an empty symbol ("" in ABC) has no pitches and so no root
        root = None
    kind = getattr(symbol, "chordKind", None)
    if root is not None and kind in _FROM_KIND:
        bass = symbol.bass()
        bass_pc = bass.pitchClass if bass is not None and bass.pitchClass != root.pitchClass else None
        quality = _FROM_KIND[kind]
        # Standard MusicXML spells 7sus4 and add9 as a kind plus an added degree.
        added = {
            (d.degree, int(d.interval.semitones) if d.interval is not None else 0)
            for d in getattr(symbol, "getChordStepModifications", lambda: [])()
            if getattr(d, "modType", "") == "add"
        }
        if quality == "sus4" and any(deg == 7 for deg, _ in added):
            quality = "7sus4"
        elif quality == "maj" and any(deg == 9 for deg, _ in added):
            quality = "add9"
        return Chord(root.pitchClass, quality, bass_pc)
    figure = str(getattr(symbol, "figure", "") or "")
    figure = re.sub(r"(^|/)([A-G])-", r"\1\2b", figure)  # music21 spells flats with "-"
    try:
        return parse_chord(figure)
    except (ChordParseError, ValueError):
        return None if root is None else Chord(root.pitchClass)


def write_musicxml(score: Score, path: str | os.PathLike[str], melody: str = "melody") -> None:
    """Write a lead sheet: the melody track with chord symbols, key, metre and tempo (atomically).

    Parameters
    ----------
    score : Score
        The song; onsets and lengths are quantised to sixteenths for notation.
    path : str or os.PathLike
        ``.musicxml`` (uncompressed) or ``.mxl``.
    melody : str
        Name or role of the melody track (the first track if there is none).
    """
    from tunesmith.score.leadsheet import write_leadsheet

    write_leadsheet(score, path, melody)


def _m21_name(pc: int) -> str:
    """music21 spelling of a pitch class (flats as ``-``)."""
    return ("C", "C#", "D", "E-", "E", "F", "F#", "G", "A-", "A", "B-", "B")[pc % 12]


__all__ = ["from_music21", "read_score", "write_musicxml"]
