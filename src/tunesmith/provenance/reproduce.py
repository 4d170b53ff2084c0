"""``tunesmith reproduce RECIPE.json -o DIR``: run a recorded command again and compare what it makes.

The recipe's command line (``argv``) is re-run as a new ``tunesmith`` process, in the folder it
first ran in, with every output option (``-o``, ``--report``, ``--preview``, ``--settings``,
``--plot``, ``--mix``, ``--record``) pointed into ``DIR`` and the recorded seed added when the
command line left it to chance. Inputs are found where the recipe says (or beside the recipe)
and must still have the recorded SHA-256; files the command itself made (``song.mid`` inside a
``produce`` folder) are compared as outputs, not demanded as inputs.

What is compared: each new file's **content SHA-256** (:mod:`tunesmith.provenance.content`:
the audio/MIDI/score bytes with the label left out) against the one recorded for the original.
C2PA manifests carry random ids and an ECDSA signature, so two labelled copies of identical
audio never have identical bytes; everything else — every sample, every MIDI event, every
chunk of the format — must be equal for "identical". When a file differs, the audio is decoded
and the size and place of the first difference are reported. HTML reports and PNG plots are
compared and listed too, but do not decide the verdict (a report may show how long a run took).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunesmith import __version__
from tunesmith.errors import InputFileError, TunesmithError, UsageError
from tunesmith.provenance.content import file_hashes
from tunesmith.provenance.recipe import RECIPE_SUFFIX, read_recipe, recipe_path, sha256_file

OUTPUT_OPTIONS = {"-o", "--output", "--report", "--preview", "--settings", "--plot", "--mix", "--record"}
FOLDER_COMMANDS = {"compose", "produce", "render"}  # their -o is a folder
SEEDED_COMMANDS = {"compose", "produce", "harmonize", "master", "accompany"}
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".aif", ".aiff"}
# Reports and plots describe a run (some show how long it took): compared, but not part of the verdict.
DOCUMENT_SUFFIXES = {".html", ".htm", ".png"}


@dataclass
class ReproducedFile:
    """One output of the re-run, compared with the original."""

    file: str
    original: str
    compared: str
    recorded: str | None
    reproduced: str
    identical: bool
    difference: str | None = None
    counts: bool = True  # False for reports and plots (they may show timings): listed, not judged


@dataclass
class ReproduceReport:
    """What :func:`reproduce` ran and found (``to_dict`` is what ``--json`` prints)."""

    recipe: str
    command: list[str]
    cwd: str
    out_dir: str
    identical: bool
    files: list[ReproducedFile]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


def _cli_command(recipe: dict[str, Any], source: Path) -> tuple[list[str], str]:
    """The recorded tunesmith arguments (after the program name) and the sub-command."""
    command = str(recipe.get("command", ""))
    if command == "accompany-live":
        raise UsageError("a live accompaniment session cannot be re-run (it followed a live performer)", source)
    sub = command.split("-")[0]
    argv = [str(a) for a in recipe.get("argv") or []]
    program = Path(argv[0]).name if argv else ""
    runs_tunesmith = "tunesmith" in program or (bool(argv) and argv[0].endswith(("tunesmith/cli.py", "__main__.py")))
    if not runs_tunesmith or len(argv) < 2 or argv[1] != sub:
        shown = " ".join(argv[:4]) + (" …" if len(argv) > 4 else "")
        raise InputFileError(
            f"the recorded command line ({shown or 'none'}) is not a `tunesmith {sub}` run; "
            "reproduce re-runs tunesmith command lines only",
            source,
        )
    return argv[1:], sub


def _rewrite_outputs(args: list[str], sub: str, out_dir: Path, cwd: Path) -> tuple[list[str], list[tuple[Path, Path]]]:
    """``args`` with output paths moved into ``out_dir``; and (new, original) path pairs."""
    new_args: list[str] = []
    pairs: list[tuple[Path, Path]] = []
    i = 0
    while i < len(args):
        token = args[i]
        name, eq, value = token.partition("=")
        if name in OUTPUT_OPTIONS and (eq or i + 1 < len(args)):
            if not eq:
                value = args[i + 1]
                i += 1
            original = (cwd / value).resolve() if not Path(value).is_absolute() else Path(value)
            folder = name in ("-o", "--output") and sub in FOLDER_COMMANDS
            target = out_dir if folder else out_dir / original.name
            pairs.append((target.resolve(), original))
            new_args.extend([f"{name}={target}"] if eq else [name, str(target)])
        else:
            new_args.append(token)
        i += 1
    return new_args, pairs


def _locate_inputs(
    recipe: dict[str, Any], cwd: Path, recipe_dir: Path, made_by_run: list[Path]
) -> tuple[dict[str, str], list[str]]:
    """Find each recorded input; return {recorded path: found path} for moved ones, and notes."""
    moved: dict[str, str] = {}
    notes: list[str] = []
    for item in recipe.get("inputs") or []:
        recorded = str(item.get("path"))
        p = Path(recorded)
        first = p if p.is_absolute() else cwd / p
        if any(_inside(first.resolve(), folder) for folder in made_by_run):
            notes.append(f"{p.name} is made by the command itself: compared as an output, not checked as an input")
            continue
        candidates = [first, recipe_dir / p.name]
        found = None
        for cand in candidates:
            if cand.is_file():
                digest = sha256_file(cand)
                if digest == item.get("sha256"):
                    found = cand
                    break
                raise InputFileError(
                    f"this input has changed since the recipe was written (sha256 was {str(item.get('sha256'))[:16]}…, "
                    f"now {digest[:16]}…); reproduce needs the very same inputs",
                    cand,
                )
        if found is None:
            looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
            raise InputFileError(f"input not found (looked in {looked}); put it back to reproduce", recorded)
        if found.resolve() != first.resolve():
            moved[recorded] = str(found.resolve())
    return moved, notes


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def reproduce(recipe_file: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> ReproduceReport:
    """Re-run the command a recipe records, writing into ``out_dir``, and compare the outputs.

    Parameters
    ----------
    recipe_file : str or os.PathLike
        A ``.recipe.json`` (or the file it describes).
    out_dir : str or os.PathLike
        Folder for the new outputs; it must not be where the originals are.

    Raises
    ------
    InputFileError
        If the recipe is unreadable, not a command line, or an input is missing or changed.
    UsageError
        If ``out_dir`` would overwrite the originals.
    TunesmithError
        If the re-run fails (its error is quoted).
    """
    t0 = time.perf_counter()
    source = Path(recipe_file)
    if not source.name.endswith(RECIPE_SUFFIX):
        source = recipe_path(source)
    recipe = read_recipe(source)
    args, sub = _cli_command(recipe, source)
    recipe_dir = source.resolve().parent
    recorded_cwd = Path(str(recipe.get("cwd") or ""))
    cwd = recorded_cwd if recipe.get("cwd") and recorded_cwd.is_dir() else recipe_dir
    out = Path(out_dir).resolve()
    new_args, pairs = _rewrite_outputs(args, sub, out, cwd)
    if not pairs:
        raise InputFileError("the recorded command line names no output (-o)", source)
    if any(new == original for new, original in pairs):
        raise UsageError("-o must be a new folder, not where the original outputs are", out_dir)
    made_by_run = [orig for new, orig in pairs if new == out and sub in FOLDER_COMMANDS]
    moved, notes = _locate_inputs(recipe, cwd, recipe_dir, made_by_run)
    new_args = [moved.get(a, a) for a in new_args]
    if (
        recipe.get("seed") is not None
        and sub in SEEDED_COMMANDS
        and not any(a == "--seed" or a.startswith("--seed=") for a in new_args)
    ):
        new_args += ["--seed", str(recipe["seed"])]
    if recipe.get("tunesmith_version") != __version__:
        notes.append(
            f"recorded with tunesmith {recipe.get('tunesmith_version')}, re-run with {__version__}: "
            "identical output is only promised for the same version"
        )
    env_then = recipe.get("environment") or {}
    import platform

    if env_then.get("python") and env_then.get("python") != platform.python_version():
        notes.append(f"recorded with Python {env_then.get('python')}, re-run with {platform.python_version()}")
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    cmd = [sys.executable, "-m", "tunesmith.cli", *new_args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise TunesmithError(f"the re-run of `tunesmith {' '.join(new_args)}` failed: {last}")
    files = _compare(recipe, source, pairs, out, started)
    return ReproduceReport(
        recipe=str(source),
        command=["tunesmith", *new_args],
        cwd=str(cwd),
        out_dir=str(out),
        identical=any(f.counts for f in files) and all(f.identical for f in files if f.counts),
        files=files,
        notes=notes,
        seconds=round(time.perf_counter() - t0, 3),
    )


def _compare(
    recipe: dict[str, Any], source: Path, pairs: list[tuple[Path, Path]], out: Path, started: float
) -> list[ReproducedFile]:
    """Compare every file the re-run wrote (those with a fresh recipe) with its original."""
    described = source.resolve().parent / str((recipe.get("output") or {}).get("path"))
    new_files = sorted(
        p.with_name(p.name[: -len(RECIPE_SUFFIX)])
        for p in out.rglob("*" + RECIPE_SUFFIX)
        if p.stat().st_mtime >= started - 1
    )
    results: list[ReproducedFile] = []
    for new in new_files:
        original = None
        for new_base, orig_base in pairs:
            if new == new_base:
                original = orig_base
            elif new_base == out and _inside(new, out):
                original = orig_base / new.relative_to(out)
            if original is not None:
                break
        if original is None:  # a file written beside a named output (harmonize: OUT.musicxml beside OUT.mid)
            siblings = [orig.parent / new.name for new_base, orig in pairs if new_base.parent == new.parent]
            original = siblings[0] if siblings else None
        if original is None or not new.is_file():
            continue
        if original.resolve() == described.resolve():
            recorded_doc: dict[str, Any] | None = recipe
        else:
            try:
                recorded_doc = read_recipe(original)
            except InputFileError:
                recorded_doc = None
        results.append(_compare_one(new, original, recorded_doc, out))
    if not any(Path(r.original).resolve() == described.resolve() for r in results):
        results.insert(
            0,
            ReproducedFile(
                file=described.name,
                original=str(described),
                compared="content_sha256",
                recorded=(recipe.get("output") or {}).get("content_sha256"),
                reproduced="",
                identical=False,
                difference="the re-run did not write this file again",
            ),
        )
    return results


def _compare_one(new: Path, original: Path, recorded_doc: dict[str, Any] | None, out: Path) -> ReproducedFile:
    mine = file_hashes(new)
    rec_out = (recorded_doc or {}).get("output") or {}
    if rec_out.get("content_sha256"):
        compared, recorded, reproduced = "content_sha256", rec_out["content_sha256"], mine.content_sha256
    elif rec_out.get("sha256"):  # a recipe from before labels: whole-file hash
        compared, recorded, reproduced = "sha256", rec_out["sha256"], mine.sha256
    elif original.is_file():
        compared, recorded, reproduced = "content_sha256", file_hashes(original).content_sha256, mine.content_sha256
    else:
        compared, recorded, reproduced = "content_sha256", None, mine.content_sha256
    identical = recorded is not None and recorded == reproduced
    difference = None
    if not identical:
        difference = "no recorded hash to compare with" if recorded is None else _explain(original, new)
    return ReproducedFile(
        file=str(new.relative_to(out)) if _inside(new, out) else new.name,
        original=str(original),
        compared=compared,
        recorded=recorded,
        reproduced=reproduced,
        identical=identical,
        difference=difference,
        counts=new.suffix.lower() not in DOCUMENT_SUFFIXES,
    )


def _explain(original: Path, new: Path) -> str:
    """What differs between two files, in words (audio decoded; other files byte by byte)."""
    if not original.is_file():
        return "the hashes differ (the original file is gone, so the difference cannot be shown)"
    if new.suffix.lower() in AUDIO_SUFFIXES:
        try:
            import numpy as np

            from tunesmith.audio.io import load

            a, b = load(original), load(new)
            if a.sample_rate != b.sample_rate or a.samples.shape != b.samples.shape:
                return (
                    f"audio shape differs: {a.samples.shape[0]} vs {b.samples.shape[0]} frames, "
                    f"{a.samples.shape[1]} vs {b.samples.shape[1]} channels, {a.sample_rate} vs {b.sample_rate} Hz"
                )
            diff = np.abs(a.samples.astype(np.float64) - b.samples.astype(np.float64))
            worst = float(diff.max())
            if worst == 0.0:
                return "the decoded samples are equal; the container bytes (other chunks or encoder headers) differ"
            first = int(np.argmax(diff.max(axis=1) > 0))
            return (
                f"audio differs: largest sample difference {20 * np.log10(worst):.1f} dBFS, "
                f"first at {first / a.sample_rate:.3f} s (frame {first})"
            )
        except (TunesmithError, OSError, ValueError) as exc:
            return f"the hashes differ (decoding for details failed: {exc})"
    x, y = original.read_bytes(), new.read_bytes()
    at = next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y)))
    return f"bytes differ from offset {at} ({len(x)} vs {len(y)} bytes)"
