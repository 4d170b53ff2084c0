"""The per-item functions of ``tunesmith batch``, one per command, and the one wrapper both engines call.

Every engine (the local process pool, Ray) runs :func:`run_task` on a :class:`Task` and gets an
:class:`~tunesmith.pipeline.manifest.ItemResult` back; the task carries everything the item
needs (absolute paths, the item's own options and seed), so its outputs depend on the item
alone, never on which worker ran it or in what order. A job is four small functions in
:data:`JOBS`: what an item writes, the recipe parameters that make it complete, a check of the
batch's options before any work, and the work itself — adding a command to ``batch`` is
adding one :class:`Job`.

Resuming: an item is complete when every output it writes exists, has its
``<output>.recipe.json``, the recipe's SHA-256 matches the file, and the recipe's parameters
and seed are the ones this run would use; :func:`run_task` then skips it (status ``skipped``).
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError, UsageError
from tunesmith.pipeline.manifest import ItemResult

#: File suffix of each output encoding.
SUFFIX = {
    "wav16": ".wav",
    "wav24": ".wav",
    "wav32f": ".wav",
    "flac": ".flac",
    "flac16": ".flac",
    "mp3": ".mp3",
    "ogg": ".ogg",
    "aiff": ".aiff",
}


@dataclass(frozen=True)
class Task:
    """One item as a worker receives it (picklable; no open files, no engine state).

    Attributes
    ----------
    job : str
        Key of :data:`JOBS`.
    item_id : str
        The item's id; outputs are named after it.
    inputs : tuple of str
        Absolute input paths (a file, or a folder of stems).
    out_dir : str
        Absolute output folder of the batch.
    params : dict
        The item's options: the batch's, overridden by its manifest row, seed derived.
    argv : tuple of str
        The batch's command line, recorded in every recipe.
    resume : bool
        Skip the item when its outputs are already complete.
    """

    job: str
    item_id: str
    inputs: tuple[str, ...]
    out_dir: str
    params: Mapping[str, Any]
    argv: tuple[str, ...] = ()
    resume: bool = True


@dataclass
class Figures:
    """What an item's main output measures: LUFS, dBTP, seconds, and the report's warnings."""

    integrated_lufs: float | None = None
    true_peak_dbtp: float | None = None
    duration_s: float | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    """How ``batch`` runs one command.

    Attributes
    ----------
    name : str
        The command (``analyze``, ``master``, …).
    item : str
        What an item is: ``"file"``, ``"folder"`` (of stems) or ``"row"`` (of options).
    options : mapping
        Options a manifest row may override, each with the function reading its CSV text.
    outputs : callable
        ``outputs(task) -> [Path]``: every file the item writes, each with a recipe.
    recipe : callable
        ``recipe(task) -> (parameters, seed)``: what the recipes record; a later run skips
        the item only when these match.
    validate : callable
        ``validate(params)``: raise :class:`UsageError` for batch options that cannot work.
    run : callable
        ``run(task) -> Figures``: does the work, writes outputs atomically, each with its recipe.
    """

    name: str
    item: str
    options: Mapping[str, Callable[[str], Any]]
    outputs: Callable[[Task], list[Path]]
    recipe: Callable[[Task], tuple[dict[str, Any], int | None]]
    validate: Callable[[Mapping[str, Any]], None]
    run: Callable[[Task], Figures]


def item_seed(base: int, item_id: str) -> int:
    """A 32-bit seed for one item, from the batch's seed and the item's id (never its position)."""
    return int.from_bytes(hashlib.sha256(f"{base}/{item_id}".encode()).digest()[:4], "little")


def read_bool(text: str) -> bool:
    """CSV truth values: 1/0, true/false, yes/no, on/off."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on", "y"):
        return True
    if value in ("0", "false", "no", "off", "n"):
        return False
    raise ValueError(text)


def _out(task: Task, suffix: str) -> Path:
    return Path(task.out_dir) / f"{task.item_id}{suffix}"


def _figures(loudness: Mapping[str, Any], duration_s: float | None, warnings: list[str]) -> Figures:
    return Figures(loudness.get("integrated_lufs"), loudness.get("true_peak_dbtp"), duration_s, list(warnings))


def _no_check(params: Mapping[str, Any]) -> None:
    return None


# ---------------------------------------------------------------------------- analyze


def _analyze_outputs(task: Task) -> list[Path]:
    return [_out(task, ".json")] + ([_out(task, ".png")] if task.params.get("plot") else [])


def _analyze_recipe(task: Task) -> tuple[dict[str, Any], int | None]:
    return {"musical": bool(task.params.get("musical", True)), "plot": bool(task.params.get("plot"))}, None


def _analyze(task: Task) -> Figures:
    import json

    from tunesmith.atomic import check_not_input, write_text_atomic
    from tunesmith.audio.analysis import analyze_file
    from tunesmith.provenance import write_recipe

    outputs = _analyze_outputs(task)
    for out in outputs:
        check_not_input(out, list(task.inputs))
    parameters, _ = _analyze_recipe(task)
    result = analyze_file(task.inputs[0], musical=parameters["musical"])
    doc = result.to_dict()
    write_text_atomic(outputs[0], json.dumps(doc, indent=2) + "\n")
    if parameters["plot"]:
        from tunesmith.audio.plot import plot_analysis

        plot_analysis(result, outputs[1])
    for out in outputs:
        write_recipe(out, "batch-analyze", parameters, inputs=list(task.inputs), argv=task.argv)
    return _figures(doc, result.duration_s, result.notes)


# ---------------------------------------------------------------------------- master


def _master_outputs(task: Task) -> list[Path]:
    p = task.params
    outs = [_out(task, SUFFIX[p.get("format") or "wav24"])]
    if p.get("report"):
        outs.append(_out(task, ".report.html"))
    if p.get("preview"):
        outs.append(_out(task, ".preview.wav"))
    return outs


def _references(p: Mapping[str, Any]) -> list[str]:
    refs = p.get("references") or []
    return [refs] if isinstance(refs, str) else [str(r) for r in refs]


def _master_recipe(task: Task) -> tuple[dict[str, Any], int | None]:
    p = task.params
    parameters = {
        "target": p.get("target"),
        "ceiling_dbtp": p.get("ceiling"),
        "style": p.get("style", "auto"),
        "intensity": p.get("intensity", 0.5),
        "width": p.get("width", 1.0),
        "format": p.get("format") or "wav24",
        "sample_rate_hz": p.get("sample_rate"),
        "references": _references(p),
        "report": bool(p.get("report")),
        "preview": bool(p.get("preview")),
    }
    return parameters, int(p.get("seed", 0))


def _master_settings(p: Mapping[str, Any], seed: int) -> Any:
    from tunesmith.master import MasterSettings

    return MasterSettings(
        target=p.get("target"),
        ceiling_dbtp=p.get("ceiling"),
        references=_references(p),
        style=p.get("style", "auto"),
        intensity=p.get("intensity", 0.5),
        width=p.get("width", 1.0),
        encoding=p.get("format") or "wav24",
        sample_rate=p.get("sample_rate"),
        seed=seed,
    )


def _master_validate(p: Mapping[str, Any]) -> None:
    from tunesmith.master.targets import parse_target

    if (p.get("format") or "wav24") not in SUFFIX:
        raise UsageError(f"unknown --format {p.get('format')!r}; choose one of {', '.join(SUFFIX)}")
    _master_settings(p, 0).validate()
    parse_target(p.get("target"), p.get("ceiling"))
    for ref in _references(p):
        if not Path(ref).is_file():
            raise UsageError("reference not found", ref)


def _master(task: Task) -> Figures:
    from tunesmith.master import master
    from tunesmith.provenance import write_recipe

    outputs = _master_outputs(task)
    parameters, seed = _master_recipe(task)
    settings = _master_settings(task.params, seed or 0)
    source = task.inputs[0]
    inputs = [source, *settings.references]
    report, extra = master(source, outputs[0], settings, output_spectrum=bool(task.params.get("report")))
    write_recipe(outputs[0], "batch-master", parameters, inputs=inputs, seed=seed, argv=task.argv)
    for out in outputs[1:]:
        if out.name.endswith(".preview.wav"):
            from tunesmith.master.preview import write_preview

            write_preview(source, outputs[0], out, extra["input_momentary_lufs"], extra["sample_rate"])
        else:
            from tunesmith.master.report import write_report_html

            write_report_html(report, out)
        write_recipe(out, "batch-master", parameters, inputs=[source, outputs[0]], seed=seed, argv=task.argv)
    return _figures(report.output_loudness, report.duration_s, report.warnings)


# ---------------------------------------------------------------------------- mix


def _roles(text: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"kick.wav=drums;vox.wav=vocal"`` (or a mapping) → ``{file: role}``."""
    if not text:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    roles = {}
    for part in text.replace(",", ";").split(";"):
        if not part.strip():
            continue
        name, sep, role = part.strip().rpartition("=")
        if not sep or not name:
            raise ValueError(part)
        roles[name] = role
    return roles


def _mix_outputs(task: Task) -> list[Path]:
    return [_out(task, SUFFIX[task.params.get("format") or "wav24"])]


def _mix_recipe(task: Task) -> tuple[dict[str, Any], int | None]:
    p = task.params
    parameters = {
        "genre": p.get("genre", "pop"),
        "reverb": bool(p.get("reverb", True)),
        "roles": _roles(p.get("roles")),
        "master": bool(p.get("master")),
        "target": p.get("target"),
        "reference": p.get("reference"),
        "format": p.get("format") or "wav24",
        "sample_rate_hz": p.get("sample_rate"),
    }
    return parameters, (int(p.get("seed", 0)) if p.get("master") else None)


def _mix_validate(p: Mapping[str, Any]) -> None:
    from tunesmith.master.targets import parse_target
    from tunesmith.mix.engineer import GENRES

    if (p.get("format") or "wav24") not in SUFFIX:
        raise UsageError(f"unknown --format {p.get('format')!r}; choose one of {', '.join(SUFFIX)}")
    if p.get("genre", "pop") not in GENRES:
        raise UsageError(f"unknown --genre {p.get('genre')!r}; choose one of {', '.join(GENRES)}")
    if p.get("master"):
        parse_target(p.get("target"))
    if p.get("reference") and not Path(p["reference"]).is_file():
        raise UsageError("reference not found", p["reference"])


def _mix(task: Task) -> Figures:
    from tunesmith.mix import MixOptions, automix, find_stems
    from tunesmith.provenance import write_recipe

    p = task.params
    output = _mix_outputs(task)[0]
    parameters, seed = _mix_recipe(task)
    stems = find_stems([task.inputs[0]])
    fmt = parameters["format"]
    # The batch runs one item per core: the mixer's own per-stem threads would only contend.
    options = MixOptions(
        roles=parameters["roles"],
        genre=parameters["genre"],
        reverb=parameters["reverb"],
        sample_rate=p.get("sample_rate"),
        encoding=fmt,
        workers=1,
    )
    if not parameters["master"]:
        report, settings = automix(list(stems), output, options)
        figures = Figures(report.output_loudness_lufs, report.output_true_peak_dbtp, report.duration_s, report.warnings)
    else:
        from tunesmith.master import MasterSettings, master

        output.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{output.name}.mix-", dir=output.parent))
        try:
            options.encoding = "wav32f"  # lossless headroom for the mastering stage
            report, settings = automix(list(stems), work / "mix.wav", options)
            refs = [p["reference"]] if p.get("reference") else []
            mastered, _ = master(
                work / "mix.wav",
                output,
                MasterSettings(target=p.get("target"), references=refs, encoding=fmt, seed=seed or 0),
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        figures = _figures(mastered.output_loudness, mastered.duration_s, [*report.warnings, *mastered.warnings])
    inputs = [Path(s.file) for s in settings.stems] + ([Path(p["reference"])] if p.get("reference") else [])
    write_recipe(output, "batch-mix", parameters, inputs=inputs, seed=seed, argv=task.argv)
    return figures


# ---------------------------------------------------------------------------- produce

_PRODUCED = ("mix.wav", "master.wav", "master.mp3")


def _produce_outputs(task: Task) -> list[Path]:
    folder = Path(task.out_dir) / task.item_id
    return [folder / name for name in _PRODUCED]


def _produce_recipe(task: Task) -> tuple[dict[str, Any], int | None]:
    # These are the names produce() records; key and tempo only when asked for (else it records
    # the ones it chose, which any run with the same seed chooses again).
    p = task.params
    parameters: dict[str, Any] = {
        "style": p.get("style", "pop"),
        "bars": p.get("bars"),
        "structure": p.get("structure"),
        "chords": p.get("chords"),
        "loop": bool(p.get("loop")),
        "melody": p.get("melody", "model"),
        "target": p.get("target", "streaming"),
        "sample_rate_hz": p.get("sample_rate", 44_100),
        "soundfont": p.get("soundfont"),
    }
    if p.get("key") is not None:
        parameters["key"] = _key_name(p["key"])
    if p.get("tempo") is not None:
        parameters["tempo"] = float(p["tempo"])
    return parameters, int(p.get("seed", 0))


def _key_name(text: str) -> str:
    """The key as produce records it (``am`` → ``Am``); unparseable text is left for compose to reject."""
    from tunesmith.score.theory import Key

    try:
        return Key.parse(text).short()
    except Exception:
        return text


def _produce_validate(p: Mapping[str, Any]) -> None:
    from tunesmith.compose.style import get_style
    from tunesmith.master.targets import parse_target

    get_style(p.get("style", "pop"))
    parse_target(p.get("target", "streaming"))


def _produce(task: Task) -> Figures:
    from tunesmith.compose import ComposeOptions
    from tunesmith.master.targets import parse_target
    from tunesmith.pipeline.produce import ProduceOptions, produce

    p = task.params
    parse_target(p.get("target", "streaming"))
    _, seed = _produce_recipe(task)
    compose = ComposeOptions(
        style=p.get("style", "pop"),
        key=p.get("key"),
        tempo=None if p.get("tempo") is None else float(p["tempo"]),
        bars=p.get("bars"),
        structure=p.get("structure"),
        chords=p.get("chords"),
        seed=seed or 0,
        loop=bool(p.get("loop")),
        melody=p.get("melody", "model"),
    )
    options = ProduceOptions(
        compose,
        target=p.get("target", "streaming"),
        sample_rate=int(p.get("sample_rate", 44_100)),
        soundfont=p.get("soundfont"),
    )
    report = produce(options, Path(task.out_dir) / task.item_id, argv=list(task.argv))
    return _figures(report.master, report.song.get("duration_s"), [])


# ---------------------------------------------------------------------------- hum

_HUMMED = ("mix.wav", "master.wav")


def _hum_outputs(task: Task) -> list[Path]:
    folder = Path(task.out_dir) / task.item_id
    return [folder / name for name in _HUMMED]


def _hum_options(p: Mapping[str, Any], seed: int) -> Any:
    from tunesmith.voice.song import HumOptions

    return HumOptions(
        style=p.get("style", "pop"),
        tempo_bpm=None if p.get("tempo") is None else float(p["tempo"]),
        key=p.get("key"),
        keep_voice=bool(p.get("keep_voice")),
        instrument=p.get("instrument"),
        expressive=bool(p.get("expressive")),
        seed=seed,
        target=p.get("target", "streaming"),
        tracker=p.get("tracker", "auto"),
        sample_rate=int(p.get("sample_rate", 44_100)),
        soundfont=p.get("soundfont"),
    )


def _hum_recipe(task: Task) -> tuple[dict[str, Any], int | None]:
    # The names hum() records for its audio; tempo and key only when asked for (else the ones it heard).
    p = task.params
    parameters: dict[str, Any] = {
        "style": p.get("style", "pop"),
        "keep_voice": bool(p.get("keep_voice")),
        "instrument": p.get("instrument"),
        "expressive": bool(p.get("expressive")),
        "target": p.get("target", "streaming"),
        "tracker": p.get("tracker", "auto"),
        "sample_rate": int(p.get("sample_rate", 44_100)),
        "soundfont": p.get("soundfont"),
    }
    if p.get("key") is not None:
        parameters["key"] = _key_name(p["key"])
    if p.get("tempo") is not None:
        parameters["tempo_bpm"] = float(p["tempo"])
    return parameters, int(p.get("seed", 0))


def _hum_validate(p: Mapping[str, Any]) -> None:
    from tunesmith.voice.song import check_options

    check_options(_hum_options(p, 0))


def _hum(task: Task) -> Figures:
    from tunesmith.voice.song import hum

    _, seed = _hum_recipe(task)
    report = hum(
        task.inputs[0], Path(task.out_dir) / task.item_id, _hum_options(task.params, seed or 0), argv=list(task.argv)
    )
    return _figures(report.master, report.transcription.get("duration_s"), report.warnings)


# ---------------------------------------------------------------------------- registry

_MASTER_OPTIONS: dict[str, Callable[[str], Any]] = {
    "target": str,
    "ceiling": float,
    "reference": lambda s: [s],
    "style": str,
    "intensity": float,
    "width": float,
    "format": str,
    "sample_rate": int,
    "seed": int,
    "report": read_bool,
    "preview": read_bool,
}

JOBS: dict[str, Job] = {
    "analyze": Job(
        "analyze",
        "file",
        {"musical": read_bool, "plot": read_bool},
        _analyze_outputs,
        _analyze_recipe,
        _no_check,
        _analyze,
    ),
    "master": Job("master", "file", _MASTER_OPTIONS, _master_outputs, _master_recipe, _master_validate, _master),
    "mix": Job(
        "mix",
        "folder",
        {
            "roles": _roles,
            "genre": str,
            "reverb": read_bool,
            "master": read_bool,
            "target": str,
            "reference": str,
            "format": str,
            "sample_rate": int,
            "seed": int,
        },
        _mix_outputs,
        _mix_recipe,
        _mix_validate,
        _mix,
    ),
    "produce": Job(
        "produce",
        "row",
        {
            "style": str,
            "key": str,
            "tempo": float,
            "bars": int,
            "structure": str,
            "chords": str,
            "seed": int,
            "loop": read_bool,
            "melody": str,
            "target": str,
            "sample_rate": int,
            "soundfont": str,
        },
        _produce_outputs,
        _produce_recipe,
        _produce_validate,
        _produce,
    ),
    "hum": Job(
        "hum",
        "file",
        {
            "style": str,
            "tempo": float,
            "key": str,
            "keep_voice": read_bool,
            "instrument": int,
            "expressive": read_bool,
            "seed": int,
            "target": str,
            "tracker": str,
            "sample_rate": int,
            "soundfont": str,
        },
        _hum_outputs,
        _hum_recipe,
        _hum_validate,
        _hum,
    ),
}

# "reference" in a master manifest row is one path; the batch option holds a list under "references".
OPTION_ALIASES = {"master": {"reference": "references"}}


# ---------------------------------------------------------------------------- the wrapper


def _same(recorded: Any, wanted: Any) -> bool:
    """Recipe value equality after the JSON round trip (tuples are lists, ints may be floats)."""
    if isinstance(wanted, (list, tuple)):
        return isinstance(recorded, list) and len(recorded) == len(wanted) and all(map(_same, recorded, wanted))
    if isinstance(wanted, Mapping):
        return (
            isinstance(recorded, Mapping)
            and recorded.keys() == wanted.keys()
            and all(_same(recorded[k], v) for k, v in wanted.items())
        )
    if isinstance(wanted, float) and isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
        return float(recorded) == wanted
    return recorded == wanted


def is_complete(outputs: list[Path], parameters: Mapping[str, Any], seed: int | None) -> bool:
    """Whether every output exists with a recipe that matches its bytes, ``parameters`` and ``seed``.

    Parameters absent from a recipe count as a mismatch: the item is made again, which is
    never wrong, only slower.
    """
    from tunesmith.errors import InputFileError
    from tunesmith.provenance.recipe import read_recipe, sha256_file

    for out in outputs:
        if not out.is_file():
            return False
        try:
            recipe = read_recipe(out)
        except InputFileError:
            return False
        recorded = recipe.get("output", {})
        if recorded.get("bytes") != out.stat().st_size or recorded.get("sha256") != sha256_file(out):
            return False
        params = recipe.get("parameters", {})
        if any(k not in params or not _same(params[k], v) for k, v in parameters.items()):
            return False
        if seed is not None and recipe.get("seed") != seed:
            return False
    return True


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text if isinstance(exc, TunesmithError) else f"internal error: {exc.__class__.__name__}: {text}"


def run_task(task: Task) -> ItemResult:
    """Run one item (or find it complete) and report what happened. Never raises for the item's own faults.

    A :class:`TunesmithError` (a bad file, a bad option in its manifest row) or any other
    exception fails this item only; its message becomes the manifest's one-line ``error``.
    """
    job = JOBS[task.job]
    t0, c0 = time.perf_counter(), time.process_time()
    result = ItemResult(task.item_id, "ok", list(task.inputs), worker=f"{socket.gethostname()}:{os.getpid()}")
    try:
        outputs = job.outputs(task)
        result.outputs = [str(p) for p in outputs]
        parameters, seed = job.recipe(task)
        if task.resume and is_complete(outputs, parameters, seed):
            result.status = "skipped"
        else:
            figures = job.run(task)
            result.integrated_lufs = figures.integrated_lufs
            result.true_peak_dbtp = figures.true_peak_dbtp
            result.duration_s = figures.duration_s
            result.warnings = figures.warnings
    except Exception as exc:  # the item fails, the batch goes on
        result.status = "failed"
        result.error = _one_line(exc)
        result.outputs = []  # atomic writes: nothing of this attempt was left behind
    result.seconds = round(time.perf_counter() - t0, 3)
    result.cpu_s = round(time.process_time() - c0, 3)
    result.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # KiB on Linux
    return result
