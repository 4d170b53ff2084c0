"""The ``tunesmith`` command: parse, call the Python API, print.

Errors a user can cause come back as one line on stderr
(``tunesmith: error: FILE: problem``) with exit status 1 (2 for usage errors),
never a traceback; ``--json`` prints exactly one JSON document on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tunesmith import __version__
from tunesmith.cli_accompany import register as register_accompany
from tunesmith.cli_batch import register as register_batch
from tunesmith.cli_hum import register as register_hum
from tunesmith.cli_learn import register as register_learn
from tunesmith.cli_provenance import register as register_provenance
from tunesmith.cli_recommend import register as register_recommend
from tunesmith.cli_serve import register as register_serve
from tunesmith.errors import TunesmithError, UsageError

app = typer.Typer(
    name="tunesmith",
    help="AI music-production studio: analyse, master, mix, compose — offline, on your CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
stderr = Console(stderr=True)
stdout = Console()


def _version(value: bool) -> None:
    if value:
        print(f"tunesmith {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """tunesmith: an AI music-production studio that runs offline."""


def _progress_bar(description: str, enabled: bool) -> Any:
    """A rich progress bar on stderr when it is a terminal, else a no-op stand-in."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if not enabled or not sys.stderr.isatty():
        return None
    return Progress(
        TextColumn(f"[bold]{description}[/] {{task.description}}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )


def _fmt(value: object, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}{(' ' + unit) if unit else ''}"
    return f"{value}{(' ' + unit) if unit else ''}"


def _print_analysis(doc: dict[str, Any]) -> None:
    table = Table(title=doc["file"], show_header=False, title_justify="left")
    table.add_column("measure", style="bold")
    table.add_column("value")
    balance = doc.get("spectral_balance_pct")
    rows = [
        ("Duration", _fmt(doc["duration_s"], "s", 2)),
        ("Format", f"{doc['format']}, {doc['sample_rate_hz']} Hz, {doc['channels']} ch"),
        ("Integrated loudness", _fmt(doc["integrated_lufs"], "LUFS")),
        ("Short-term max", _fmt(doc["short_term_max_lufs"], "LUFS")),
        ("Momentary max", _fmt(doc["momentary_max_lufs"], "LUFS")),
        ("Loudness range", _fmt(doc["loudness_range_lu"], "LU")),
        ("True peak", _fmt(doc["true_peak_dbtp"], "dBTP", 2)),
        ("Sample peak", _fmt(doc["sample_peak_dbfs"], "dBFS", 2)),
        ("PLR", _fmt(doc["plr_db"], "dB")),
        ("Crest factor", _fmt(doc["crest_factor_db"], "dB")),
        ("Tempo", _fmt(doc["tempo_bpm"], "BPM")),
        ("Key", _fmt(doc["key"])),
        (
            "Spectral balance",
            "—"
            if not balance
            else f"low {balance['low_pct']}% · mid {balance['mid_pct']}% · high {balance['high_pct']}%",
        ),
        ("Stereo width (S/M)", _fmt(doc["stereo_width_ratio"], "", 3)),
        ("Stereo correlation", _fmt(doc["stereo_correlation"], "", 3)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    stdout.print(table)
    for note in doc.get("notes", []):
        stdout.print(f"  [yellow]note:[/] {note}")


def _analyze_with_progress(path: Path, musical: bool) -> Any:
    """Run :func:`analyze_file` with a progress bar on a terminal."""
    from tunesmith.audio.analysis import analyze_file

    bar = _progress_bar("analyse", enabled=True)
    if bar is None:
        return analyze_file(path, musical=musical)
    with bar:
        task = bar.add_task(path.name, total=None)
        return analyze_file(
            path, musical=musical, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )


@app.command()
def analyze(
    files: Annotated[
        list[Path], typer.Argument(help="Audio files (WAV, FLAC, OGG, MP3, AIFF, …).", show_default=False)
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG overview (waveform, loudness, spectrum).")
    ] = None,
    no_musical: Annotated[bool, typer.Option("--no-musical", help="Skip the tempo and key estimate (faster).")] = False,
) -> None:
    """Measure loudness (BS.1770-4 / EBU R128), peaks, dynamics, tempo, key, spectrum and stereo image."""
    from tunesmith.provenance import write_recipe

    if plot is not None and len(files) > 1:
        stem, suffix = plot.stem, plot.suffix or ".png"
        plot_paths = [plot.with_name(f"{stem}-{i + 1}{suffix}") for i in range(len(files))]
    else:
        plot_paths = [plot] * len(files)
    docs: list[dict[str, Any]] = []
    failures = 0
    for path, plot_path in zip(files, plot_paths, strict=True):
        try:
            if plot_path is not None and plot_path.resolve() == path.resolve():
                raise UsageError("--plot would overwrite the input file", plot_path)
            result = _analyze_with_progress(path, musical=not no_musical)
            doc = result.to_dict()
            if plot_path is not None:
                from tunesmith.audio.plot import plot_analysis

                plot_analysis(result, plot_path)
                write_recipe(plot_path, "analyze", {"plot": True, "musical": not no_musical}, inputs=[path])
                doc["plot"] = str(plot_path)
        except TunesmithError as exc:
            failures += 1
            stderr.print(f"tunesmith: error: {exc}", markup=False, highlight=False, soft_wrap=True)
            doc = {"file": str(path), "error": str(exc)}
        docs.append(doc)
        if not json_out and "error" not in doc:
            _print_analysis(doc)
            if "plot" in doc:
                stdout.print(f"  plot written to {doc['plot']}")
    if json_out:
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
    if failures:
        raise typer.Exit(1)


@app.command("master")
def master_cmd(
    input_file: Annotated[Path, typer.Argument(metavar="IN", help="The finished mix (stereo or mono).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the master.")],
    target: Annotated[
        str | None,
        typer.Option(help="streaming, apple, youtube, cd, club, broadcast, or LUFS (e.g. -12). Default: streaming."),
    ] = None,
    ceiling: Annotated[float | None, typer.Option(help="True-peak ceiling in dBTP (overrides the preset's).")] = None,
    reference: Annotated[
        list[Path] | None, typer.Option("--reference", help="Reference track(s) to match; repeat for several.")
    ] = None,
    style: Annotated[
        str, typer.Option(help="Tonal target without a reference: auto, balanced, warm, bright, punchy.")
    ] = "auto",
    intensity: Annotated[float, typer.Option(help="How hard the glue compression works, 0..1.")] = 0.5,
    width: Annotated[
        float, typer.Option(help="Stereo width, 0..2 (1 = unchanged; bass below 120 Hz is always mono).")
    ] = 1.0,
    fmt: Annotated[
        str | None, typer.Option("--format", help="wav16, wav24, wav32f, flac or mp3 (default: from the suffix).")
    ] = None,
    sample_rate: Annotated[
        int | None, typer.Option("--sample-rate", help="Output sample rate in Hz (default: keep).")
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report with plots.")] = None,
    preview: Annotated[
        Path | None,
        typer.Option("--preview", help="Write a loudness-matched A/B clip (loudest 30 s: original, then master)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Dither seed (same input + options + seed = identical output).")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Master a finished mix: tonal EQ, width, glue, loudness to target and true-peak limiting."""
    from tunesmith.atomic import check_not_input
    from tunesmith.master import MasterSettings, master
    from tunesmith.provenance import write_recipe

    references = [str(r) for r in reference or []]
    inputs = [input_file, *[Path(r) for r in references]]
    for extra_out in (report, preview):
        if extra_out is not None:
            check_not_input(extra_out, inputs)
            if extra_out.resolve() == output.resolve():
                raise UsageError("--report/--preview must not be the output file itself", extra_out)
    settings = MasterSettings(
        target=target,
        ceiling_dbtp=ceiling,
        references=references,
        style=style,
        intensity=intensity,
        width=width,
        encoding=fmt,
        sample_rate=sample_rate,
        seed=seed,
    )
    bar = _progress_bar("master", enabled=True)
    if bar is not None:
        with bar:
            task = bar.add_task(input_file.name, total=1.0)
            result, extra = master(
                input_file,
                output,
                settings,
                progress=lambda stage, done: bar.update(task, completed=done, description=stage),
                output_spectrum=report is not None,
            )
    else:
        result, extra = master(input_file, output, settings, output_spectrum=report is not None)
    parameters = {
        "target": result.target,
        "style": settings.style,
        "intensity": intensity,
        "width": width,
        "format": result.settings["format"],
        "sample_rate_hz": result.sample_rate_hz,
        "references": references,
    }
    write_recipe(output, "master", parameters, inputs=inputs, seed=seed)
    result.files["output"] = str(output)
    if preview is not None:
        from tunesmith.master.preview import write_preview

        result.files["preview"] = str(preview)
        matched = write_preview(input_file, output, preview, extra["input_momentary_lufs"], extra["sample_rate"])
        write_recipe(preview, "master-preview", {**parameters, **matched}, inputs=[input_file, output], seed=seed)
    if report is not None:
        from tunesmith.master.report import write_report_html

        result.files["report"] = str(report)
        write_report_html(result, report)
        write_recipe(report, "master-report", parameters, inputs=[input_file, output], seed=seed)
    if json_out:
        print(json.dumps(result.to_dict(), indent=2))
        return
    i, o = result.input_loudness, result.output_loudness
    table = Table(title=f"{input_file} → {output}", title_justify="left")
    table.add_column("")
    table.add_column("input", justify="right")
    table.add_column("master", justify="right")
    for name, key, unit in (
        ("Integrated", "integrated_lufs", "LUFS"),
        ("True peak", "true_peak_dbtp", "dBTP"),
        ("Loudness range", "loudness_range_lu", "LU"),
        ("PLR", "plr_db", "dB"),
    ):
        table.add_row(name, _fmt(i[key], unit, 2), _fmt(o[key], unit, 2))
    stdout.print(table)
    t = result.target
    stdout.print(
        f"target {t['name']} {t['integrated_lufs']} LUFS / {t['ceiling_dbtp']} dBTP · tonal target {result.style} · "
        f"limiter max {result.limiter_reduction_db['max']} dB · {result.seconds} s"
    )
    for w in result.warnings:
        stdout.print(f"  [yellow]warning:[/] {w}", highlight=False)
    for n in result.notes:
        stdout.print(f"  note: {n}", highlight=False)
    for kind in ("preview", "report"):
        if kind in result.files:
            stdout.print(f"  {kind} written to {result.files[kind]}")


@app.command("mix")
def mix_cmd(
    stems: Annotated[
        list[Path] | None, typer.Argument(metavar="STEM... | STEMS_DIR", help="Stem files, or a folder of them.")
    ] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to write the mix.")] = None,
    roles: Annotated[
        list[str] | None,
        typer.Option("--roles", help="FILE=ROLE to override a stem's role (repeat). Roles: see --help-roles."),
    ] = None,
    genre: Annotated[str, typer.Option(help="Tonal target of the mix bus: pop, rock, jazz, ... ")] = "pop",
    reference: Annotated[
        Path | None, typer.Option("--reference", help="With --master: a reference track for the mastering stage.")
    ] = None,
    do_master: Annotated[bool, typer.Option("--master", help="Hand the mix to the mastering chain.")] = False,
    target: Annotated[str | None, typer.Option(help="With --master: mastering target (see tunesmith master).")] = None,
    reverb: Annotated[
        bool, typer.Option("--reverb/--no-reverb", help="Shared reverb for roles that want space.")
    ] = True,
    settings_out: Annotated[
        Path | None, typer.Option("--settings", help="Write every mixing decision as JSON (rebuild it in a DAW).")
    ] = None,
    apply: Annotated[
        Path | None, typer.Option("--apply", help="Re-render exactly from a settings JSON (edited or not).")
    ] = None,
    sample_rate: Annotated[
        int | None, typer.Option("--sample-rate", help="Session rate in Hz (default: the stems').")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="wav16, wav24, wav32f, flac, mp3 (default: suffix).")
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report with plots.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Mix stems into a balanced stereo mix: roles, levels, pan, EQ unmasking, compression, reverb, bus."""
    import tempfile

    from tunesmith.atomic import check_not_input
    from tunesmith.mix import MixOptions, automix, find_stems, load_settings
    from tunesmith.provenance import write_recipe

    if output is None:
        raise UsageError("missing -o/--output: where to write the mix")
    applied = load_settings(apply) if apply is not None else None
    if not stems and applied is None:
        raise UsageError("no stems given (files or a folder, or --apply settings.json)")
    overrides: dict[str, str] = {}
    for item in roles or []:
        name, sep, role = item.rpartition("=")
        if not sep or not name:
            raise UsageError(f"--roles {item!r}: expected FILE=ROLE")
        overrides[name] = role
    files = find_stems(list(stems or [])) if stems else None
    inputs = [*(files or []), *([reference] if reference else []), *([apply] if apply else [])]
    for extra_out in (report, settings_out):
        if extra_out is not None:
            check_not_input(extra_out, inputs)
    options = MixOptions(
        roles=overrides,
        genre=genre,
        reverb=reverb,
        sample_rate=sample_rate,
        encoding=None if do_master else fmt,
        apply=applied,
    )
    bar = _progress_bar("mix", enabled=True)
    mix_path = output
    tmpdir = None
    if do_master:
        tmpdir = tempfile.TemporaryDirectory(
            prefix=".tunesmith-mix-", dir=output.parent if output.parent.exists() else None
        )
        mix_path = Path(tmpdir.name) / "mix.wav"
        options.encoding = "wav32f"
    try:
        if bar is not None:
            with bar:
                task = bar.add_task("stems", total=1.0)
                result, settings = automix(
                    list(files or []),
                    mix_path,
                    options,
                    lambda stage, done: bar.update(task, completed=done, description=stage),
                )
        else:
            result, settings = automix(list(files or []), mix_path, options)
        mastered = None
        if do_master:
            from tunesmith.master import MasterSettings, master

            mastered, _ = master(
                mix_path,
                output,
                MasterSettings(target=target, references=[str(reference)] if reference else [], encoding=fmt),
            )
            result.output = str(output)
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()
    parameters = {"genre": genre, "reverb": reverb, "roles": overrides, "master": do_master, "target": target}
    stems_in = [Path(s.file) for s in settings.stems]
    write_recipe(output, "mix", parameters, inputs=stems_in)
    if settings_out is not None:
        settings.save(settings_out)
        write_recipe(settings_out, "mix-settings", parameters, inputs=stems_in)
    if report is not None:
        from tunesmith.mix.report import write_mix_report_html

        write_mix_report_html(result, report)
        write_recipe(report, "mix-report", parameters, inputs=[*stems_in, output])
    doc = result.to_dict()
    if mastered is not None:
        doc["master"] = mastered.to_dict()
    if json_out:
        print(json.dumps(doc, indent=2))
        return
    table = Table(title=f"{len(result.stems)} stems → {output}", title_justify="left")
    for col in ("stem", "role", "conf", "in LUFS", "mix LUFS", "fader dB", "pan", "HPF Hz", "EQ cuts", "comp"):
        table.add_column(col)
    for st in result.stems:
        lead = " *" if st["file"] == result.lead else ""
        table.add_row(
            Path(st["file"]).name + lead,
            st["role_name"],
            f"{st['role_confidence']:.2f}",
            _fmt(st["input_lufs"]),
            _fmt(st["mix_lufs"]),
            f"{st['gain_db']:+.1f}",
            f"{st['pan']:+.2f}",
            _fmt(st["hpf_hz"], "", 0),
            str(len(st["eq"])),
            "yes" if st["compressor"] else "—",
        )
    stdout.print(table)
    level = mastered.output_loudness if mastered is not None else None
    if level is not None:
        stdout.print(
            f"mastered: {level['integrated_lufs']} LUFS, true peak {level['true_peak_dbtp']} dBTP · "
            f"{result.seconds} s to mix"
        )
    else:
        stdout.print(
            f"mix: {result.output_loudness_lufs} LUFS, true peak {result.output_true_peak_dbtp} dBTP · "
            f"lead: {Path(result.lead).name if result.lead else '—'} (*) · {result.seconds} s"
        )
    for w in result.warnings:
        stdout.print(f"  [yellow]warning:[/] {w}", highlight=False)
    for n in result.notes:
        stdout.print(f"  note: {n}", highlight=False)
    for label, path in (("settings", settings_out), ("report", report)):
        if path is not None:
            stdout.print(f"  {label} written to {path}")


@app.command("render")
def render_cmd(
    song: Annotated[Path, typer.Argument(metavar="SONG", help="A song: .mid, .musicxml, .mxl or .abc.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the stems.")],
    soundfont: Annotated[
        Path | None, typer.Option(help="SoundFont (.sf2/.sf3); default: $TUNESMITH_SOUNDFONT or an installed GM one.")
    ] = None,
    sample_rate: Annotated[int, typer.Option("--sample-rate", help="Hz.")] = 44_100,
    mix: Annotated[Path | None, typer.Option("--mix", help="Also write the plain sum of the stems.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Render each track of a song to a dry audio stem (<nn>-<track>.wav) through FluidSynth."""
    from tunesmith.provenance import write_recipe
    from tunesmith.render import render
    from tunesmith.score import read_score

    score = read_score(song)
    report = render(score, output, soundfont, sample_rate, mix)
    params = {"soundfont": report.soundfont, "sample_rate_hz": sample_rate}
    for name in report.stems:
        write_recipe(output / name, "render", params, inputs=[song])
    if mix is not None:
        write_recipe(mix, "render-mix", params, inputs=[song])
    if json_out:
        print(json.dumps(report.to_dict(), indent=2))
        return
    table = Table(title=f"{song} → {output}", title_justify="left")
    for col in ("stem", "track", "program", "notes", "peak dBFS"):
        table.add_column(col)
    for t in report.tracks:
        program = "drums" if t["is_drum"] else str(t["program"])
        table.add_row(str(t["stem"]), str(t["track"]), program, str(t["notes"]), _fmt(t["peak_dbfs"]))
    stdout.print(table)
    stdout.print(
        f"{len(report.stems)} stems, {report.duration_s:.2f} s at {sample_rate} Hz, SoundFont {report.soundfont}"
    )
    if mix is not None:
        stdout.print(f"  mix written to {mix}")


def _seed(seed: int | None) -> int:
    """The seed to use: the given one, or a fresh random one (printed and recorded, so it can be replayed)."""
    if seed is not None:
        if not 0 <= seed < 2**32:
            raise UsageError(f"--seed must be 0..{2**32 - 1}, got {seed}")
        return seed
    return int.from_bytes(os.urandom(4), "little")


# The composition options `compose` and `produce` share.
_Style = Annotated[str, typer.Option("--style", help="Style name (tunesmith styles list) or a style .toml file.")]
_Key = Annotated[str | None, typer.Option("--key", help="C, Am, F#m, Bb … (default: one of the style's).")]
_Tempo = Annotated[float | None, typer.Option("--tempo", help="BPM, 30-300 (default: the style's).")]
_Bars = Annotated[int | None, typer.Option("--bars", help="Length in bars (a form is laid out to fit).")]
_Structure = Annotated[
    str | None, typer.Option("--structure", help='Form, e.g. "intro:4 verse:8 chorus:8 outro:4" (max 1000 bars).')
]
_Chords = Annotated[str | None, typer.Option("--chords", help='Chords to use, e.g. "C G Am F" (G:2 = 2 beats).')]
_Seed = Annotated[int | None, typer.Option("--seed", help="Random seed (default: a new one, printed).")]
_Melody = Annotated[
    str,
    typer.Option(
        "--melody", help="Who writes the tune: model (learned, default) or rules (motif writer); both guarded."
    ),
]
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


@app.command("compose")
def compose_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for song.mid, leadsheet.musicxml, recipes.")],
    style: _Style = "pop",
    key: _Key = None,
    tempo: _Tempo = None,
    bars: _Bars = None,
    structure: _Structure = None,
    chords: _Chords = None,
    seed: _Seed = None,
    loop: Annotated[bool, typer.Option("--loop", help="A seamless loop of --bars (or the style's loop) bars.")] = False,
    melody: _Melody = "model",
    json_out: _Json = False,
) -> None:
    """Compose an original song in a style: song.mid, a MusicXML lead sheet and a recipe."""
    from tunesmith.compose import ComposeOptions, compose, write_song

    options = ComposeOptions(style, key, tempo, bars, structure, chords, _seed(seed), loop, melody)
    comp = compose(options)
    paths = write_song(comp, output)
    doc = comp.to_dict() | {"files": {k: str(v) for k, v in paths.items()}}
    if json_out:
        print(json.dumps(doc, indent=2))
        return
    _print_composition(doc)
    stdout.print(f"  MIDI: {paths['midi']}\n  lead sheet: {paths['leadsheet']}\n  recipe: {paths['recipe']}")


@app.command("harmonize")
def harmonize_cmd(
    melody: Annotated[Path, typer.Argument(help="The tune: .mid, .musicxml, .mxl or .abc.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="OUT.mid (OUT.musicxml is written beside it).")],
    style: _Style = "pop",
    chords_only: Annotated[
        bool, typer.Option("--chords-only", help="Only chord symbols and one block-chord part, no band.")
    ] = False,
    key: Annotated[str | None, typer.Option("--key", help="Key of the tune (default: found from its notes).")] = None,
    seed: _Seed = None,
    json_out: _Json = False,
) -> None:
    """Harmonize a melody with the learned chord model and arrange it in a style (chorale: four voices)."""
    from tunesmith.compose.harmonize import harmonize, write_harmonization

    result = harmonize(melody, style, chords_only, key, _seed(seed))
    paths = write_harmonization(result, output, melody)
    doc = result.to_dict() | {"files": {"midi": str(paths["midi"]), "musicxml": str(paths["musicxml"])}}
    if json_out:
        print(json.dumps(doc, indent=2))
        return
    chords = " ".join(c["chord"] for c in doc["chords"][:16]) + (" …" if len(doc["chords"]) > 16 else "")
    stdout.print(f"[bold]{result.key.name()}[/], style {result.style}, melody from track {result.melody_track!r}")
    stdout.print(f"  chords: {chords}", highlight=False)
    stdout.print(f"  MIDI: {paths['midi']}\n  MusicXML: {paths['musicxml']}")


@app.command("produce")
def produce_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the song, stems, mix, master, report.")],
    style: _Style = "pop",
    key: _Key = None,
    tempo: _Tempo = None,
    bars: _Bars = None,
    structure: _Structure = None,
    chords: _Chords = None,
    seed: _Seed = None,
    loop: Annotated[bool, typer.Option("--loop", help="A seamless loop; WAVs carry loop points.")] = False,
    target: Annotated[
        str, typer.Option(help="Mastering target: streaming, apple, youtube, cd, club, broadcast or LUFS.")
    ] = "streaming",
    sample_rate: Annotated[int, typer.Option("--sample-rate", help="Hz.")] = 44_100,
    soundfont: Annotated[Path | None, typer.Option(help="SoundFont (.sf2/.sf3) to render with.")] = None,
    melody: _Melody = "model",
    json_out: _Json = False,
) -> None:
    """Compose, render, mix and master a song in one go (song.mid, stems, mix, master WAV + MP3, report)."""
    from tunesmith.compose import ComposeOptions
    from tunesmith.master.targets import parse_target
    from tunesmith.pipeline import ProduceOptions, produce

    parse_target(target)  # a bad target is a usage error before any work
    options = ProduceOptions(
        ComposeOptions(style, key, tempo, bars, structure, chords, _seed(seed), loop, melody),
        target=target,
        sample_rate=sample_rate,
        soundfont=None if soundfont is None else str(soundfont),
    )
    bar = _progress_bar("produce", enabled=not json_out)
    if bar is not None:
        with bar:
            task = bar.add_task("compose", total=1.0)
            report = produce(options, output, lambda st, done: bar.update(task, completed=done, description=st))
    else:
        report = produce(options, output)
    doc = report.to_dict()
    if json_out:
        print(json.dumps(doc, indent=2))
        return
    _print_composition(doc["song"])
    m = doc["master"]
    stdout.print(
        f"master: {m['integrated_lufs']} LUFS, true peak {m['true_peak_dbtp']} dBTP · "
        f"made in {doc['timings_s']['total']:.1f} s"
    )
    out = Path(doc["out_dir"])
    stdout.print(f"  listen: {out / 'master.mp3'} (WAV: {out / 'master.wav'})")
    stdout.print(f"  report: {out / 'report.html'} · stems: {out / 'stems'} · MIDI: {out / 'song.mid'}")


def _print_composition(doc: dict[str, Any]) -> None:
    kind = "loop" if doc["loop"] else "song"
    stdout.print(
        f"[bold]{doc['style']}[/] {kind} in {doc['key']}, {doc['tempo_bpm']:g} BPM, {doc['metre']}, "
        f"{doc['bars']} bars ({doc['duration_s']:.1f} s), seed {doc['seed']}"
    )
    table = Table(show_header=True, title_justify="left")
    table.add_column("section")
    table.add_column("bars", justify="right")
    table.add_column("harmony")
    seen = set()
    for s in doc["sections"]:
        prog = doc["progressions"].get(s["name"], [])
        text = " ".join(prog) if s["name"] not in seen else "(as before, varied)"
        seen.add(s["name"])
        table.add_row(s["name"], str(s["bars"]), text)
    stdout.print(table)
    stdout.print("  tracks: " + ", ".join(f"{t['name']} ({t['notes']} notes)" for t in doc["tracks"]))
    orig = doc.get("originality") or {}
    if orig:
        stdout.print(
            f"  melody: {orig['writer']}; longest run shared with a training tune {orig['max_overlap']} notes"
            f" ({orig['phrases_redrawn']} of {orig['phrases']} phrases redrawn; a copy is {orig['copy_threshold']}+)"
        )


styles_app = typer.Typer(help="List and inspect composition styles.", no_args_is_help=True)
app.add_typer(styles_app, name="styles")


@styles_app.command("list")
def styles_list(json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False) -> None:
    """List the built-in and user styles."""
    from tunesmith.compose.style import BUILTIN_DIR, get_style, list_styles

    rows = []
    for name in list_styles():
        s = get_style(name)
        rows.append(
            {
                "name": name,
                "description": s.description,
                "tempo_bpm": [s.tempo_min, s.tempo_max],
                "metre": f"{s.numerator}/{s.denominator}",
                "builtin": s.path.parent == BUILTIN_DIR,
                "path": str(s.path),
            }
        )
    if json_out:
        print(json.dumps({"styles": rows}, indent=2))
        return
    table = Table(title="styles", title_justify="left")
    for col in ("name", "tempo", "metre", "description"):
        table.add_column(col)
    for r in rows:
        name = r["name"] + ("" if r["builtin"] else " (user)")
        table.add_row(name, f"{r['tempo_bpm'][0]:g}-{r['tempo_bpm'][1]:g}", r["metre"], r["description"])
    stdout.print(table)


@styles_app.command("show")
def styles_show(
    name: Annotated[str, typer.Argument(help="Style name or .toml file (checked and summarised).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Check a style file and show what it defines."""
    from tunesmith.compose.style import get_style

    s = get_style(name)
    doc = {
        "name": s.name,
        "path": str(s.path),
        "description": s.description,
        "tempo_bpm": {"min": s.tempo_min, "max": s.tempo_max, "default": s.tempo_default},
        "metre": f"{s.numerator}/{s.denominator}",
        "swing": s.swing,
        "keys": list(s.keys),
        "harmony": s.harmony_source,
        "structure": s.structure,
        "loop": s.loop_structure,
        "parts": [{"name": p.name, "role": p.role, "program": p.program, "range": list(p.range)} for p in s.parts],
        "sections": sorted(s.sections),
        "grooves": sorted(s.grooves),
        "fills": sorted(s.fills),
        "comping": sorted(s.comping),
        "bass": sorted(s.bass),
    }
    if json_out:
        print(json.dumps(doc, indent=2))
        return
    for k, v in doc.items():
        stdout.print(f"[bold]{k}[/]: {v}", highlight=False)


register_accompany(app)  # accompany, midi-ports
register_recommend(app)  # history, library, recommend, playlist, similar
register_learn(app, styles_app)  # learn, styles remove
register_batch(app)  # batch analyze|master|mix|produce|hum
register_provenance(app)  # verify, reproduce, credits, config
register_hum(app)  # hum
register_serve(app)  # serve (the web studio)


def main() -> None:
    """Console-script entry point: run the app and turn errors into one line."""
    # tunesmith runs its own thread pools of short numeric jobs; OpenBLAS's extra threads only
    # contend with them (a dot product on a busy 2-core machine took 30x longer). Set before
    # numpy is first imported (the commands import it lazily), unless the user chose otherwise.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        app()
    except TunesmithError as exc:
        stderr.print(f"tunesmith: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        stderr.print("tunesmith: interrupted", markup=False)
        sys.exit(130)
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        stderr.print(f"tunesmith: error: {where}{exc.strerror or exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except Exception as exc:  # a bug: say so in one line, keep the traceback for debugging on request
        if os.environ.get("TUNESMITH_DEBUG"):
            raise
        stderr.print(
            f"tunesmith: internal error: {exc.__class__.__name__}: {exc} (set TUNESMITH_DEBUG=1 for a traceback)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
