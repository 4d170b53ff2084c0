"""``tunesmith learn``: a musician's folder of pieces → a style anyone can compose in.

1. **Read** every file of the folder on a small process pool (:mod:`tunesmith.learn.read`):
   MIDI, MusicXML/MXL and ABC (every tune of a book), and with ``audio`` monophonic
   recordings through ``tunesmith.voice``; anything else is skipped and listed. Each file
   becomes compact :class:`~tunesmith.learn.piece.Piece` summaries that are folded into
   :class:`~tunesmith.learn.stats.StyleStats` as they arrive; only a bounded sample of
   melodies (a reservoir) and the originality index's step codes are kept, so memory does
   not grow with the folder beyond four bytes per note of the index.
2. **Write the style** (:meth:`StyleStats.style_doc`): tempo, the metres and their shares, swing,
   keys, the chord table and harmonic rhythm, the form, the melody's range, rhythm cells and leaps,
   the parts with their programs and registers, comping, bass and drum patterns (per metre) — a ``style.toml`` in
   the format of the built-in styles (``docs/STYLES.md``), checked by loading it.
3. **Fine-tune** the melody and chord models lightly (:mod:`tunesmith.learn.adapt`), with
   early stopping on every fifth piece held out.
4. **Index the pieces** for the originality guard (every pitched line), so music composed in
   the style never plays the musician's own songs back.
5. **Calibrate** the melody's repeat penalty by composing a few short songs in the new style
   (:mod:`tunesmith.learn.calibrate`), so its tunes repeat notes as often as the pieces do.
6. **Card** (``card.json``, ``card.md``): every source with its SHA-256, what was skipped and
   why, the warnings, and how the fine-tuning went.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.errors import InputFileError
from tunesmith.learn import store
from tunesmith.learn.piece import Piece
from tunesmith.learn.read import FileResult, kind_of, read_file, scan, voice_available
from tunesmith.learn.stats import StyleStats
from tunesmith.learn.toml_out import dumps

#: Melodies kept for fine-tuning at most (a seeded reservoir sample of the folder's pieces).
RESERVOIR_PIECES = 400
RESERVOIR_NOTES = 150_000
MIN_ADAPT_PIECES = 3  #: fewer melodic pieces than this: no fine-tuning (nothing to hold out)
Progress = Callable[[str, int, int], None]


@dataclass
class LearnReport:
    """What ``tunesmith learn`` did (the ``--json`` report).

    Attributes
    ----------
    name : str
        The style's name (``tunesmith compose --style NAME``).
    style_dir : str
        Its folder.
    files, files_used, pieces : int
        Files found, files learned from, pieces (tunes) learned from.
    skipped : list of dict
        ``{"path", "reason"}`` of every file not used.
    warnings : list of str
        Things the user should know (too little to learn from, audio not transcribed …).
    style : dict
        A summary: tempo, metre, keys, parts, structure, melody tag.
    adapters : dict
        How fine-tuning went (per head: held-out NLL before and after).
    timings_s : dict
        Seconds per stage, wall clock.
    """

    name: str
    style_dir: str
    files: int
    files_used: int
    pieces: int
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    style: dict[str, Any] = field(default_factory=dict)
    adapters: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class Reservoir:
    """A seeded uniform sample of at most ``size`` pieces (and about ``notes`` melody notes) from a stream."""

    def __init__(self, size: int = RESERVOIR_PIECES, notes: int = RESERVOIR_NOTES, seed: int = 0) -> None:
        self.size, self.notes = size, notes
        self.items: list[Piece] = []
        self.seen = 0
        self.rng = np.random.default_rng(seed)

    def add(self, piece: Piece) -> None:
        """Offer a piece (only its melody, chords and bar grid are kept)."""
        empty = {k: Counter() for k in ("melody_cells", "cadence_cells", "bass_cells", "drum_cells", "comp_cells")}
        light = replace(
            piece, tracks=[], lines=[], intervals=Counter(), durations=Counter(), phrases=Counter(), **empty
        )
        self.seen += 1
        if len(self.items) < self.size and sum(len(p.melody) for p in self.items) < self.notes:
            self.items.append(light)
            return
        k = int(self.rng.integers(self.seen))
        if k < len(self.items):
            self.items[k] = light


def _read_all(tasks: list[tuple[str, str, bool]], workers: int) -> Iterator[FileResult]:
    """:func:`read_file` of every task, in order, with at most a few files in flight (bounded memory)."""
    if workers <= 1 or len(tasks) <= 2:
        yield from map(read_file, tasks)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        it = iter(tasks)
        pending = deque(pool.submit(read_file, t) for t in islice(it, 4 * workers))
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(read_file, nxt))
            yield result


def learn_style(
    folder: str | os.PathLike[str],
    name: str,
    audio: bool = False,
    force: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    argv: list[str] | None = None,
) -> LearnReport:
    """Learn a style from the pieces in ``folder`` and store it as ``name`` (see the module docstring).

    Parameters
    ----------
    folder : str or os.PathLike
        The musician's pieces (searched recursively).
    name : str
        The new style's name.
    audio : bool
        Also transcribe monophonic recordings (needs ``tunesmith.voice``).
    force : bool
        Replace a learned style of that name.
    workers : int, optional
        Reading processes (default: 2, or fewer cores).
    progress : callable, optional
        ``progress(stage, done, total)`` as the work goes.
    seed : int
        Seed of the reservoir sample and the fine-tuning.

    Raises
    ------
    InputFileError
        Missing folder, no music in it, or nothing but drums.
    UsageError
        A bad or taken name.
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    root = Path(folder)
    if not root.exists():
        raise InputFileError("no such folder", root)
    if not root.is_dir():
        raise InputFileError("is a file; give the folder of pieces to learn from", root)
    target = store.check_name(name, force)
    files = scan(root)
    kinds = [kind_of(p) for p in files]
    usable = sum(1 for k in kinds if k == "music" or (audio and k == "audio"))
    if usable == 0:
        found = f" ({len(files)} other files)" if files else ""
        raise InputFileError(f"no music files (MIDI, MusicXML or ABC) to learn from{found}", root)
    warnings: list[str] = []
    if audio and not voice_available():
        warnings.append("audio transcription (tunesmith.voice) is not available in this build: recordings skipped")
    stats = StyleStats()
    reservoir = Reservoir(seed=seed)
    lines: list[tuple[str, np.ndarray]] = []
    sources: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    tasks = [(str(p), str(root), audio) for p in files]
    workers = workers or min(2, os.cpu_count() or 1)
    for done, result in enumerate(_read_all(tasks, workers), 1):
        if result.skipped:
            skipped.append({"path": result.path, "reason": result.skipped, "sha256": result.sha256})
        else:
            sources.append(
                {
                    "path": result.path,
                    "bytes": result.bytes,
                    "sha256": result.sha256,
                    "pieces": len(result.pieces),
                    **({"notes": result.notes} if result.notes else {}),
                }
            )
            for piece in result.pieces:
                stats.add(piece)
                lines += [(piece.source, line) for line in piece.lines]
                if len(piece.melody) >= 8:
                    reservoir.add(piece)
        if progress:
            progress("read", done, len(tasks))
    timings["read"] = time.perf_counter() - t0
    if stats.pieces == 0:
        raise InputFileError(
            f"none of the {len(files)} files could be read as music (see: {skipped[0]['reason']})", root
        )
    if stats.melodic_pieces == 0:
        raise InputFileError("holds only drum parts: there is no melody or harmony to learn a style from", root)
    if stats.melodic_pieces == 1:
        warnings.append(
            "only one piece to learn from: too little for a style (it leans on tunesmith's defaults and is not "
            "fine-tuned); add more of the musician's pieces"
        )
    elif stats.melodic_pieces < MIN_ADAPT_PIECES:
        warnings.append(f"only {stats.melodic_pieces} pieces: too few to fine-tune the models (3 at least)")

    built = store.building_dir(name)
    try:
        with _one_blas_thread():
            report = _build(
                built, target, root, name, stats, reservoir, lines, sources, skipped, warnings, seed, progress, argv
            )
        timings["build"] = time.perf_counter() - t0 - timings["read"]
        store.install(built, target)
    except BaseException:
        store.discard(built)
        raise
    store.tidy()
    report.files = len(files)
    timings["total"] = time.perf_counter() - t0
    report.timings_s = {k: round(v, 2) for k, v in timings.items()}
    return report


def _one_blas_thread() -> Any:
    """BLAS on one thread while fitting: the products are small, and on a shared machine a second BLAS
    thread mostly waits (see :func:`tunesmith.models.melody.write_phrases`)."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn (librosa)
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _build(
    built: Path,
    target: Path,
    root: Path,
    name: str,
    stats: StyleStats,
    reservoir: Reservoir,
    lines: list[tuple[str, np.ndarray]],
    sources: list[dict[str, Any]],
    skipped: list[dict[str, str]],
    warnings: list[str],
    seed: int,
    progress: Progress | None,
    argv: list[str] | None,
) -> LearnReport:
    """Write the style's files into ``built`` and return the report (the folder is moved by the caller)."""
    from tunesmith import __version__
    from tunesmith.compose.style import load_style
    from tunesmith.learn.adapt import AdapterReport, _grid, fit_chord_adapter, fit_melody_adapter
    from tunesmith.learn.calibrate import (
        calibrate_durations,
        calibrate_intervals,
        calibrate_repeat_penalty,
        ioi_ticks,
        repeat_share,
    )
    from tunesmith.models.chord import model_id as chord_model_id
    from tunesmith.models.melody import model_id as melody_model_id
    from tunesmith.models.originality import OriginalityIndex
    from tunesmith.provenance.recipe import sha256_file, write_recipe

    # Fine-tuning: every fifth piece (in source order) is held out for early stopping.
    adapters = AdapterReport()
    learned: dict[str, str] = {}
    pieces = sorted(reservoir.items, key=lambda p: p.source)
    if len(pieces) >= MIN_ADAPT_PIECES:
        held = {i for i in range(len(pieces)) if i % 5 == 4} or {len(pieces) - 1}
        valid = [p for i, p in enumerate(pieces) if i in held]
        train = [p for i, p in enumerate(pieces) if i not in held]
        adapters.train_tunes, adapters.valid_tunes = len(train), len(valid)
        if progress:
            progress("fine-tune", 0, 2)
        try:
            tag, tag_nll, heads = fit_melody_adapter(train, valid, built / "melody_adapter.safetensors", seed)
            adapters.melody_tag, adapters.tag_nll = tag, tag_nll
            adapters.heads += heads
            learned["melody_adapter"] = "melody_adapter.safetensors"
        except ValueError as exc:
            warnings.append(f"melody model not fine-tuned: {exc}")
        if progress:
            progress("fine-tune", 1, 2)
        try:
            adapters.heads.append(fit_chord_adapter(train, valid, built / "chord_adapter.safetensors", seed))
            learned["chord_adapter"] = "chord_adapter.safetensors"
        except ValueError as exc:
            warnings.append(f"chord model not fine-tuned: {exc}")
        if progress:
            progress("fine-tune", 2, 2)
    else:
        adapters.skipped = f"{len(pieces)} melodic piece(s): at least {MIN_ADAPT_PIECES} are needed to hold one out"

    # The originality index of every pitched line of the musician's pieces.
    index = OriginalityIndex.from_steps(lines, {"source": str(root), "lines": len(lines)})
    index.save(built / "originality.npz")
    learned["originality_index"] = "originality.npz"
    del lines

    description = f"Learned from {stats.pieces} pieces in {root.name or root} (tunesmith learn)"
    doc, remarks = stats.style_doc(name, description, adapters.melody_tag)
    learned["card"] = "card.md"
    doc["learned"] = learned
    if len(pieces) >= MIN_ADAPT_PIECES:
        # Sampled on its own the model drifts from the musician's note values and repeats notes more
        # often: composing a few songs sets the style's duration bias per metre and its repeat
        # penalty so that it does not (see tunesmith.learn.calibrate).
        if progress:
            progress("calibrate", 0, 1)
        targets: dict[str, Counter] = {}
        for p in pieces:
            grid = _grid(p.melody)  # played (off-grid) MIDI is read on sixteenths, as it was fine-tuned on
            targets.setdefault(f"{p.numerator}/{p.denominator}", Counter()).update(ioi_ticks(p.melody, grid))
        adapters.duration_calibration = calibrate_durations(doc, built, targets)
        adapters.interval_calibration = calibrate_intervals(doc, built, stats.intervals)
        target = repeat_share(stats.intervals)
        calibration = calibrate_repeat_penalty(doc, built, target)
        adapters.repeat_calibration = calibration.to_dict()
        if calibration.penalty:
            doc["melody"]["repeat_penalty"] = calibration.penalty
        if progress:
            progress("calibrate", 1, 1)
    header = (
        f"{name}: a style learned by tunesmith {__version__} from {stats.pieces} pieces in {root}.\n"
        "Edit it like any style (docs/STYLES.md); card.md lists the sources it was learned from."
    )
    comments = {
        "": header,
        "harmony": "Chord table learned from the pieces: per mode, how often each chord follows another.",
        "learned": "Files beside this one: fine-tuning adapters, the sources' originality index, the card.",
    }
    (built / "style.toml").write_text(dumps(doc, comments), encoding="utf-8")
    report = LearnReport(name, str(target), 0, len(sources), stats.pieces, skipped, warnings)
    card = _card(name, root, stats, sources, skipped, warnings + remarks, adapters, index, __version__)
    (built / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (built / "card.md").write_text(_card_md(card), encoding="utf-8")
    style = load_style(built / "style.toml")  # the style must load, or nothing is installed
    report.style = {
        "tempo_bpm": {"min": style.tempo_min, "max": style.tempo_max, "default": style.tempo_default},
        "metre": f"{style.numerator}/{style.denominator}",
        "swing": style.swing,
        "keys": list(style.keys),
        "structure": style.structure,
        "parts": [{"name": p.name, "role": p.role, "program": p.program} for p in style.parts],
        "melody_tag": style.melody_tag or "pop",
        "chords": {m: len(t) - 1 for m, t in style.transitions.items()},
    }
    report.adapters = adapters.to_dict()
    report.warnings = warnings + remarks
    models = [melody_model_id(), chord_model_id()]
    params = {
        "name": name,
        "folder": str(root),
        "pieces": stats.pieces,
        "card_sha256": sha256_file(built / "card.json"),
    }
    for f in ("style.toml", "card.json", "card.md", *(v for k, v in learned.items() if k != "card")):
        write_recipe(built / f, "learn", params, seed=seed, models=models, argv=argv)
    return report


def _card(
    name: str,
    root: Path,
    stats: StyleStats,
    sources: list[dict[str, Any]],
    skipped: list[dict[str, str]],
    remarks: list[str],
    adapters: Any,
    index: Any,
    version: str,
) -> dict[str, Any]:
    """The style card: what the style was learned from (with hashes), what was skipped, how it went."""
    return {
        "style": name,
        "made_by": f"tunesmith {version} learn",
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "folder": str(root.resolve()),
        "pieces": stats.pieces,
        "pieces_with_melody": stats.melodic_pieces,
        "sources": sources,
        "skipped": skipped,
        "remarks": remarks,
        "learned": {
            "metres_bars": dict(stats.metres.most_common()),
            "keys": dict(stats.keys.most_common()),
            "textures": dict(stats.textures),
            "tempo_bpm_pieces": sum(stats.tempos.values()),
            "forms": {f"{f}/{n}": c for (f, n), c in stats.forms.most_common(10)},
            "phrase_bars": dict(sorted(stats.phrases.items())),
        },
        "fine_tuning": adapters.to_dict(),
        "originality_index": {"lines": len(index.tune_starts), "notes": index.notes, "copy_threshold_notes": 8},
        "respect": (
            "Music composed in this style is checked against these sources as well as tunesmith's training "
            "tunes: a phrase sharing 8 or more consecutive notes with any of them is written again."
        ),
    }


def _card_md(card: dict[str, Any]) -> str:
    """The card as Markdown."""
    out = [
        f"# Style card: {card['style']}",
        "",
        f"Learned by {card['made_by']} on {card['created_utc']} from `{card['folder']}`: "
        f"{card['pieces']} pieces in {len(card['sources'])} files ({len(card['skipped'])} files skipped).",
        "",
        card["respect"],
        "",
    ]
    if card["remarks"]:
        out += ["## Remarks", "", *[f"- {r}" for r in card["remarks"]], ""]
    ft = card["fine_tuning"]
    out += ["## Fine-tuning", ""]
    if ft.get("skipped"):
        out.append(f"Not fine-tuned: {ft['skipped']}.")
    else:
        out.append(f"Melody tag `{ft['melody_tag']}`; {ft['train_tunes']} pieces fitted, {ft['valid_tunes']} held out.")
        out += ["", "| head | held-out NLL before | after | steps (kept) |", "|---|---|---|---|"]
        for h in ft["heads"]:
            out.append(
                f"| {h['head']} | {h['valid_nll_before']} | {h['valid_nll_after']} | {h['steps']} ({h['best_step']}) |"
            )
    rep, dur = ft.get("repeat_calibration") or {}, ft.get("duration_calibration") or {}
    steps = ft.get("interval_calibration") or {}
    if rep or dur:
        out += ["", "## Sampling calibrated on the pieces", ""]
    if steps:
        out.append(
            f"Melodic intervals of songs against the pieces', total variation distance {steps['distance_before']} "
            f"without `interval_bias`, {steps['distance_after']} with it."
        )
    if rep:
        out.append(
            f"Repeated notes: {100 * rep['target']:.1f} % of the pieces' melodic steps; songs composed without a "
            f"penalty {100 * rep['before']:.1f} %, with `repeat_penalty = {rep['penalty']}` {100 * rep['after']:.1f} %."
        )
    for metre, row in dur.items():
        out.append(
            f"- {metre}: note values (IOI) of songs against the pieces', total variation distance "
            f"{row['distance_before']} without `duration_bias`, {row['distance_after']} with it"
        )
    out += ["", "## Sources", "", "| file | pieces | SHA-256 |", "|---|---|---|"]
    out += [f"| {s['path']} | {s['pieces']} | `{s['sha256']}` |" for s in card["sources"]]
    if card["skipped"]:
        out += ["", "## Skipped", "", "| file | why |", "|---|---|"]
        out += [f"| {s['path']} | {s['reason']} |" for s in card["skipped"]]
    return "\n".join(out) + "\n"


def summary_lines(report: LearnReport) -> Iterable[str]:
    """Plain lines describing a report (the CLI prints them)."""
    s = report.style
    yield f"style {report.name!r} learned from {report.pieces} pieces in {report.files_used} files: {report.style_dir}"
    yield (
        f"  {s['metre']}, {s['tempo_bpm']['min']:g}-{s['tempo_bpm']['max']:g} BPM, keys {' '.join(s['keys'][:6])}, "
        f"melody tag {s['melody_tag']}, form {s['structure']}"
    )
    yield "  parts: " + ", ".join(f"{p['name']} ({p['role']}, program {p['program']})" for p in s["parts"])
    for h in report.adapters.get("heads", []):
        yield f"  fine-tuned {h['head']}: held-out NLL {h['valid_nll_before']} -> {h['valid_nll_after']}"
    if report.skipped:
        yield f"  skipped {len(report.skipped)} files:"
        for item in report.skipped[:20]:
            yield f"    {item['path']}: {item['reason']}"
        if len(report.skipped) > 20:
            yield f"    … and {len(report.skipped) - 20} more (card.json lists them all)"


__all__ = ["LearnReport", "learn_style", "summary_lines"]
