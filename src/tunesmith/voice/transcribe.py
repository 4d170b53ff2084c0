"""``transcribe(path) → Transcription``: a recording of a voice → notes, tuning, key, range, tempo, melody.

The stages, each in its own module: :mod:`~tunesmith.voice.pitch` (frames),
:mod:`~tunesmith.voice.notes` (segmentation), :mod:`~tunesmith.voice.key` (key and range),
:mod:`~tunesmith.voice.rhythm` (tempo, metre, quantisation). ``write_notes_csv`` writes the
notes as detected (before quantisation); ``melody_score`` is the cleaned, quantised tune.

Recordings without a voice are refused with one line (no notes, or too little held pitch
to be a tune: silence, noise, a drum loop); speech is transcribed as well as it can be, with a
warning (short syllables whose pitch keeps sliding are not a tune).
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.errors import InputFileError, UsageError
from tunesmith.score.theory import Key
from tunesmith.score.types import KeyChange, Note, Score, TempoChange, TimeSignature, Track
from tunesmith.voice.key import VoiceRange, sung_key, voice_range
from tunesmith.voice.notes import SegmentParams, SungNote, segment, tuning_offset_cents
from tunesmith.voice.pitch import PitchTrack, track_pitch
from tunesmith.voice.rhythm import BeatGrid, estimate_grid, quantize

MIN_TUNE_S = 1.0  # less time in notes than this is not a tune
MIN_NOTES = 3
PERCUSSIVE_SHARE = 0.5  # more struck-looking notes than this: a drum loop, not a voice
HELD_NOTE_S = 0.25  # sung notes are held: most singing time is in notes at least this long…
SPEECH_HELD = 0.35  # …speech spends less than this share of its voiced time in them…
SPEECH_STEADY = 0.6  # …and its pitch slides: less than this share of frames sits on the note


@dataclass
class Transcription:
    """What was sung, as notes, and what it implies.

    Attributes
    ----------
    source : str
        The recording.
    notes : list of SungNote
        Detected notes, seconds and fractional MIDI pitch (before any quantisation).
    track : PitchTrack
        The frame-wise pitch track they came from.
    tuning_cents : float
        How far the singer sits from A440 equal temperament, cents.
    key : Key
        The key of the tune.
    key_confidence : float
        Krumhansl correlation of that key, −1…1.
    range : VoiceRange
        Lowest/highest and comfortable range of the voice.
    grid : BeatGrid
        Tempo, metre and where beat 0 falls in the recording.
    melody : list of Note
        The tune on the grid (beats), pitches rounded after the tuning offset.
    speech_like : bool
        The recording sounds like speech rather than singing.
    warnings : list of str
        Things the user should know (speech, clipping, tuning far off…).
    seconds : dict
        Time spent per stage, seconds.
    """

    source: str
    notes: list[SungNote]
    track: PitchTrack
    tuning_cents: float
    key: Key
    key_confidence: float
    range: VoiceRange
    grid: BeatGrid
    melody: list[Note]
    speech_like: bool = False
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (notes included)."""
        return {
            "source": self.source,
            "duration_s": round(self.track.duration_s, 3),
            "tracker": self.track.tracker,
            "notes": len(self.notes),
            "tuning_cents": round(self.tuning_cents, 1),
            "key": self.key.name(),
            "key_confidence": round(self.key_confidence, 3),
            "range": self.range.to_dict(),
            "tempo_bpm": self.grid.tempo_bpm,
            "metre": f"{self.grid.numerator}/{self.grid.denominator}",
            "beat0_s": round(self.grid.beat0_s, 4),
            "grid_confidence": round(self.grid.confidence, 3),
            "speech_like": self.speech_like,
            "warnings": self.warnings,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def _steadiness(notes: list[SungNote], track: PitchTrack) -> float:
    """Share of the notes' confident frames within half a semitone of their note's pitch."""
    midi = track.midi
    inside = total = 0
    for n in notes:
        a, b = round(n.onset_s / track.frame_s), round(n.offset_s / track.frame_s)
        frames = midi[a:b][track.confidence[a:b] >= 0.5]
        frames = frames[np.isfinite(frames)]
        inside += int(np.count_nonzero(np.abs(frames - n.pitch) < 0.5))
        total += len(frames)
    return inside / total if total else 0.0


def percussive_share(notes: list[SungNote], track: PitchTrack) -> float:
    """Share of notes (of 6 frames or more) that die away from their peak like a struck drum.

    A struck note decays exponentially, a straight line in dB: half-way from its peak to its
    end it has already lost a good part (over a third) of what it loses by the end. A sung
    note holds its level and drops only at its release, so half-way it has lost little.
    """
    struck = counted = 0
    for n in notes:
        a, b = round(n.onset_s / track.frame_s), round(n.offset_s / track.frame_s)
        level = track.level_db[a:b]
        if len(level) < 6:
            continue
        counted += 1
        tail = level[int(np.argmax(level)) :]
        if len(tail) < 4:
            continue
        end_drop = tail[0] - float(np.mean(tail[-2:]))
        mid_drop = tail[0] - float(tail[len(tail) // 2])
        struck += int(mid_drop >= 2.5 and mid_drop >= 0.35 * end_drop)
    return struck / counted if counted else 0.0


def not_a_tune(notes: list[SungNote], track: PitchTrack) -> str | None:
    """Why these notes are not someone singing a tune (None when they are).

    Too few notes or too little time in them (silence, noise), a single pitch over and over (a
    beep, a tuned drum), or short notes that mostly die away like struck ones and none held
    for 0.4 s (a drum loop; see :func:`percussive_share`).
    """
    held = sum(n.duration_s for n in notes)
    if len(notes) < MIN_NOTES or held < MIN_TUNE_S:
        return f"{len(notes)} note{'s' if len(notes) != 1 else ''}, {held:.1f} s of pitch"
    if len({round(n.pitch) for n in notes}) < 2:
        return f"{len(notes)} notes, all on one pitch"
    struck = percussive_share(notes, track)
    if struck > PERCUSSIVE_SHARE and max(n.duration_s for n in notes) < HELD_NOTE_S * 1.6:
        return f"{len(notes)} pitched sounds, {100 * struck:.0f} % of them dying away like drums"
    return None


def transcribe(
    path: str | os.PathLike[str],
    tracker: str = "auto",
    tempo_bpm: float | None = None,
    key: str | None = None,
    expressive: bool = False,
    numerator: int | None = None,
    params: SegmentParams | None = None,
    threads: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> Transcription:
    """Transcribe a sung or hummed recording.

    Parameters
    ----------
    path : str or os.PathLike
        The recording (any format tunesmith reads; 8–192 kHz; mono or stereo).
    tracker : str
        ``auto`` (swift-f0 when installed), ``swift-f0`` or ``pyin``.
    tempo_bpm : float, optional
        The tempo, BPM, when known (default: found from the onsets).
    key : str, optional
        The key (``C``, ``F#m``…), when known (default: found from the notes).
    expressive : bool
        Keep the sung timing in the melody instead of snapping it to sixteenths.
    numerator : int, optional
        Beats per bar, when known (``hum`` passes the style's: its band plays in that metre).
    params : SegmentParams, optional
        Segmentation settings (default: the tuned ones).
    threads : int, optional
        Threads for the pitch tracker.
    progress : callable, optional
        Called with the fraction done, 0–1.

    Raises
    ------
    InputFileError
        Unreadable file, or no singing or humming in it.
    UsageError
        A bad ``tempo_bpm``, ``key`` or ``tracker``.
    """
    if tempo_bpm is not None and not 30.0 <= tempo_bpm <= 300.0:
        raise UsageError(f"--tempo must be 30..300 BPM or auto, got {tempo_bpm:g}")
    the_key: Key | None = None
    if key is not None:
        try:
            the_key = Key.parse(key)
        except ValueError as exc:
            raise UsageError(f"--key: {exc}") from None
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    track = track_pitch(path, tracker, threads=threads, progress=progress)
    seconds["pitch"] = time.perf_counter() - t0
    t = time.perf_counter()
    notes = segment(track, params)
    seconds["notes"] = time.perf_counter() - t
    why = not_a_tune(notes, track)
    if why:
        raise InputFileError(f"no singing or humming found ({why}); record a voice singing a tune", path)
    t = time.perf_counter()
    warnings = list(track.warnings)
    tuning = tuning_offset_cents(notes)
    pitches = [round(n.pitch - tuning / 100.0) for n in notes]
    durations = [n.duration_s for n in notes]
    detected_key, key_r = sung_key(pitches, durations)
    rng = voice_range(pitches, durations)
    grid = estimate_grid([n.onset_s for n in notes], durations, tempo_bpm, numerator)
    melody = quantize([(n.onset_s, n.offset_s, p) for n, p in zip(notes, pitches, strict=True)], grid, 0.25, expressive)
    total_s = sum(durations)
    held_share = sum(d for d in durations if d >= HELD_NOTE_S) / total_s if total_s else 0.0
    steady = _steadiness(notes, track)
    speech = held_share < SPEECH_HELD or steady < SPEECH_STEADY
    if speech:
        warnings.append(
            "this sounds like speech rather than singing (short syllables, sliding pitch): the tune is a best guess"
        )
    if abs(tuning) > 30:
        warnings.append(f"the voice sits {tuning:+.0f} cents off A440; notes were rounded relative to the singer")
    lead_in = notes[0].onset_s
    if lead_in > 5.0:
        warnings.append(f"{lead_in:.1f} s before the first note (silence or noise) was skipped")
    seconds["rhythm_key"] = time.perf_counter() - t
    return Transcription(
        source=str(path),
        notes=notes,
        track=track,
        tuning_cents=tuning,
        key=the_key or detected_key,
        key_confidence=1.0 if the_key else key_r,
        range=rng,
        grid=grid,
        melody=melody,
        speech_like=speech,
        warnings=warnings,
        seconds=seconds,
    )


def notes_csv_text(notes: list[SungNote]) -> str:
    """``notes.csv`` contents: ``onset_s,offset_s,pitch_midi,confidence`` (pitch with cents, e.g. ``62.13``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["onset_s", "offset_s", "pitch_midi", "confidence"])
    for n in notes:
        writer.writerow([f"{n.onset_s:.4f}", f"{n.offset_s:.4f}", f"{n.pitch:.2f}", f"{n.confidence:.3f}"])
    return buf.getvalue()


def read_notes_csv(path: str | os.PathLike[str]) -> list[tuple[float, float, float, float]]:
    """Read a ``notes.csv`` back as ``(onset s, offset s, fractional MIDI, confidence)`` rows."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [(float(r["onset_s"]), float(r["offset_s"]), float(r["pitch_midi"]), float(r["confidence"])) for r in rows]


def melody_score(result: Transcription, program: int = 0, title: str | None = None) -> Score:
    """The tune as a one-track :class:`Score` (tempo, metre and key from the transcription)."""
    grid = result.grid
    return Score(
        tracks=(Track("melody", tuple(result.melody), program, False, "melody"),),
        tempos=(TempoChange(0.0, grid.tempo_bpm),),
        time_signatures=(TimeSignature(0.0, grid.numerator, grid.denominator),),
        keys=(KeyChange(0.0, result.key),),
        title=title or f"{Path(result.source).stem} (sung)",
    )


def hz_name(pitch: float) -> str:
    """``A4 +12 ct`` for a fractional MIDI pitch."""
    from tunesmith.score.theory import midi_note_name

    near = round(pitch)
    cents = (pitch - near) * 100
    return f"{midi_note_name(near)} {cents:+.0f} ct" if abs(cents) >= 0.5 else midi_note_name(near)


__all__ = [
    "Transcription",
    "hz_name",
    "melody_score",
    "notes_csv_text",
    "read_notes_csv",
    "transcribe",
]
