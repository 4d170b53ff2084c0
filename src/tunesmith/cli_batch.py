"""``tunesmith batch analyze|master|mix|produce|hum INPUT -o OUT_DIR``: a command over a whole catalogue.

Kept apart from :mod:`tunesmith.cli` and added to its app by :func:`register`. Each
sub-command takes the options of the single-file command it runs, plus ``--workers N``
(local processes; default one per core), ``--ray [ADDRESS]`` (Ray instead: a cluster address,
or alone for a local Ray), ``--redo`` and ``--json``. It parses, calls
:func:`tunesmith.pipeline.batch.run_batch` and prints; errors surface as ``TunesmithError``.

Exit status: 0 when every item is ok or was already complete, 1 when any item failed
(see ``batch.csv``), 130 when interrupted (run it again to resume).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tunesmith.errors import UsageError


def _looks_like_address(token: str) -> bool:
    """A Ray address: ``auto``, ``local``, ``host:port``, ``ray://host:port`` — never an input path."""
    return token in ("auto", "local") or ("://" in token) or (":" in token and not token.startswith(("-", "/", ".")))


def with_ray_value(args: list[str]) -> list[str]:
    """Give a bare ``--ray`` its value: ``--ray ADDRESS`` → ``--ray=ADDRESS``, ``--ray`` alone → ``--ray=local``.

    The following token is taken as the address only when it looks like one, so
    ``--ray songs/ -o out`` still reads ``songs/`` as the input.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            out.extend(args[i:])
            break
        if token != "--ray":
            out.append(token)
        elif i + 1 < len(args) and _looks_like_address(args[i + 1]):
            out.append(f"--ray={args[i + 1]}")
            i += 1
        else:
            out.append("--ray=local")
        i += 1
    return out


class _RayOptionalValue(TyperGroup):
    """The ``batch`` group: lets ``--ray`` take an optional value (see :func:`with_ray_value`).

    Click can only make an option's value optional when its parser is told so, which Typer
    does not pass on; so the arguments are rewritten before the sub-command parses them.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, with_ray_value(args))


batch_app = typer.Typer(
    cls=_RayOptionalValue,
    help="Run analyze, master, mix, produce or hum over a folder or a CSV manifest, on local cores or a Ray cluster.",
    no_args_is_help=True,
)

_Input = Annotated[
    Path,
    typer.Argument(
        metavar="INPUT",
        help="A folder (audio files, searched recursively), or a CSV manifest: an 'input' column, "
        "optional 'id', and any option of the command as a column overriding it for that row.",
        show_default=False,
    ),
]
_Out = Annotated[
    Path, typer.Option("-o", "--output", help="Folder for the outputs, their recipes and batch.csv / batch.jsonl.")
]
_Workers = Annotated[
    int | None, typer.Option("--workers", help="Items at once (default: one per core; with --ray: the CPUs of Ray).")
]
_Ray = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="Run on Ray: alone, a local Ray (--workers CPUs); or a cluster: --ray auto, --ray ray://head:10001.",
    ),
]
_Redo = Annotated[bool, typer.Option("--redo", help="Make every item again, even those complete from a previous run.")]
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout.")]
_Seed = Annotated[
    int | None,
    typer.Option("--seed", help="Batch seed (default 0); each item's seed is derived from it and the item's id."),
]
_Format = Annotated[str, typer.Option("--format", help="wav16, wav24, wav32f, flac, flac16, mp3, ogg or aiff.")]
_SampleRate = Annotated[int | None, typer.Option("--sample-rate", help="Output sample rate in Hz (default: keep).")]


def _progress(job: str, enabled: bool) -> tuple[Any, Any]:
    """A rich progress bar (items, throughput, ETA) on a terminal, and the callback that drives it."""
    from tunesmith.cli import stderr

    if not enabled or not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn(f"[bold]batch {job}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}"),
        TextColumn("{task.fields[failed]}"),
        console=stderr,
        transient=True,
    )
    task = bar.add_task(job, total=None, rate="", eta="", failed="")
    started = time.perf_counter()
    made = failed = 0

    def update(result: Any, finished: int, total: int) -> None:
        nonlocal made, failed
        made += result.status in ("ok", "failed")
        failed += result.status == "failed"
        elapsed = time.perf_counter() - started
        # Throughput and ETA from the items actually made: skipped ones cost next to nothing.
        rate = made / elapsed if made and elapsed > 0 else 0.0
        eta = f"ETA {_clock((total - finished) / rate)}" if rate > 0 else "ETA —"
        bar.update(
            task,
            completed=finished,
            total=total,
            rate=f"{60.0 * rate:.1f} items/min",
            eta=eta,
            failed=f"[red]{failed} failed[/]" if failed else "",
        )

    return bar, update


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _run(
    job: str,
    source: Path,
    output: Path,
    options: dict[str, Any],
    workers: int | None,
    ray: str | None,
    redo: bool,
    json_out: bool,
) -> None:
    from tunesmith.cli import stderr, stdout
    from tunesmith.pipeline.batch import run_batch

    options = {k: v for k, v in options.items() if v is not None}
    bar, update = _progress(job, enabled=not json_out)

    def notice(text: str) -> None:
        stderr.print(f"tunesmith: {text}", markup=False, highlight=False, soft_wrap=True)

    kwargs: dict[str, Any] = {
        "workers": workers,
        "engine": "ray" if ray is not None else "local",
        "address": None if ray in (None, "local") else ray,
        "resume": not redo,
        "notice": notice,
    }
    if bar is not None:
        with bar:
            report = run_batch(job, source, output, options, progress=update, **kwargs)
    else:
        report = run_batch(job, source, output, options, **kwargs)
    doc = report.to_dict()
    if json_out:
        print(json.dumps(doc, indent=2))
    else:
        stdout.print(
            f"batch {job}: {report.items} items · [green]{report.ok} made[/] · {report.skipped} already done · "
            f"[red]{report.failed} failed[/] · {report.pending} not started — {report.seconds:.1f} s "
            f"on {report.workers} {report.engine} worker(s), {report.items_per_min:g} items/min",
            highlight=False,
            soft_wrap=True,
        )
        for failure in report.failures:
            stdout.print(f"  [red]failed[/] {failure['id']}: {failure['error']}", highlight=False, soft_wrap=True)
        if report.failed > len(report.failures):
            stdout.print(f"  … {report.failed - len(report.failures)} more", highlight=False, soft_wrap=True)
        stdout.print(f"  manifest: {report.manifest['csv']} (and batch.jsonl)", highlight=False, soft_wrap=True)
        if report.interrupted:
            stdout.print(
                "  interrupted: run the same command again to finish the rest", highlight=False, soft_wrap=True
            )
    if report.interrupted:
        raise typer.Exit(130)
    if report.failed:
        raise typer.Exit(1)


@batch_app.command("analyze")
def batch_analyze(
    source: _Input,
    output: _Out,
    no_musical: Annotated[bool, typer.Option("--no-musical", help="Skip the tempo and key estimate (faster).")] = False,
    plot: Annotated[bool, typer.Option("--plot", help="Also write <id>.png (waveform, loudness, spectrum).")] = False,
    workers: _Workers = None,
    ray: _Ray = None,
    redo: _Redo = False,
    json_out: _Json = False,
) -> None:
    """Measure every file: <id>.json with loudness, true peak, dynamics, tempo, key, spectrum, stereo."""
    _run("analyze", source, output, {"musical": not no_musical, "plot": plot}, workers, ray, redo, json_out)


@batch_app.command("master")
def batch_master(
    source: _Input,
    output: _Out,
    target: Annotated[
        str | None,
        typer.Option(help="streaming, apple, youtube, cd, club, broadcast, or LUFS (e.g. -12). Default: streaming."),
    ] = None,
    ceiling: Annotated[float | None, typer.Option(help="True-peak ceiling in dBTP (overrides the preset's).")] = None,
    reference: Annotated[
        list[Path] | None, typer.Option("--reference", help="Reference track(s) every item is matched to.")
    ] = None,
    style: Annotated[
        str, typer.Option(help="Tonal target without a reference: auto, balanced, warm, bright, punchy.")
    ] = "auto",
    intensity: Annotated[float, typer.Option(help="How hard the glue compression works, 0..1.")] = 0.5,
    width: Annotated[float, typer.Option(help="Stereo width, 0..2 (1 = unchanged).")] = 1.0,
    fmt: _Format = "wav24",
    sample_rate: _SampleRate = None,
    seed: _Seed = None,
    report: Annotated[bool, typer.Option("--report", help="Also write <id>.report.html for each item.")] = False,
    preview: Annotated[
        bool, typer.Option("--preview", help="Also write <id>.preview.wav (loudness-matched A/B clip).")
    ] = False,
    workers: _Workers = None,
    ray: _Ray = None,
    redo: _Redo = False,
    json_out: _Json = False,
) -> None:
    """Master every mix: tonal EQ, width, glue, loudness to target, true-peak limiting (<id>.<format>)."""
    options = {
        "target": target,
        "ceiling": ceiling,
        "references": [str(r.resolve()) for r in reference or []],
        "style": style,
        "intensity": intensity,
        "width": width,
        "format": fmt,
        "sample_rate": sample_rate,
        "seed": seed,
        "report": report,
        "preview": preview,
    }
    _run("master", source, output, options, workers, ray, redo, json_out)


@batch_app.command("mix")
def batch_mix(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="A folder with one sub-folder of stems per song, or a CSV manifest whose 'input' column names them.",
            show_default=False,
        ),
    ],
    output: _Out,
    roles: Annotated[
        list[str] | None, typer.Option("--roles", help="FILE=ROLE for stems of that name in every song (repeat).")
    ] = None,
    genre: Annotated[str, typer.Option(help="Tonal target of the mix bus: pop, rock, jazz, ...")] = "pop",
    reverb: Annotated[bool, typer.Option("--reverb/--no-reverb", help="Shared reverb for roles that want it.")] = True,
    do_master: Annotated[bool, typer.Option("--master", help="Master each mix too.")] = False,
    target: Annotated[str | None, typer.Option(help="With --master: the mastering target.")] = None,
    reference: Annotated[Path | None, typer.Option("--reference", help="With --master: a reference track.")] = None,
    fmt: _Format = "wav24",
    sample_rate: _SampleRate = None,
    seed: _Seed = None,
    workers: _Workers = None,
    ray: _Ray = None,
    redo: _Redo = False,
    json_out: _Json = False,
) -> None:
    """Mix every song's stems into a balanced stereo mix (<id>.<format>), optionally mastered."""
    parsed: dict[str, str] = {}
    for item in roles or []:
        name, sep, role = item.rpartition("=")
        if not sep or not name:
            raise UsageError(f"--roles {item!r}: expected FILE=ROLE")
        parsed[name] = role
    options = {
        "roles": parsed,
        "genre": genre,
        "reverb": reverb,
        "master": do_master,
        "target": target,
        "reference": None if reference is None else str(reference.resolve()),
        "format": fmt,
        "sample_rate": sample_rate,
        "seed": seed,
    }
    _run("mix", source, output, options, workers, ray, redo, json_out)


@batch_app.command("produce")
def batch_produce(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="MANIFEST",
            help="A CSV, one song per row: any of id, style, key, tempo, bars, structure, chords, seed, loop, "
            "melody, target, sample_rate, soundfont (empty cells take the options below).",
            show_default=False,
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for one <id>/ folder per song + manifest.")],
    style: Annotated[str, typer.Option("--style", help="Style name or a style .toml file.")] = "pop",
    key: Annotated[str | None, typer.Option("--key", help="C, Am, F#m … (default: one of the style's).")] = None,
    tempo: Annotated[float | None, typer.Option("--tempo", help="BPM, 30-300 (default: the style's).")] = None,
    bars: Annotated[int | None, typer.Option("--bars", help="Length in bars.")] = None,
    structure: Annotated[str | None, typer.Option("--structure", help='Form, e.g. "intro:4 verse:8".')] = None,
    chords: Annotated[str | None, typer.Option("--chords", help='Chords to use, e.g. "C G Am F".')] = None,
    seed: _Seed = None,
    loop: Annotated[bool, typer.Option("--loop", help="Seamless loops.")] = False,
    melody: Annotated[str, typer.Option("--melody", help="model or rules.")] = "model",
    target: Annotated[str, typer.Option(help="Mastering target.")] = "streaming",
    sample_rate: Annotated[int, typer.Option("--sample-rate", help="Hz.")] = 44_100,
    soundfont: Annotated[Path | None, typer.Option(help="SoundFont (.sf2/.sf3) to render with.")] = None,
    workers: _Workers = None,
    ray: _Ray = None,
    redo: _Redo = False,
    json_out: _Json = False,
) -> None:
    """Compose, render, mix and master one song per manifest row (song.mid, stems, mix, master WAV + MP3)."""
    options = {
        "style": style,
        "key": key,
        "tempo": tempo,
        "bars": bars,
        "structure": structure,
        "chords": chords,
        "seed": seed,
        "loop": loop,
        "melody": melody,
        "target": target,
        "sample_rate": sample_rate,
        "soundfont": None if soundfont is None else str(soundfont.resolve()),
    }
    _run("produce", source, output, options, workers, ray, redo, json_out)


def _auto(text: str, option: str) -> float | None:
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{option} must be auto or a number, got {text!r}") from None


@batch_app.command("hum")
def batch_hum(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="A folder of sung or hummed recordings, or a CSV manifest: 'input', optional 'id', and any option "
            "below as a column (style, tempo, key, keep_voice, instrument, expressive, seed, target, tracker, …).",
            show_default=False,
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for one <id>/ folder per song + manifest.")],
    style: Annotated[str, typer.Option("--style", help="Style of the band.")] = "pop",
    tempo: Annotated[str, typer.Option("--tempo", help="auto (from the singing) or BPM.")] = "auto",
    key: Annotated[str, typer.Option("--key", help="auto (from the notes) or a key.")] = "auto",
    keep_voice: Annotated[bool, typer.Option("--keep-voice", help="Mix the singer's recording in.")] = False,
    instrument: Annotated[int | None, typer.Option("--instrument", help="GM program 0-127 for the melody.")] = None,
    expressive: Annotated[bool, typer.Option("--expressive", help="Keep the sung timing in melody.mid.")] = False,
    seed: _Seed = None,
    target: Annotated[str, typer.Option(help="Mastering target.")] = "streaming",
    tracker: Annotated[str, typer.Option("--tracker", help="Pitch tracker: auto, swift-f0 or pyin.")] = "auto",
    soundfont: Annotated[Path | None, typer.Option(help="SoundFont (.sf2/.sf3) to render with.")] = None,
    workers: _Workers = None,
    ray: _Ray = None,
    redo: _Redo = False,
    json_out: _Json = False,
) -> None:
    """Turn every sung or hummed recording into a song (notes, melody.mid, song.mid, stems, mix, master)."""
    options = {
        "style": style,
        "tempo": _auto(tempo, "--tempo"),
        "key": None if key.strip().lower() == "auto" else key,
        "keep_voice": keep_voice,
        "instrument": instrument,
        "expressive": expressive,
        "seed": seed,
        "target": target,
        "tracker": tracker,
        "soundfont": None if soundfont is None else str(soundfont.resolve()),
    }
    _run("hum", source, output, options, workers, ray, redo, json_out)


def register(app: typer.Typer) -> None:
    """Add ``batch`` and its sub-commands to the ``tunesmith`` app."""
    app.add_typer(batch_app, name="batch")
