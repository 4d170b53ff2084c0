"""``tunesmith learn FOLDER --name NAME`` and ``tunesmith styles remove NAME``.

Kept apart from :mod:`tunesmith.cli` and added to its app by :func:`register`. The
commands only parse, call :mod:`tunesmith.learn` and print; errors surface as
``TunesmithError`` and ``tunesmith.cli.main`` prints them as one line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

_Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def learn_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder of the musician's MIDI, MusicXML and ABC files.")],
    name: Annotated[str, typer.Option("--name", help="Name of the new style (compose --style NAME).")],
    audio: Annotated[
        bool, typer.Option("--audio", help="Also transcribe monophonic recordings (WAV, FLAC, MP3 …).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a learned style of the same name.")] = False,
    json_out: _Json = False,
) -> None:
    """Learn a musician's style from a folder of their pieces; compose, produce, harmonize and accompany use it."""
    from tunesmith.cli import _progress_bar, stderr, stdout
    from tunesmith.learn.learn import learn_style, summary_lines

    bar = _progress_bar("learn", enabled=not json_out)
    if bar is not None:
        with bar:
            tasks: dict[str, Any] = {}

            def update(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            report = learn_style(folder, name, audio=audio, force=force, progress=update, argv=sys.argv)
    else:
        report = learn_style(folder, name, audio=audio, force=force, argv=sys.argv)
    if json_out:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    for w in report.warnings:
        stderr.print(f"tunesmith: warning: {w}", markup=False, highlight=False, soft_wrap=True)
    for line in summary_lines(report):
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)
    stdout.print(f"  use it: tunesmith compose --style {report.name} -o song/", markup=False, highlight=False)


def styles_remove(
    name: Annotated[str, typer.Argument(help="A learned (or hand-written user) style.")],
    json_out: _Json = False,
) -> None:
    """Remove a user style (a learned style's folder with its card and weights)."""
    from tunesmith.cli import stdout
    from tunesmith.learn.store import remove_style

    removed = remove_style(name)
    if json_out:
        print(json.dumps({"removed": name, "path": str(removed)}))
        return
    stdout.print(f"removed style {name!r} ({removed})", markup=False, highlight=False)


def register(app: typer.Typer, styles_app: typer.Typer) -> None:
    """Add ``learn`` to the app and ``remove`` to its ``styles`` group."""
    app.command("learn")(learn_cmd)
    styles_app.command("remove")(styles_remove)
