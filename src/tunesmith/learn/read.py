"""Finding and reading the files of a musician's folder.

:func:`scan` lists the folder (recursively, sorted, hidden files left out) and sorts
each file into music (MIDI, MusicXML/MXL, ABC), audio, or other. :func:`read_file`
reads one file into :class:`~tunesmith.learn.piece.Piece` summaries — every tune of an
ABC book, each on its own — hashes it, and never raises: a file that cannot be read is
returned as skipped, with the reason, so one bad file never stops a folder. It runs in
worker processes (music21 takes a good fraction of a second per MusicXML or ABC tune).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.learn.piece import Piece, analyse_score
from tunesmith.score.types import Note, Score, TempoChange, TimeSignature, Track

MIDI_SUFFIXES = (".mid", ".midi")
NOTATION_SUFFIXES = (".musicxml", ".xml", ".mxl", ".abc")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".aif", ".aiff", ".m4a", ".opus")
MAX_FILE_BYTES = 64 << 20  #: larger "music" files are skipped: no score is that big
_X_LINE = re.compile(r"^X:", re.MULTILINE)


@dataclass
class FileResult:
    """What became of one file of the folder.

    Attributes
    ----------
    path : str
        Path relative to the folder.
    bytes : int
        Size.
    sha256 : str
        SHA-256 of its bytes ("" when it could not be read at all).
    kind : str
        ``music``, ``audio`` or ``other``.
    pieces : list of Piece
        What was learned from (empty when skipped).
    skipped : str
        Why the file was not used ("" when it was).
    notes : list of str
        Remarks (drums only, tunes of a book that could not be read …).
    """

    path: str
    bytes: int
    sha256: str
    kind: str
    pieces: list[Piece] = field(default_factory=list)
    skipped: str = ""
    notes: list[str] = field(default_factory=list)


def kind_of(path: Path) -> str:
    """``music``, ``audio`` or ``other``, from the suffix."""
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES + NOTATION_SUFFIXES:
        return "music"
    return "audio" if suffix in AUDIO_SUFFIXES else "other"


def scan(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` (recursively), sorted; hidden files and folders left out."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            p = Path(root) / name
            if not name.startswith(".") and p.is_file():
                out.append(p)
    return sorted(out, key=lambda p: p.relative_to(folder).as_posix())


def voice_available() -> bool:
    """Whether audio can be transcribed here (``tunesmith.voice.transcribe`` importable)."""
    try:
        from tunesmith.voice.transcribe import transcribe  # noqa: F401
    except ImportError:
        return False
    return True


def read_file(task: tuple[str, str, bool]) -> FileResult:
    """Read one file of the folder (a worker-process entry point; never raises).

    Parameters
    ----------
    task : (str, str, bool)
        The file, the folder, and whether audio files are to be transcribed.
    """
    from tunesmith.errors import TunesmithError
    from tunesmith.provenance.recipe import sha256_file

    path, folder, audio = Path(task[0]), Path(task[1]), task[2]
    rel = path.relative_to(folder).as_posix()
    kind = kind_of(path)
    try:
        size = path.stat().st_size
        digest = sha256_file(path)
    except OSError as exc:
        return FileResult(rel, 0, "", kind, skipped=f"cannot be read ({exc.strerror or exc})")
    result = FileResult(rel, size, digest, kind)
    if kind == "other":
        result.skipped = "not a music file (MIDI, MusicXML or ABC)"
        return result
    if kind == "audio" and not audio:
        result.skipped = "audio recording (give --audio to transcribe it)"
        return result
    if kind == "audio" and not voice_available():
        result.skipped = "audio recording: transcription (tunesmith.voice) is not available in this build"
        return result
    if size == 0:
        result.skipped = "empty file"
        return result
    if size > MAX_FILE_BYTES:
        result.skipped = f"too large for a score ({size >> 20} MiB)"
        return result
    try:
        scores = _read(path, kind)
    except TunesmithError as exc:
        result.skipped = exc.message
        return result
    except Exception as exc:  # music21 and mido raise many unrelated types for malformed files
        result.skipped = f"unreadable ({exc.__class__.__name__}: {' '.join(str(exc).split())[:80]})"
        return result
    for i, item in enumerate(scores, 1):
        name = rel if len(scores) == 1 else f"{rel}#{i}"
        if isinstance(item, str):
            result.notes.append(f"tune {i}: {item}")
            continue
        score, phase, midi, tempo_known = item
        if not any(t.notes for t in score.tracks):
            result.notes.append(f"tune {i}: no notes" if len(scores) > 1 else "no notes")
            continue
        try:
            piece = analyse_score(score, name, phase, midi, tempo_known)
        except Exception as exc:  # a broken tune of a book should not lose the others
            result.notes.append(f"tune {i}: cannot be analysed ({exc.__class__.__name__})")
            continue
        if not len(piece.melody):
            result.notes.append("drums only: its tempo, metre and grooves are learned, no melody or harmony")
        result.pieces.append(piece)
    if not result.pieces:
        result.skipped = "; ".join(result.notes) or "no notes"
        result.notes = []
    return result


_Read = tuple[Score, float | None, bool, bool] | str  # (score, bar-line phase, from MIDI, tempo given) or a problem


def _read(path: Path, kind: str) -> list[_Read]:
    """The scores of a file: one for MIDI, MusicXML and audio, one per tune of an ABC book."""
    suffix = path.suffix.lower()
    if kind == "audio":
        return [(_transcribe(path), 0.0, False, True)]  # the transcription's beat 0 is a downbeat
    if suffix in MIDI_SUFFIXES:
        from tunesmith.score.midi import read_midi

        return [(read_midi(path), None, True, True)]
    if suffix == ".abc":
        text = path.read_text(encoding="utf-8", errors="replace")
        starts = [m.start() for m in _X_LINE.finditer(text)]
        if not starts:
            return [_music21(text, "abc", path.stem)]
        header = text[: starts[0]]
        chunks = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
        out: list[_Read] = []
        for chunk in chunks:
            try:
                out.append(_music21(header + chunk, "abc", path.stem))
            except Exception as exc:
                out.append(f"unreadable ABC ({exc.__class__.__name__})")
        return out
    return [_music21(str(path), "musicxml", path.stem)]


def _music21(source: str, fmt: str, title: str) -> tuple[Score, float | None, bool, bool]:
    """Parse with music21; the first full bar's beat comes from its measures."""
    import warnings

    import music21
    from music21 import meter, tempo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = music21.converter.parse(source, format=fmt)
    if isinstance(parsed, music21.stream.Opus):
        scores = list(parsed.scores)
        if not scores:
            raise ValueError("holds no tunes")
        parsed = scores[0]
    phase: float | None = 0.0
    parts = list(parsed.parts) if isinstance(parsed, music21.stream.Score) and parsed.parts else [parsed]
    measures = list(parts[0].getElementsByClass(music21.stream.Measure))
    sig = parsed.flatten().getElementsByClass(meter.TimeSignature).first()
    bar = float(sig.barDuration.quarterLength) if sig is not None else 4.0
    if len(measures) >= 2 and float(measures[0].duration.quarterLength) < bar - 1e-6:
        phase = float(measures[1].offset)  # a pickup: the first full bar starts after it
    tempo_known = parsed.flatten().getElementsByClass(tempo.MetronomeMark).first() is not None
    return _from_music21(parsed, parts, title), phase, False, tempo_known


def _from_music21(parsed: object, parts: list, title: str) -> Score:
    """A light conversion of a parsed score: notes per part with ties merged, metres and tempi.

    :func:`tunesmith.score.notation.from_music21` merges ties with music21's ``stripTies``,
    which deep-copies the whole part (seconds per chorale); learning needs only the notes, so
    ties are joined here while walking the flattened part once.
    """
    from music21 import meter, tempo

    flat = parsed.flatten()
    sigs = [
        TimeSignature(float(t.offset), int(t.numerator), int(t.denominator))
        for t in flat.getElementsByClass(meter.TimeSignature)
    ]
    tempos = [
        TempoChange(float(m.offset), float(m.getQuarterBPM()))
        for m in flat.getElementsByClass(tempo.MetronomeMark)
        if m.getQuarterBPM()
    ]
    tracks = []
    for index, part in enumerate(parts):
        notes: list[Note] = []
        open_ties: dict[int, int] = {}  # MIDI pitch -> index in notes of a tied note still going on
        for el in part.flatten().notes:
            length = float(el.quarterLength)
            if length <= 0 or not hasattr(el, "pitches"):
                continue  # grace notes, chord symbols
            start = float(el.offset)
            velocity = int(el.volume.velocity) if el.volume.velocity else 80
            tie = getattr(getattr(el, "tie", None), "type", None)
            for pitch in {int(p.midi) for p in el.pitches if 0 <= p.midi <= 127}:
                held = open_ties.get(pitch)
                if tie in ("stop", "continue") and held is not None and abs(notes[held].end - start) < 1e-6:
                    n = notes[held]
                    notes[held] = Note(n.start, n.duration + length, pitch, n.velocity)
                    if tie == "stop":
                        del open_ties[pitch]
                    continue
                notes.append(Note(start, length, pitch, velocity))
                if tie in ("start", "continue"):
                    open_ties[pitch] = len(notes) - 1
        instrument = part.getInstrument(returnDefault=True)
        program = instrument.midiProgram if instrument is not None and instrument.midiProgram is not None else 0
        tracks.append(
            Track(
                str(part.partName or f"part {index + 1}"),
                tuple(notes),
                int(program),
                role="melody" if index == 0 else "other",
            )
        )
    return Score(
        tracks=tuple(tracks),
        tempos=tuple(dict.fromkeys(sorted(tempos, key=lambda t: t.beat))) or (TempoChange(0.0, 120.0),),
        time_signatures=tuple(dict.fromkeys(sorted(sigs, key=lambda t: t.beat))) or (TimeSignature(0.0),),
        title=title,
    )


def _transcribe(path: Path) -> Score:
    """A monophonic recording (sung, hummed or played) as a one-track score through ``tunesmith.voice``.

    The transcription's grid gives the tempo and metre and puts beat 0 on a downbeat; a recording
    that sounds like speech, or yields fewer than eight notes, is refused.
    """
    from tunesmith.errors import InputFileError
    from tunesmith.voice.transcribe import transcribe

    result = transcribe(path, threads=1)
    if getattr(result, "speech_like", False):
        raise InputFileError("sounds like speech, not a tune", path)
    notes = tuple(n for n in result.melody if n.start >= 0)
    if len(notes) < 8:
        raise InputFileError(f"only {len(notes)} notes transcribed: not a tune to learn from", path)
    grid = result.grid
    return Score(
        tracks=(Track("voice", notes, 0, False, "melody"),),
        tempos=(TempoChange(0.0, float(grid.tempo_bpm)),),
        time_signatures=(TimeSignature(0.0, int(grid.numerator), int(grid.denominator)),),
        title=path.stem,
    )
