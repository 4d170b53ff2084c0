"""Fuzz targets: one per parser that reads a file a user hands to tunesmith.

Each target takes raw bytes, writes them to a fresh file with the suffix the
parser expects, and calls the parser. The property every target checks is the
project's contract for bad input:

* the parser returns a value (the bytes happened to be a valid file), or
* it raises :class:`tunesmith.errors.TunesmithError` whose message is one line
  and names the file.

Anything else — ``IndexError``, ``struct.error``, ``RecursionError``, a
``MemoryError`` from a huge declared size, a message spanning lines, a hang
(caught by the engine's per-input timeout) — is a crash: the parser gets the
smallest fix, the input becomes a regression test
(``tests/test_fuzz_regressions.py``) and a seed in ``fuzz/corpus/<target>/``.

The parsers are imported inside :func:`load` so that the fuzzing engine can
instrument them for coverage first (``atheris.instrument_imports``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


class ContractError(AssertionError):
    """A parser raised a TunesmithError that breaks the one-line, names-the-file rule."""


@dataclass(frozen=True)
class Target:
    """A fuzz target.

    Attributes
    ----------
    name : str
        Also the corpus folder ``fuzz/corpus/<name>``.
    suffix : str
        File suffix the bytes are written under (parsers dispatch on it).
    warm : tuple of str
        Modules imported *before* instrumentation: everything the parser needs that must not be
        instrumented (numba-compiled modules fail to compile with atheris's probes in them).
    instrument : tuple of str
        The parser's own modules (and pure-Python parser libraries) instrumented for coverage.
    make : callable
        Returns ``parse(path)``.
    """

    name: str
    suffix: str
    warm: tuple[str, ...]
    instrument: tuple[str, ...]
    make: Callable[[], Callable[[Path], object]]


def _audio() -> Callable[[Path], object]:
    from tunesmith.audio.io import load

    return load


def _midi() -> Callable[[Path], object]:
    from tunesmith.score.midi import read_midi

    return read_midi


def _notation() -> Callable[[Path], object]:
    from tunesmith.score.notation import read_score

    return read_score


def _history() -> Callable[[Path], object]:
    from tunesmith.recommend.history import import_history

    db_dir = Path(tempfile.mkdtemp(prefix="tunesmith-fuzz-db-"))

    def parse(path: Path) -> object:
        # A fresh database per input keeps every run independent of the ones before it.
        db = db_dir / f"{path.stem}.sqlite"
        try:
            report = import_history(path, db=db)
        finally:
            for extra in ("", "-wal", "-shm", "-journal"):
                Path(f"{db}{extra}").unlink(missing_ok=True)
        # Nothing is dropped silently: every row read is stored, a duplicate, skipped or bad.
        accounted = report.added + report.duplicates + report.updated + sum(report.skipped.values()) + report.bad_rows
        if accounted != report.rows:
            raise ContractError(f"{report.rows} rows read but {accounted} accounted for: {report.to_dict()}")
        return report

    return parse


def _settings() -> Callable[[Path], object]:
    from tunesmith.mix.settings import load_settings

    return load_settings


def _recipe() -> Callable[[Path], object]:
    from tunesmith.provenance.recipe import read_recipe

    return read_recipe


def _style() -> Callable[[Path], object]:
    from tunesmith.compose.style import load_style

    return load_style


def _batch_manifest() -> Callable[[Path], object]:
    from tunesmith.pipeline.batch import read_items

    def parse(path: Path) -> object:
        return read_items("master", path, path.parent / "out")

    return parse


_AUDIO = (("tunesmith.audio.types", "tunesmith.audio.dither", "numpy"), ("tunesmith.audio.io", "soundfile"))
# music21 is imported first, uninstrumented: atheris instruments whole top-level packages, and all of
# music21 under its import hook takes minutes to load. Only its ABC or MusicXML reader is imported
# again under the hook (a submodule imported afresh replaces the package's attribute, which is how
# music21's converter finds it).
_SCORE = ("tunesmith.score.types", "tunesmith.score.theory", "tunesmith.score.midi", "music21")

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("audio_wav", ".wav", *_AUDIO, _audio),
        Target("audio_flac", ".flac", *_AUDIO, _audio),
        Target("audio_ogg", ".ogg", *_AUDIO, _audio),
        Target("audio_mp3", ".mp3", *_AUDIO, _audio),
        Target(
            "midi", ".mid", ("tunesmith.score.types", "tunesmith.score.theory"), ("tunesmith.score.midi", "mido"), _midi
        ),
        Target("musicxml", ".musicxml", _SCORE, ("tunesmith.score.notation", "music21.musicxml.xmlToM21"), _notation),
        Target("abc", ".abc", _SCORE, ("tunesmith.score.notation", "music21.abcFormat"), _notation),
        Target(
            "history_csv",
            ".csv",
            ("tunesmith.recommend", "numpy", "scipy.sparse"),
            ("tunesmith.recommend.history",),
            _history,
        ),
        Target(
            "history_json",
            ".json",
            ("tunesmith.recommend", "numpy", "scipy.sparse"),
            ("tunesmith.recommend.history",),
            _history,
        ),
        Target(
            "mix_settings", ".json", ("tunesmith.mix", "tunesmith.mix.roles"), ("tunesmith.mix.settings",), _settings
        ),
        Target("recipe", ".recipe.json", ("tunesmith.provenance",), ("tunesmith.provenance.recipe",), _recipe),
        Target(
            "style",
            ".toml",
            ("tunesmith.compose", "tunesmith.score.theory"),
            ("tunesmith.compose.style", "tomllib"),
            _style,
        ),
        Target(
            "batch_manifest",
            ".csv",
            ("tunesmith.pipeline.batch", "tunesmith.pipeline"),
            ("tunesmith.pipeline.manifest",),
            _batch_manifest,
        ),
    )
}


class Runner:
    """Calls one target's parser on byte strings, each written to a fresh file.

    Parameters
    ----------
    target : Target
        What to run.
    workdir : Path, optional
        Where input files are written (a private temporary folder by default).
    """

    def __init__(self, target: Target, workdir: Path | None = None) -> None:
        self.target = target
        self.parse = target.make()
        self._own = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"tunesmith-fuzz-{target.name}-")) if workdir is None else workdir
        self._count = itertools.count()

    def __call__(self, data: bytes) -> None:
        """Run the parser on ``data``; raise on anything but a result or a well-formed TunesmithError."""
        from tunesmith.errors import TunesmithError

        # A new name per input: loaders that cache by (path, mtime) must not answer from the cache.
        path = self.workdir / f"input{next(self._count)}{self.target.suffix}"
        path.write_bytes(data)
        try:
            self.parse(path)
        except TunesmithError as exc:
            check_message(exc, path)
        finally:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Remove the private working folder."""
        if self._own:
            shutil.rmtree(self.workdir, ignore_errors=True)


def check_message(exc: Exception, path: Path) -> None:
    """Raise :class:`ContractError` unless ``exc``'s message is one line naming ``path``."""
    text = str(exc)
    if "\n" in text or "\r" in text:
        raise ContractError(f"error message spans lines: {text!r}") from exc
    if getattr(exc, "path", None) is None or os.fspath(path) not in text:
        raise ContractError(f"error message does not name the file: {text!r}") from exc


def corpus_files(name: str) -> list[Path]:
    """The committed seed inputs of target ``name``, sorted."""
    folder = CORPUS / name
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
