"""Index a folder of audio: features per track in the history database, a content index beside it.

``scan_library`` walks a folder for audio files, analyses the new and changed ones
(:func:`tunesmith.recommend.content.analyse`, excerpts only) on a process pool — one
worker per core, BLAS pinned to one thread in each so the workers do not fight over the
cores — and stores the features in the ``tracks`` table. A file is re-analysed only when
its size or modification time changed; files that disappeared from the folder are
removed. Unreadable files (not audio, damaged, silent, too short) are reported with
their reason and skipped; they never stop the scan.

Each track becomes an item (artist and title from the file's tags, else from a
``Artist - Title`` file name), so a library track that also appears in an imported
listening history is the same item, and collaborative and content scores meet on it.
After a scan that changed anything the content index (voyager) is rebuilt from every
track in the database and saved in the models folder.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tunesmith.cores import usable_cores
from tunesmith.errors import InputFileError, TunesmithError, UsageError
from tunesmith.recommend.content import FEATURE_NAMES, ContentIndex, TrackFeatures, analyse, prepare
from tunesmith.recommend.history import (
    bump_generation,
    connect,
    default_db,
    models_dir,
    normalise,
    track_key,
)

#: File name endings scanned (anything libsndfile or ffmpeg decodes that people keep music in).
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".m4a", ".aac", ".wma"})


@dataclass
class ScanReport:
    """What a library scan did.

    Attributes
    ----------
    folder, db : str
        The folder scanned and the database written.
    found : int
        Audio files found.
    analysed : int
        Files analysed now (new or changed).
    unchanged : int
        Files skipped because they were already indexed as they are.
    removed : int
        Tracks dropped because their file is gone.
    failed : list of dict
        ``{"path": ..., "reason": ...}`` for each file that could not be read.
    tracks : int
        Tracks in the library after the scan.
    seconds : float
        Wall time, s.
    files_per_s : float
        Analysed files per second of wall time.
    workers : int
        Processes used.
    cpu_s : float
        CPU time the workers spent on the files, s (on a busy machine the wall time also
        holds waiting for the CPU; this does not).
    """

    folder: str
    db: str
    found: int = 0
    analysed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    tracks: int = 0
    seconds: float = 0.0
    files_per_s: float = 0.0
    workers: int = 1
    cpu_s: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


def find_audio(folder: Path) -> list[Path]:
    """Audio files under ``folder`` (recursively, hidden folders skipped), sorted."""
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / f for f in files if Path(f).suffix.lower() in AUDIO_SUFFIXES and not f.startswith("."))
    return sorted(out)


def track_tags(path: Path) -> tuple[str | None, str]:
    """Artist (None when unknown) and title of a file: its tags, else ``Artist - Title`` in its name."""
    artist = title = ""
    try:
        import soundfile as sf

        with sf.SoundFile(str(path)) as fh:
            artist, title = (fh.artist or "").strip(), (fh.title or "").strip()
    except Exception:
        pass
    if not title:
        stem = path.stem
        if " - " in stem:
            left, right = stem.split(" - ", 1)
            artist, title = artist or left.strip(), right.strip()
        else:
            title = stem
    return (artist or None), title


_Result = tuple[str, TrackFeatures | None, str | None, str | None, str, float]


def _analyse_one(path: str) -> _Result:
    """Worker: features and tags of one file (or why it could not be read), and the CPU seconds spent."""
    p = Path(path)
    cpu0 = time.process_time()
    try:
        features = analyse(p)
    except TunesmithError as exc:
        reason = exc.message if isinstance(exc, InputFileError) else str(exc)
        return path, None, reason, None, "", time.process_time() - cpu0
    except Exception as exc:
        return path, None, f"{exc.__class__.__name__}: {exc}", None, "", time.process_time() - cpu0
    artist, title = track_tags(p)
    return path, features, None, artist, title, time.process_time() - cpu0


def _init_worker() -> None:
    # One BLAS thread per worker: the pool already uses every core, and an OpenBLAS
    # pool per process spinning on a busy machine made analysis 2x slower (measured).
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork: the workers start in milliseconds with numpy/scipy/soxr already imported
    # (spawn would re-import them, ~0.5 s per worker). A forked child inherits no running
    # threads, so it must not need the parent's pools: the workers only run numpy, scipy.fft
    # and soxr with BLAS pinned to one thread (_init_worker), never implicit or numba.
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def scan_library(
    folder: str | os.PathLike[str],
    db: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScanReport:
    """Analyse the audio files under ``folder`` that are new or changed, and index them.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder to scan (recursively).
    db : str or os.PathLike, optional
        History database (created if missing); default :func:`default_db`.
    workers : int, optional
        Processes (default: one per core).
    progress : callable, optional
        Called as ``progress(done, total)`` while files are analysed.

    Returns
    -------
    ScanReport

    Raises
    ------
    InputFileError
        ``folder`` is missing or not a folder.
    """
    t0 = time.perf_counter()
    root = Path(folder)
    if not root.exists():
        raise InputFileError("no such folder", root)
    if not root.is_dir():
        raise InputFileError("not a folder (library scan DIR takes the folder your music is in)", root)
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    db_path = Path(db) if db is not None else default_db()
    root_abs = root.resolve()
    files = find_audio(root_abs)
    report = ScanReport(folder=str(root), db=str(db_path), found=len(files))
    conn = connect(db_path)
    try:
        known = {
            row[0]: (row[1], row[2])
            for row in conn.execute(
                "SELECT path, size, mtime_ns FROM tracks WHERE path LIKE ? ESCAPE '\\'", (_like_prefix(root_abs),)
            )
        }
        todo: list[Path] = []
        for p in files:
            st = p.stat()
            if known.get(str(p)) == (st.st_size, st.st_mtime_ns):
                report.unchanged += 1
            else:
                todo.append(p)
        gone = set(known) - {str(p) for p in files}
        n_workers = max(1, min(workers or _cores(), len(todo)))
        report.workers = n_workers
        results = _run(todo, n_workers, progress)
        with conn:
            for path in sorted(gone):
                conn.execute("DELETE FROM tracks WHERE path = ?", (path,))
            report.removed = len(gone)
            for path, features, error, artist, title, cpu in results:
                report.cpu_s += cpu
                if features is None:
                    report.failed.append({"path": path, "reason": error or "unreadable"})
                    continue
                _store_track(conn, Path(path), features, artist, title)
                report.analysed += 1
            if report.analysed or report.removed:
                bump_generation(conn)
        report.tracks = conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0]
        if report.analysed or report.removed or not (models_dir(db_path) / "content.npz").exists():
            rebuild_content_index(conn, models_dir(db_path))
    finally:
        conn.close()
    report.cpu_s = round(report.cpu_s, 3)
    report.seconds = round(time.perf_counter() - t0, 3)
    report.files_per_s = round(report.analysed / report.seconds, 2) if report.seconds > 0 else 0.0
    return report


def _cores() -> int:
    return usable_cores()


def _like_prefix(folder: Path) -> str:
    text = str(folder).rstrip(os.sep) + os.sep
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _run(todo: list[Path], workers: int, progress: Callable[[int, int], None] | None) -> list[_Result]:
    """Analyse files on ``workers`` processes (in this process when one), in file order."""
    total = len(todo)
    if progress:
        progress(0, total)
    if total == 0:
        return []
    prepare()  # before forking: the workers inherit the imports and tables
    if workers == 1:
        from threadpoolctl import threadpool_limits

        out = []
        with threadpool_limits(limits=1):
            for i, p in enumerate(todo, 1):
                out.append(_analyse_one(str(p)))
                if progress:
                    progress(i, total)
        return out
    with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(), initializer=_init_worker) as pool:
        out = []
        # chunksize 1: files differ in cost (formats, lengths), so hand them out one by one.
        for i, result in enumerate(pool.map(_analyse_one, [str(p) for p in todo], chunksize=1), 1):
            out.append(result)
            if progress:
                progress(i, total)
        return out


def _store_track(conn: sqlite3.Connection, path: Path, features: TrackFeatures, artist: str | None, title: str) -> None:
    """Insert or replace a track row and make sure its item exists."""
    if artist:
        key, item, label = track_key(artist, title), f"{artist} - {title}", f"{artist} – {title}"
    else:
        key, item, label = "file:" + str(path), path.stem, title
    row = conn.execute("SELECT id FROM items WHERE key = ?", (key,)).fetchone()
    if row is None:
        item_id = conn.execute(
            "INSERT INTO items(key, item, label, artist, title) VALUES (?, ?, ?, ?, ?)",
            (key, item, label, artist, title),
        ).lastrowid
    else:
        item_id = row[0]
    st = path.stat()
    conn.execute(
        "INSERT INTO tracks(path, size, mtime_ns, item_id, duration_s, tempo_bpm, key, loudness_lufs, analysed_s,"
        " features) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET size = excluded.size,"
        " mtime_ns = excluded.mtime_ns, item_id = excluded.item_id, duration_s = excluded.duration_s,"
        " tempo_bpm = excluded.tempo_bpm, key = excluded.key, loudness_lufs = excluded.loudness_lufs,"
        " analysed_s = excluded.analysed_s, features = excluded.features",
        (
            str(path),
            st.st_size,
            st.st_mtime_ns,
            item_id,
            features.duration_s,
            features.tempo_bpm,
            features.key,
            features.loudness_lufs,
            features.analysed_s,
            features.vector.astype(np.float32).tobytes(),
        ),
    )


def rebuild_content_index(conn: sqlite3.Connection, folder: Path) -> ContentIndex:
    """Build the voyager index from every track in the database and save it in ``folder``."""
    rows = conn.execute("SELECT id, features FROM tracks ORDER BY id").fetchall()
    width = len(FEATURE_NAMES)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    raw = np.array([np.frombuffer(r[1], dtype=np.float32) for r in rows if len(r[1]) == 4 * width]).reshape(-1, width)
    if len(raw) != len(ids):  # rows from another feature layout: keep only the current ones
        keep = [r[0] for r in rows if len(r[1]) == 4 * width]
        ids = np.array(keep, dtype=np.int64)
    index = ContentIndex(ids, raw)
    index.save(folder)
    return index


def library_tracks(conn: sqlite3.Connection) -> dict[int, dict[str, object]]:
    """Track id → path, item id, tempo, key, loudness for every library track."""
    out: dict[int, dict[str, object]] = {}
    for tid, path, item_id, tempo, key, lufs, artist in conn.execute(
        "SELECT t.id, t.path, t.item_id, t.tempo_bpm, t.key, t.loudness_lufs, i.artist"
        " FROM tracks t JOIN items i ON i.id = t.item_id"
    ):
        out[tid] = {
            "path": path,
            "item_id": item_id,
            "tempo_bpm": tempo,
            "key": key,
            "loudness_lufs": lufs,
            "artist": normalise(artist) if artist else None,
        }
    return out
