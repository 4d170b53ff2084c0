"""Symbolic music values: ``Note``, ``Track``, ``ChordSymbol``, ``Section`` and ``Score``.

Musical time is in beats (quarter notes) everywhere inside a score; seconds
appear only through the tempo map (:meth:`Score.seconds` / :meth:`Score.beats`).
Values are immutable; every edit returns a new score.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field, replace

import numpy as np

from tunesmith.score.theory import Chord, Key

DEFAULT_TEMPO_BPM = 120.0


@dataclass(frozen=True, order=True)
class Note:
    """One note.

    Attributes
    ----------
    start : float
        Onset, beats from the start of the score.
    duration : float
        Length, beats (> 0).
    pitch : int
        MIDI note number 0–127 (for drums, the GM percussion key).
    velocity : int
        MIDI velocity 1–127.
    """

    start: float
    duration: float
    pitch: int
    velocity: int = 96

    @property
    def end(self) -> float:
        """Offset, beats."""
        return self.start + self.duration


@dataclass(frozen=True)
class Track:
    """A part: one instrument's notes.

    Attributes
    ----------
    name : str
        Display name (``"melody"``, ``"bass"``…).
    notes : tuple of Note
        Sorted by start, then pitch.
    program : int
        General MIDI program 0–127.
    is_drum : bool
        Plays on MIDI channel 10 (GM percussion).
    role : str
        What the part does: ``melody``, ``bass``, ``chords``, ``drums``, ``pad``, ``other``…
    """

    name: str
    notes: tuple[Note, ...] = ()
    program: int = 0
    is_drum: bool = False
    role: str = "other"

    def __post_init__(self) -> None:
        object.__setattr__(self, "notes", tuple(sorted(self.notes)))

    @property
    def end(self) -> float:
        """Last note-off, beats (0 when empty)."""
        return max((n.end for n in self.notes), default=0.0)


@dataclass(frozen=True)
class ChordSymbol:
    """A chord over a span of time (``chord`` None means "no chord")."""

    start: float
    duration: float
    chord: Chord | None

    @property
    def end(self) -> float:
        """End, beats."""
        return self.start + self.duration


@dataclass(frozen=True)
class Section:
    """A named part of the form (``verse``, ``chorus``…), in bars."""

    name: str
    start_bar: int
    bars: int


@dataclass(frozen=True)
class TempoChange:
    """Tempo from ``beat`` on, quarter notes per minute."""

    beat: float
    bpm: float


@dataclass(frozen=True)
class TimeSignature:
    """Metre from ``beat`` on, e.g. 3/4 or 6/8."""

    beat: float
    numerator: int = 4
    denominator: int = 4

    @property
    def bar_beats(self) -> float:
        """Length of a bar in quarter-note beats."""
        return self.numerator * 4.0 / self.denominator


@dataclass(frozen=True)
class KeyChange:
    """Key from ``beat`` on."""

    beat: float
    key: Key


@dataclass(frozen=True)
class Score:
    """A piece of music.

    Attributes
    ----------
    tracks : tuple of Track
        The parts.
    tempos : tuple of TempoChange
        Tempo map, sorted, the first at beat 0 (120 BPM when none is given).
    time_signatures : tuple of TimeSignature
        Metre changes, the first at beat 0 (4/4 when none is given).
    keys : tuple of KeyChange
        Key changes (may be empty when unknown).
    chords : tuple of ChordSymbol
        Chord symbols, sorted by start.
    sections : tuple of Section
        Form.
    title : str
        Name of the piece.
    """

    tracks: tuple[Track, ...] = ()
    tempos: tuple[TempoChange, ...] = (TempoChange(0.0, DEFAULT_TEMPO_BPM),)
    time_signatures: tuple[TimeSignature, ...] = (TimeSignature(0.0),)
    keys: tuple[KeyChange, ...] = ()
    chords: tuple[ChordSymbol, ...] = ()
    sections: tuple[Section, ...] = ()
    title: str = ""
    _tempo_seconds: tuple[float, ...] = field(default=(), repr=False, compare=False)
    _tempo_beats: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        tempos = sorted(self.tempos, key=lambda t: t.beat) or [TempoChange(0.0, DEFAULT_TEMPO_BPM)]
        if tempos[0].beat > 0:
            tempos.insert(0, TempoChange(0.0, tempos[0].bpm))
        for t in tempos:
            if not t.bpm > 0:
                raise ValueError(f"tempo must be positive, got {t.bpm} BPM at beat {t.beat}")
        sigs = sorted(self.time_signatures, key=lambda s: s.beat) or [TimeSignature(0.0)]
        if sigs[0].beat > 0:
            sigs.insert(0, TimeSignature(0.0, sigs[0].numerator, sigs[0].denominator))
        object.__setattr__(self, "tempos", tuple(tempos))
        object.__setattr__(self, "time_signatures", tuple(sigs))
        object.__setattr__(self, "keys", tuple(sorted(self.keys, key=lambda k: k.beat)))
        object.__setattr__(self, "chords", tuple(sorted(self.chords, key=lambda c: c.start)))
        # Seconds at each tempo change, for beats <-> seconds.
        secs = [0.0]
        for a, b in itertools.pairwise(tempos):
            secs.append(secs[-1] + (b.beat - a.beat) * 60.0 / a.bpm)
        object.__setattr__(self, "_tempo_seconds", tuple(secs))
        object.__setattr__(self, "_tempo_beats", tuple(t.beat for t in tempos))

    # ------------------------------------------------------------------ time
    def seconds(self, beat: float) -> float:
        """Time in seconds of a position in beats, through the tempo map."""
        i = max(0, bisect.bisect_right(self._tempo_beats, beat) - 1)
        t = self.tempos[i]
        return self._tempo_seconds[i] + (beat - t.beat) * 60.0 / t.bpm

    def beats(self, seconds: float) -> float:
        """Position in beats of a time in seconds (inverse of :meth:`seconds`)."""
        i = max(0, bisect.bisect_right(self._tempo_seconds, seconds) - 1)
        t = self.tempos[i]
        return t.beat + (seconds - self._tempo_seconds[i]) * t.bpm / 60.0

    @property
    def end(self) -> float:
        """Last note-off or chord end, beats."""
        return max([t.end for t in self.tracks] + [c.end for c in self.chords] + [0.0])

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.seconds(self.end)

    def bar_start(self, bar: int) -> float:
        """Beat at which bar ``bar`` (0-based) starts, following metre changes."""
        beat, current = 0.0, 0
        sigs = list(self.time_signatures)
        for i, sig in enumerate(sigs):
            nxt = sigs[i + 1].beat if i + 1 < len(sigs) else float("inf")
            bars_here = round((nxt - sig.beat) / sig.bar_beats) if nxt != float("inf") else None
            if bars_here is None or current + bars_here > bar:
                return sig.beat + (bar - current) * sig.bar_beats
            current += bars_here
            beat = nxt
        return beat

    def bar_at(self, beat: float) -> int:
        """Index (0-based) of the bar that contains ``beat``, following metre changes."""
        bar, sigs = 0, list(self.time_signatures)
        for i, sig in enumerate(sigs):
            nxt = sigs[i + 1].beat if i + 1 < len(sigs) else float("inf")
            if beat < nxt:
                return bar + int((beat - sig.beat) // sig.bar_beats + 1e-9)
            bar += round((nxt - sig.beat) / sig.bar_beats)
        return bar

    # ------------------------------------------------------------------ edits
    def transpose(self, semitones: int) -> Score:
        """Every pitched note, chord and key ``semitones`` higher (drums untouched)."""

        def move(track: Track) -> Track:
            if track.is_drum:
                return track
            notes = tuple(replace(n, pitch=n.pitch + semitones) for n in track.notes)
            bad = [n.pitch for n in notes if not 0 <= n.pitch <= 127]
            if bad:
                raise ValueError(f"transposing {track.name!r} by {semitones} leaves MIDI range (pitch {bad[0]})")
            return replace(track, notes=notes)

        return replace(
            self,
            tracks=tuple(move(t) for t in self.tracks),
            chords=tuple(replace(c, chord=c.chord.transpose(semitones) if c.chord else None) for c in self.chords),
            keys=tuple(KeyChange(k.beat, Key((k.key.tonic + semitones) % 12, k.key.mode)) for k in self.keys),
        )

    def slice_bars(self, first_bar: int, bars: int) -> Score:
        """Bars ``first_bar .. first_bar + bars - 1`` as a new score starting at beat 0.

        Notes are kept if they start inside the range and cut at its end.
        """
        lo, hi = self.bar_start(first_bar), self.bar_start(first_bar + bars)

        def cut(n: Note) -> Note:
            return Note(n.start - lo, min(n.end, hi) - n.start, n.pitch, n.velocity)

        tracks = tuple(replace(t, notes=tuple(cut(n) for n in t.notes if lo <= n.start < hi)) for t in self.tracks)
        chords = tuple(
            ChordSymbol(max(c.start, lo) - lo, min(c.end, hi) - max(c.start, lo), c.chord)
            for c in self.chords
            if c.end > lo and c.start < hi
        )
        return replace(
            self,
            tracks=tracks,
            chords=chords,
            tempos=_shift_changes(self.tempos, lo, hi),
            time_signatures=_shift_changes(self.time_signatures, lo, hi),
            keys=_shift_changes(self.keys, lo, hi),
            sections=tuple(
                Section(s.name, s.start_bar - first_bar, s.bars)
                for s in self.sections
                if first_bar <= s.start_bar < first_bar + bars
            ),
        )

    def quantize(self, grid: float = 0.25, durations: bool = True) -> Score:
        """Snap note onsets (and ends, if ``durations``) to a grid of ``grid`` beats (0.25 = sixteenths)."""
        if grid <= 0:
            raise ValueError("grid must be positive")

        def snap(n: Note) -> Note:
            start = round(n.start / grid) * grid
            end = round(n.end / grid) * grid if durations else start + n.duration
            return Note(start, max(end - start, grid if durations else n.duration), n.pitch, n.velocity)

        return replace(self, tracks=tuple(replace(t, notes=tuple(snap(n) for n in t.notes)) for t in self.tracks))

    def pitch_class_histogram(self) -> np.ndarray:
        """Duration-weighted pitch-class histogram of all pitched notes (12 bins, C first), beats."""
        hist = np.zeros(12)
        for track in self.tracks:
            if not track.is_drum:
                for n in track.notes:
                    hist[n.pitch % 12] += n.duration
        return hist

    def merge(self, other: Score) -> Score:
        """This score's tracks followed by ``other``'s (this score's tempo, metre and keys win)."""
        return replace(
            self,
            tracks=self.tracks + other.tracks,
            chords=self.chords or other.chords,
            sections=self.sections or other.sections,
        )

    def track(self, name_or_role: str) -> Track:
        """The first track with that name, or else that role."""
        for t in self.tracks:
            if t.name == name_or_role:
                return t
        for t in self.tracks:
            if t.role == name_or_role:
                return t
        raise KeyError(name_or_role)


def chord_spans(changes: list[tuple[float, Chord | None]], end: float) -> tuple[ChordSymbol, ...]:
    """Chord symbols from ``(beat, chord)`` changes: each lasts until the next change (the last until ``end``)."""
    ordered = sorted(changes, key=lambda c: c[0])
    spans = []
    for i, (start, chord) in enumerate(ordered):
        stop = ordered[i + 1][0] if i + 1 < len(ordered) else max(end, start)
        if stop > start:
            spans.append(ChordSymbol(start, stop - start, chord))
    return tuple(spans)


def _shift_changes(changes: tuple, lo: float, hi: float) -> tuple:
    """Changes that apply within [lo, hi), moved so ``lo`` is beat 0 (the one in force at ``lo`` included)."""
    before = [c for c in changes if c.beat <= lo]
    inside = [c for c in changes if lo < c.beat < hi]
    kept = ([before[-1]] if before else []) + inside
    return tuple(replace(c, beat=max(c.beat - lo, 0.0)) for c in kept)
