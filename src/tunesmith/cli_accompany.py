"""``tunesmith accompany`` (a band that plays along, live or on a file) and ``tunesmith midi-ports``.

Registered on the main app by :func:`register`; the work is done by :mod:`tunesmith.accompany`.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tunesmith.errors import TunesmithError, UsageError

stdout = Console()
stderr = Console(stderr=True)
_MIDI_SUFFIXES = (".mid", ".midi", ".smf")


def register(app: typer.Typer) -> None:
    """Add ``accompany`` and ``midi-ports`` to the ``tunesmith`` command."""
    app.command("accompany")(accompany_cmd)
    app.command("midi-ports")(midi_ports_cmd)


def accompany_cmd(
    melody: Annotated[
        Path | None,
        typer.Argument(metavar="[MELODY.mid]", help="Accompany this file offline (same engine, no look-ahead)."),
    ] = None,
    input_port: Annotated[
        str | None,
        typer.Option("--input", "-i", help="Live: the performer's MIDI port (name, part of it, number, or virtual)."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Offline: the MIDI file to write. Live: a MIDI port, virtual, or synth."),
    ] = None,
    style: Annotated[str, typer.Option(help="Style name (tunesmith styles list) or a style .toml file.")] = "pop",
    tempo: Annotated[
        float | None, typer.Option(help="BPM, 30-300 (default: the file's tempo, live the style's).")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Follow the performer's tempo.")] = False,
    key: Annotated[str, typer.Option("--key", help="auto (follow the performer) or a key: C, Am, F#m, Bb …")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed for the band's humanising and pattern choices.")] = 0,
    chord_model: Annotated[
        str, typer.Option("--chord-model", help="fallback (default; scores best) or learned (the chord network).")
    ] = "fallback",
    track: Annotated[
        str | None, typer.Option(help="Offline: the performer's track (default: the melody, else all pitched ones).")
    ] = None,
    soundfont: Annotated[Path | None, typer.Option(help="With --output synth: the SoundFont (.sf2/.sf3).")] = None,
    thru: Annotated[
        bool | None, typer.Option("--thru/--no-thru", help="Live: also play the performer (default: on for synth).")
    ] = None,
    duration: Annotated[float | None, typer.Option(help="Live: stop after this many seconds.")] = None,
    record: Annotated[Path | None, typer.Option(help="Live: save the session (performer + band) as MIDI.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """A band (chords, bass, drums) that plays along with a performer — live from a MIDI port, or on a file."""
    from tunesmith.accompany import AccompanySettings

    settings = AccompanySettings(
        style=style, tempo_bpm=tempo, follow=follow, key=key, seed=seed, chord_model=chord_model
    ).checked()
    if melody is not None and input_port is not None:
        raise UsageError("give either a MELODY file (offline) or --input PORT (live), not both")
    if output is None:
        raise UsageError("missing -o/--output: a MIDI file (offline) or a MIDI port / synth (live)")
    if melody is not None:
        _offline(melody, Path(output), settings, track, json_out)
    elif input_port is not None:
        _live(input_port, output, settings, soundfont, thru, duration, record, json_out)
    else:
        raise UsageError("give a MIDI file to accompany, or --input PORT for a live performer (see --help)")


def _offline(melody: Path, output: Path, settings: Any, track: str | None, json_out: bool) -> None:
    from tunesmith.accompany import accompany_file
    from tunesmith.atomic import check_not_input
    from tunesmith.provenance import write_recipe

    if output.suffix.lower() not in _MIDI_SUFFIXES:
        raise UsageError("offline output must be a MIDI file (.mid)", output)
    check_not_input(output, [melody])
    report, _ = accompany_file(melody, output, settings, track)
    parameters = {
        "style": report.style,
        "tempo_bpm": settings.tempo_bpm,
        "follow": settings.follow,
        "key": settings.key,
        "track": track,
        "chord_model": settings.chord_model,
        "lookahead_s": settings.lookahead_s,
    }
    write_recipe(
        output, "accompany", parameters, inputs=[melody], seed=settings.seed, models=report.models, ai_generated=True
    )
    if json_out:
        print(json.dumps(report.to_dict(), indent=2))
        return
    stdout.print(
        f"[bold]{report.style}[/] band for {melody} → {output}: {report.tempo_bpm:g} BPM, "
        f"key{'s' if len(report.keys) > 1 else ''} {_keys_text(report.keys)}, {len(report.chords)} chords, "
        f"{report.stats['revisions']} revised as the melody went on ({report.seconds:.2f} s)",
        highlight=False,
    )
    table = Table(show_header=True, title_justify="left")
    for col in ("track", "program", "notes"):
        table.add_column(col)
    table.add_row("performer", "—", str(report.performer_notes))
    for t in report.tracks:
        table.add_row(t["name"], "drums" if t["drums"] else str(t["program"]), str(t["notes"]))
    stdout.print(table)
    shown = " ".join(c["chord"] for c in report.chords[:24])
    stdout.print(f"  chords: {shown}{' …' if len(report.chords) > 24 else ''}", highlight=False)
    for note in report.notes:
        stdout.print(f"  note: {note}", highlight=False)


def _keys_text(keys: list[dict[str, Any]]) -> str:
    """``C → Am → F`` (the first few of a long list)."""
    names = [k["key"] for k in keys]
    if not names:
        return "—"
    return " → ".join(names[:5]) + (f" … ({len(names)} in all)" if len(names) > 5 else "")


def _live(
    input_spec: str,
    output_spec: str,
    settings: Any,
    soundfont: Path | None,
    thru: bool | None,
    duration: float | None,
    record: Path | None,
    json_out: bool,
) -> None:
    from tunesmith.accompany import Accompanist
    from tunesmith.accompany.ports import FluidSynthOutput, open_input, open_output, port_alive
    from tunesmith.accompany.scheduler import LiveSession

    if duration is not None and duration <= 0:
        raise UsageError("--duration must be positive (seconds)")
    if record is not None and record.suffix.lower() not in _MIDI_SUFFIXES:
        raise UsageError("--record must name a MIDI file (.mid)", record)
    engine = Accompanist(settings)  # a bad style fails before any port is opened
    inport, in_name, in_virtual = open_input(input_spec)
    synth = output_spec == "synth"
    try:
        if synth:
            out = FluidSynthOutput(soundfont)
            out_name = out.name
        else:
            out, out_name, _ = open_output(output_spec)
    except BaseException:
        inport.close()
        raise
    play_thru = synth if thru is None else thru
    if not json_out:
        stderr.print(
            f"[bold]{engine.style.name}[/] band listening on '{in_name}', playing to '{out_name}' "
            f"({'following the tempo from ' if settings.follow else ''}{engine.bpm:g} BPM, key {settings.key}). "
            "Play — Ctrl-C to stop.",
            highlight=False,
        )
    session = LiveSession(engine, out, thru=play_thru, record=record is not None)
    alive = None if in_virtual else (lambda: port_alive(in_name, "input"))
    try:
        report = session.run(inport, duration_s=duration, alive=alive)
    finally:
        for port in (inport, out):
            with contextlib.suppress(Exception):  # closing a port that already vanished
                port.close()
    if record is not None and session.performed:
        _write_record(session, record, settings)
    if json_out:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        stderr.print(
            f"{report.reason}: {report.seconds:.1f} s, {report.events_in} events in, {report.events_out} out, "
            f"ended at {report.bpm:g} BPM in {report.key}; latest send {report.late_sent_ms.get('max', 0):.1f} ms"
            + (f"; recorded to {record}" if record is not None and session.performed else ""),
            highlight=False,
        )
    if report.reason in ("input lost", "output lost"):
        raise TunesmithError(f"{report.detail}; the band stopped and released its notes")


def _write_record(session: Any, path: Path, settings: Any) -> None:
    """The live session as a MIDI file at 120 BPM (performer + band), with its recipe."""
    from tunesmith import __version__
    from tunesmith.accompany.offline import band_tracks
    from tunesmith.provenance import write_recipe
    from tunesmith.score.midi import write_midi
    from tunesmith.score.types import Note, Score, TempoChange, Track

    t0 = min([t for t, _ in session.performed] + [e.time_s for e in session.played])

    def beats(t: float) -> float:
        return (t - t0) * 2.0  # 120 BPM: two beats a second

    held: dict[tuple[int, int], tuple[float, int]] = {}
    notes: list[Note] = []
    for t, msg in session.performed:
        if msg.type not in ("note_on", "note_off"):
            continue
        start = held.pop((msg.channel, msg.note), None)
        if start is not None and beats(t) > beats(start[0]):
            notes.append(Note(beats(start[0]), beats(t) - beats(start[0]), msg.note, start[1]))
        if msg.type == "note_on" and msg.velocity > 0:
            held[(msg.channel, msg.note)] = (t, msg.velocity)
    performer = Track("performer", tuple(notes), 0, False, "melody")
    band = band_tracks(session.engine, session.played, beats)
    score = Score(tracks=(performer, *band), tempos=(TempoChange(0.0, 120.0),), title="tunesmith live session")
    label = (
        f"AI-generated accompaniment: band parts played live by tunesmith {__version__} "
        f"(style {session.engine.style.name}); the performer's part is a human performance"
    )
    write_midi(score, path, label=label)
    write_recipe(path, "accompany-live", {"style": settings.style, "follow": settings.follow}, ai_generated=True)


def midi_ports_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """List the MIDI input and output ports (for accompany --input/--output)."""
    from tunesmith.accompany.ports import list_ports

    ports = list_ports()
    if json_out:
        print(json.dumps(ports, indent=2))
        return
    for kind in ("inputs", "outputs"):
        stdout.print(f"[bold]{kind}[/]")
        for i, name in enumerate(ports[kind]):
            stdout.print(f"  {i}: {name}", highlight=False)
        if not ports[kind]:
            stdout.print("  (none)")
    stdout.print("  'virtual' makes a new port other programs can connect to; 'synth' plays through FluidSynth.")
    sys.stdout.flush()
