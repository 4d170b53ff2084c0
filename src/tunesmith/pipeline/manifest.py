"""Batch manifests: the items a batch works on, and the results table it writes.

Input side: a batch reads a folder (one item per audio file, or per sub-folder of stems for
``mix``) or a CSV manifest (one item per row; an ``input`` column names the file or folder,
an optional ``id`` column names the item, and any other column overrides one of the
command's options for that row only). Output side: ``batch.csv`` and ``batch.jsonl`` in the
output folder, one row per item, written atomically; while a batch runs each finished item
is appended to a journal (``.batch-journal.jsonl``) so that a batch killed outright still
leaves its figures for the re-run to carry over.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tunesmith.atomic import write_text_atomic
from tunesmith.errors import InputFileError, UsageError

#: Audio file suffixes a folder scan picks up (what :mod:`tunesmith.audio.io` reads).
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3", ".w64", ".rf64", ".caf", ".opus", ".m4a"})
MANIFEST_CSV = "batch.csv"
MANIFEST_JSONL = "batch.jsonl"
JOURNAL = ".batch-journal.jsonl"
#: Item states in the results manifest.
STATUSES = ("ok", "failed", "skipped", "pending")


@dataclass(frozen=True)
class BatchItem:
    """One unit of work: an input file, a folder of stems, or a manifest row.

    Attributes
    ----------
    id : str
        Unique name of the item; its outputs are named after it (``/`` keeps sub-folders).
    inputs : tuple of str
        Absolute paths of the input file or folder (empty for ``produce`` rows).
    options : dict
        Per-item option overrides from a CSV manifest row, already converted to their types.
    """

    id: str
    inputs: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ItemResult:
    """What happened to one item: a row of ``batch.csv`` / a line of ``batch.jsonl``.

    Attributes
    ----------
    id : str
        The item's id.
    status : str
        ``ok`` (made now), ``skipped`` (complete from an earlier run), ``failed`` or ``pending``
        (not started: the batch was interrupted).
    inputs, outputs : list of str
        Paths read and written.
    integrated_lufs : float or None
        Programme loudness of the item's main output (or of the input, for ``analyze``), LUFS.
    true_peak_dbtp : float or None
        Its true peak, dBTP.
    duration_s : float or None
        Its duration, seconds.
    seconds : float
        Wall time the item took in its worker, seconds.
    cpu_s : float
        CPU time of the worker process (all its threads) during the item, seconds.
    worker : str
        ``host:pid`` of the worker process that ran the item.
    peak_rss_mb : float or None
        Peak resident memory of that worker process so far, MiB.
    warnings : list of str
        Warnings from the command's report (clipped input, missed target, …).
    error : str or None
        One-line reason when ``status`` is ``failed``.
    """

    id: str
    status: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    integrated_lufs: float | None = None
    true_peak_dbtp: float | None = None
    duration_s: float | None = None
    seconds: float = 0.0
    cpu_s: float = 0.0
    worker: str = ""
    peak_rss_mb: float | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ItemResult:
        """Rebuild from :meth:`to_dict` output (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})


# ---------------------------------------------------------------------------- reading items


def _safe_id(raw: str, where: str | os.PathLike[str]) -> str:
    """An item id usable as a relative output path, or a :class:`UsageError`."""
    item_id = raw.strip().replace("\\", "/").strip("/")
    parts = item_id.split("/")
    if not item_id or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise UsageError(f"item id {raw!r} cannot name an output (empty, hidden, or '..')", where)
    return item_id


def _audio_files(folder: Path, exclude: Path | None) -> list[Path]:
    """Audio files under ``folder`` (recursively, sorted), skipping hidden entries and ``exclude``."""
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (exclude is None or here / d != exclude))
        found.extend(here / f for f in files if not f.startswith(".") and Path(f).suffix.lower() in AUDIO_SUFFIXES)
    return sorted(found)


def items_from_folder(kind: str, folder: Path, out_dir: Path) -> list[BatchItem]:
    """Items from a folder: every audio file under it, or (``kind == "folder"``) every sub-folder.

    Parameters
    ----------
    kind : str
        ``"file"``: one item per audio file, id = its path relative to ``folder`` without the
        suffix (so ``artist/album/track.flac`` becomes ``artist/album/track``). ``"folder"``: one
        item per immediate sub-folder holding audio files (a song's stems), id = its name.
    folder : pathlib.Path
        The input folder.
    out_dir : pathlib.Path
        The output folder, skipped when it lies inside ``folder`` (a re-run must not read its
        own outputs as inputs).

    Raises
    ------
    UsageError
        Nothing to do, or two files that would get the same id (``a.wav`` and ``a.flac``).
    """
    folder = folder.resolve()
    exclude = out_dir.resolve()
    if kind == "folder":
        subs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".") and d != exclude)
        items = [BatchItem(d.name, (str(d),)) for d in subs if _audio_files(d, None)]
        if not items:
            raise UsageError("no sub-folders of stems in this folder (mix takes one folder per song)", folder)
        return items
    items = []
    seen: dict[str, Path] = {}
    for path in _audio_files(folder, exclude):
        item_id = path.relative_to(folder).with_suffix("").as_posix()
        if item_id in seen:
            raise UsageError(f"{seen[item_id].name} and {path.name} would both be written as {item_id!r}", folder)
        seen[item_id] = path
        items.append(BatchItem(_safe_id(item_id, folder), (str(path),)))
    if not items:
        raise UsageError("no audio files in this folder", folder)
    return items


def _column(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def items_from_csv(
    manifest: Path,
    options: Mapping[str, Callable[[str], Any]],
    needs_input: bool,
    default_id: Callable[[int], str] = lambda row: f"item-{row:05d}",
) -> list[BatchItem]:
    """Items from a CSV manifest (a header row, then one item per row).

    Parameters
    ----------
    manifest : pathlib.Path
        The CSV file. Relative ``input`` paths are taken from its folder.
    options : mapping
        Columns allowed besides ``id`` and ``input``, each with the function that reads its
        text (``"-12"`` → ``-12.0``); an empty cell leaves the batch's own value.
    needs_input : bool
        Whether each row must name an input file or folder.
    default_id : callable
        The id of a row without one, from its 1-based row number (used when there is no
        ``input`` either).

    Raises
    ------
    UsageError
        An unknown column, a missing ``input``, an unreadable value, or a repeated id; the
        message names the manifest and the row.
    """
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError("not a UTF-8 CSV manifest", manifest) from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise UsageError("empty manifest (a header row is needed: input[,id][,option…])", manifest)
    columns = {name: _column(name) for name in reader.fieldnames if name is not None}
    unknown = [raw for raw, col in columns.items() if col not in ("id", "input", *options)]
    if unknown:
        allowed = ", ".join(["id", "input", *sorted(options)])
        raise UsageError(f"unknown column {unknown[0]!r} (columns: {allowed})", manifest)
    if needs_input and "input" not in columns.values():
        raise UsageError("the manifest needs an 'input' column", manifest)
    base = manifest.resolve().parent
    items: list[BatchItem] = []
    seen: set[str] = set()
    try:
        rows = list(reader)
    except csv.Error as exc:  # a cell over the csv module's 128 KiB limit, a stray carriage return
        raise UsageError(f"unreadable CSV ({exc})", manifest) from None
    for number, row in enumerate(rows, start=1):
        cells = {columns[k]: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(cells.values()):
            continue
        where = f"{manifest}: row {number}"
        raw_input = cells.get("input", "")
        if needs_input and not raw_input:
            raise UsageError(f"row {number} has no input", manifest)
        if "\x00" in raw_input:  # no path holds one (and pathlib raises ValueError on it)
            raise UsageError(f"row {number}: the input holds a NUL character", manifest)
        inputs = (str((base / raw_input).resolve()),) if raw_input else ()
        if cells.get("id"):
            item_id = _safe_id(cells["id"], where)
        elif raw_input:
            item_id = _safe_id(Path(raw_input).with_suffix("").name if Path(raw_input).suffix else raw_input, where)
        else:
            item_id = default_id(number)
        if item_id in seen:
            raise UsageError(f"row {number}: id {item_id!r} is used twice", manifest)
        seen.add(item_id)
        overrides: dict[str, Any] = {}
        for col, value in cells.items():
            if col in ("id", "input") or value == "":
                continue
            try:
                overrides[col] = options[col](value)
            except (TypeError, ValueError):
                raise UsageError(f"row {number}: {col} = {value!r} is not a valid value", manifest) from None
        items.append(BatchItem(item_id, inputs, overrides))
    if not items:
        raise UsageError("the manifest has no rows", manifest)
    return items


# ---------------------------------------------------------------------------- writing results

CSV_COLUMNS = (
    "id",
    "status",
    "integrated_lufs",
    "true_peak_dbtp",
    "duration_s",
    "seconds",
    "cpu_s",
    "worker",
    "peak_rss_mb",
    "input",
    "output",
    "warnings",
    "error",
)


def _csv_row(r: ItemResult) -> list[str]:
    def num(v: float | None) -> str:
        return "" if v is None else f"{v:g}"

    return [
        r.id,
        r.status,
        num(r.integrated_lufs),
        num(r.true_peak_dbtp),
        num(r.duration_s),
        f"{r.seconds:.3f}",
        f"{r.cpu_s:.3f}",
        r.worker,
        num(r.peak_rss_mb),
        ";".join(r.inputs),
        ";".join(r.outputs),
        " | ".join(r.warnings),
        r.error or "",
    ]


def write_manifest(out_dir: Path, results: Iterable[ItemResult]) -> tuple[Path, Path]:
    """Write ``batch.csv`` and ``batch.jsonl`` into ``out_dir`` atomically; return their paths."""
    rows = list(results)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(r) for r in rows)
    csv_path, jsonl_path = out_dir / MANIFEST_CSV, out_dir / MANIFEST_JSONL
    write_text_atomic(csv_path, buf.getvalue())
    write_text_atomic(jsonl_path, "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in rows))
    return csv_path, jsonl_path


def previous_results(out_dir: Path) -> dict[str, ItemResult]:
    """Results an earlier run of a batch left in ``out_dir`` (manifest, then journal), by id.

    Used only to carry the figures of items a re-run skips; anything unreadable is ignored.
    """
    found: dict[str, ItemResult] = {}
    for name in (MANIFEST_JSONL, JOURNAL):
        path = out_dir / name
        if not path.is_file():
            continue
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    result = ItemResult.from_dict(json.loads(line))
                except (ValueError, TypeError):
                    continue  # a line cut short by a kill
                if result.status in ("ok", "skipped"):
                    found[result.id] = result
    return found


class Journal:
    """Append-only log of finished items, so a batch killed outright keeps its figures.

    One ``write`` per line on a file opened for appending: a kill can cut the last line
    short (the reader skips it) but cannot interleave or lose earlier ones.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / JOURNAL
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def add(self, result: ItemResult) -> None:
        """Record one finished item."""
        self._fh.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self, remove: bool) -> None:
        """Close; ``remove`` once the manifest holds everything the journal did."""
        self._fh.close()
        if remove:
            self.path.unlink(missing_ok=True)
