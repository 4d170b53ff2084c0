"""Accompany a MIDI file: the live engine fed the file's events in time order, no look-ahead.

:func:`accompany_file` reads the performer's part from a MIDI file, turns it into the
note-on/note-off messages a keyboard would have sent (times in seconds through the
file's tempo map), feeds them one by one to the same :class:`Accompanist` used live
(calling :meth:`~Accompanist.feed` in time order, exactly as the live loop does), and
writes a type-1 MIDI file with the performer's part, one track per band part, the
band's chord symbols and the keys it heard.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import mido

from tunesmith.accompany.engine import Accompanist, AccompanySettings, BandEvent
from tunesmith.errors import InputFileError
from tunesmith.score.types import KeyChange, Note, Score, Track, chord_spans


def performer_tracks(score: Score, track: str | None = None) -> list[Track]:
    """The part(s) a file's performer plays: ``track`` (a name, case-insensitive, or part of one),
    else the tracks named or marked melody, else every pitched track.

    Raises
    ------
    InputFileError
        When no track matches or the chosen tracks have no notes.
    """
    pitched = [t for t in score.tracks if not t.is_drum and t.notes]
    if track is not None:
        wanted = track.lower()
        chosen = [t for t in pitched if t.name.lower() == wanted] or [t for t in pitched if wanted in t.name.lower()]
        if not chosen:
            names = ", ".join(t.name for t in pitched) or "none"
            raise InputFileError(f"no pitched track called {track!r} (tracks: {names})", score.title or None)
        return chosen
    melody = [t for t in pitched if t.role == "melody" or "melody" in t.name.lower()]
    return melody or pitched


def performer_events(score: Score, tracks: list[Track]) -> list[tuple[float, mido.Message]]:
    """The tracks' notes as (seconds, message) in time order; a release sorts before a strike at the same time."""
    events: list[tuple[float, int, int, mido.Message]] = []
    for channel, t in enumerate(tracks):
        ch = min(channel, 15)
        for n in t.notes:
            on = mido.Message("note_on", channel=ch, note=n.pitch, velocity=n.velocity)
            off = mido.Message("note_off", channel=ch, note=n.pitch, velocity=0)
            events.append((score.seconds(n.start), 1, n.pitch, on))
            events.append((score.seconds(n.end), 0, n.pitch, off))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    return [(t, msg) for t, _, _, msg in events]


def run(
    engine: Accompanist, events: list[tuple[float, mido.Message]], end_s: float | None = None, finish: bool = True
) -> list[BandEvent]:
    """Feed ``events`` in order and collect the band's output (the offline twin of the live loop).

    Parameters
    ----------
    end_s : float, optional
        Let time run to here after the last event (default: the last event's time).
    finish : bool
        Close the take with :meth:`Accompanist.finish` (else :meth:`Accompanist.stop`).
    """
    out: list[BandEvent] = []
    for time_s, msg in events:
        out += engine.feed(time_s, msg)
    last = events[-1][0] if events else 0.0
    end = max(last, end_s if end_s is not None else last)
    out += engine.advance(end)
    out += engine.finish(end) if finish else engine.stop(end)
    return out


def band_tracks(engine: Accompanist, events: list[BandEvent], to_beats) -> list[Track]:
    """One :class:`Track` per band part from its note-on/note-off events (``to_beats``: seconds -> beats)."""
    notes: dict[str, list[Note]] = defaultdict(list)
    open_notes: dict[tuple[int, int], tuple[float, int, str]] = {}
    for e in sorted(events, key=lambda e: (e.time_s, e.message.type == "note_on")):
        msg = e.message
        if msg.type not in ("note_on", "note_off"):
            continue
        key = (msg.channel, msg.note)
        started = open_notes.pop(key, None)
        if started is not None:
            t0, velocity, part = started
            start, end = to_beats(t0), to_beats(e.time_s)
            if end > start:
                notes[part].append(Note(start, end - start, msg.note, velocity))
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes[key] = (e.time_s, msg.velocity, e.part)
    role = {"voice": "chords"}
    return [
        Track(p.name, tuple(notes[p.name]), p.program, p.is_drum, role.get(p.role, p.role))
        for p in engine.band.parts
        if notes[p.name]
    ]


def _models(settings: AccompanySettings, style: object = None) -> list[dict[str, str]]:
    """Identities of the learned data the band's chords came from (for recipes): with the chord
    network, its weights and the style's chord adapter when it is a learned style."""
    from tunesmith.compose.harmony import model_id

    models = [model_id()]  # the candidate chords and priors come from the POP909 progression statistics
    if settings.chord_model == "learned":
        from tunesmith.models.chord import style_model_ids

        models += style_model_ids(style)
    return models


@dataclass
class AccompanyReport:
    """What an offline accompaniment did (``--json`` prints :meth:`to_dict`)."""

    input: str
    output: str
    style: str
    tempo_bpm: float
    follow: bool
    keys: list[dict[str, object]]
    chords: list[dict[str, object]]
    tracks: list[dict[str, object]]
    performer_notes: int
    stats: dict[str, object]
    models: list[dict[str, str]]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


def accompany_file(
    melody: str | os.PathLike[str],
    output: str | os.PathLike[str],
    settings: AccompanySettings,
    track: str | None = None,
) -> tuple[AccompanyReport, Score]:
    """Accompany the performer's part of a MIDI file and write performer + band as a type-1 MIDI file.

    The band's beat 0 is the file's beat 0 and its tempo the file's (unless ``settings``
    gives one), so its bars fall on the file's bar lines.

    Returns
    -------
    tuple
        The report and the written score (in the file's beats).

    Raises
    ------
    InputFileError
        For an unreadable file or one with no notes to accompany.
    """
    import time

    from tunesmith import __version__
    from tunesmith.score.midi import read_midi, write_midi

    t0 = time.perf_counter()
    path = Path(melody)
    score = read_midi(path)
    chosen = performer_tracks(replace(score, title=str(path)), track)
    events = performer_events(score, chosen)
    if not events:
        raise InputFileError("no notes to accompany", path)
    remarks = []
    if settings.tempo_bpm is None:
        settings = replace(settings, tempo_bpm=min(300.0, max(30.0, round(score.tempos[0].bpm, 3))))
    if len(score.tempos) > 1 and not settings.follow:
        remarks.append("the file changes tempo; the band keeps the first tempo (use --follow to follow it)")
    engine = Accompanist(settings)
    engine.start(0.0)
    band_events = run(engine, events)
    band = band_tracks(engine, band_events, score.beats)
    chord_changes = [(score.beats(t), c) for _, t, c in engine.chord_track]
    end = max([t.end for t in band] + [t.end for t in chosen] + [0.0])
    chords = tuple(c for c in chord_spans(chord_changes, end) if c.chord is not None)
    keys = tuple(KeyChange(score.beats(engine.tempo.time_of(b)), k) for b, k in engine.keys.changes)
    performer = tuple(replace(t, role="melody") for t in chosen)
    out_score = Score(
        tracks=performer + tuple(band),
        tempos=score.tempos,
        time_signatures=score.time_signatures,
        keys=keys,
        chords=chords,
        title=f"{path.stem} + tunesmith band",
    )
    label = (
        f"AI-generated accompaniment: the {engine.style.name} band parts were played by tunesmith {__version__} "
        f"(seed {settings.seed}) along with the performer's part from {path.name}, which is not AI-generated"
    )
    write_midi(out_score, output, label=label)
    report = AccompanyReport(
        input=str(path),
        output=str(output),
        style=engine.style.name,
        tempo_bpm=round(engine.bpm, 2),
        follow=settings.follow,
        keys=[{"beat": round(k.beat, 3), "key": k.key.short()} for k in keys],
        chords=[{"beat": round(c.start, 3), "beats": round(c.duration, 3), "chord": c.chord.symbol()} for c in chords],
        tracks=[{"name": t.name, "program": t.program, "drums": t.is_drum, "notes": len(t.notes)} for t in band],
        performer_notes=sum(len(t.notes) for t in chosen),
        stats={k: v for k, v in asdict(engine.stats).items() if k != "key_changes"},
        models=_models(settings, engine.style),
        seconds=round(time.perf_counter() - t0, 3),
        notes=remarks,
    )
    return report, out_score
