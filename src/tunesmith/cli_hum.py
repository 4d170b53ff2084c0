"""``tunesmith hum``: sing or hum a tune, get a song.

Registered on the main app by :func:`register`; the work is done by :mod:`tunesmith.voice`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tunesmith.errors import UsageError

stdout = Console()
stderr = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add ``hum`` to the ``tunesmith`` command."""
    app.command("hum")(hum_cmd)


def _auto_float(text: str, option: str) -> float | None:
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{option} must be auto or a number, got {text!r}") from None


def _seed(seed: int | None) -> int:
    if seed is not None:
        if not 0 <= seed < 2**32:
            raise UsageError(f"--seed must be 0..{2**32 - 1}, got {seed}")
        return seed
    return int.from_bytes(os.urandom(4), "little")


def _progress_bar(enabled: bool) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if not enabled or not sys.stderr.isatty():
        return None
    return Progress(
        TextColumn("[bold]hum[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )


def hum_cmd(
    voice: Annotated[
        Path, typer.Argument(metavar="VOICE", help="A recording of singing or humming (wav/flac/mp3/ogg).")
    ],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Folder for notes.csv, melody.mid, song.mid, master.wav, report.html."),
    ],
    style: Annotated[str, typer.Option("--style", help="Style of the band (tunesmith styles list).")] = "pop",
    tempo: Annotated[str, typer.Option("--tempo", help="auto (from the singing) or BPM, 30-300.")] = "auto",
    key: Annotated[str, typer.Option("--key", help="auto (from the notes) or a key: C, Am, F#m, Bb …")] = "auto",
    keep_voice: Annotated[
        bool, typer.Option("--keep-voice", help="Mix the singer's own recording in, in time with the band.")
    ] = False,
    instrument: Annotated[
        int | None,
        typer.Option("--instrument", help="GM program 0-127 for the melody (with --keep-voice: doubles it)."),
    ] = None,
    expressive: Annotated[
        bool, typer.Option("--expressive", help="Keep the sung timing in melody.mid instead of snapping to 1/16.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for the band (default: a new one, recorded).")
    ] = None,
    target: Annotated[
        str, typer.Option(help="Mastering target: streaming, apple, youtube, cd, club, broadcast or LUFS.")
    ] = "streaming",
    tracker: Annotated[str, typer.Option("--tracker", help="Pitch tracker: auto, swift-f0 or pyin.")] = "auto",
    soundfont: Annotated[Path | None, typer.Option(help="SoundFont (.sf2/.sf3) to render with.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Sing or hum a tune, get a song: the notes, a melody MIDI, an arrangement and a mastered WAV."""
    from tunesmith.voice.song import HumOptions, check_options, hum

    options = HumOptions(
        style=style,
        tempo_bpm=_auto_float(tempo, "--tempo"),
        key=None if key.strip().lower() == "auto" else key,
        keep_voice=keep_voice,
        instrument=instrument,
        expressive=expressive,
        seed=_seed(seed),
        target=target,
        tracker=tracker,
        soundfont=None if soundfont is None else str(soundfont),
    )
    check_options(options)  # usage errors before any work
    bar = _progress_bar(enabled=not json_out)
    if bar is not None:
        with bar:
            task = bar.add_task("listen", total=1.0)
            report = hum(voice, output, options, lambda st, done: bar.update(task, completed=done, description=st))
    else:
        report = hum(voice, output, options)
    doc = report.to_dict()
    if json_out:
        print(json.dumps(doc, indent=2))
        return
    tr = doc["transcription"]
    for warning in doc["warnings"]:
        stderr.print(f"tunesmith: warning: {voice}: {warning}", markup=False, highlight=False, soft_wrap=True)
    chords = " ".join(c["chord"] for c in doc["song"]["chords"][:16]) + (
        " …" if len(doc["song"]["chords"]) > 16 else ""
    )
    stdout.print(
        f"[bold]{tr['notes']} notes[/] · {tr['key']} · {tr['tempo_bpm']:g} BPM · {tr['metre']} · "
        f"tuning {tr['tuning_cents']:+.0f} ct · range {tr['range']['lowest']}–{tr['range']['highest']} "
        f"(comfortable {tr['range']['comfortable']})",
        highlight=False,
    )
    stdout.print(f"  {doc['song']['style']} band, chords: {chords}", highlight=False)
    m = doc["master"]
    stdout.print(
        f"  master: {m['integrated_lufs']} LUFS, true peak {m['true_peak_dbtp']} dBTP · "
        f"made in {doc['timings_s']['total']:.1f} s",
        highlight=False,
    )
    out = Path(doc["out_dir"])
    stdout.print(f"  listen: {out / 'master.wav'} · report: {out / 'report.html'}", highlight=False)
    stdout.print(f"  notes: {out / 'notes.csv'} · melody: {out / 'melody.mid'} · song: {out / 'song.mid'}")
