"""Listening history: read Last.fm, Spotify and generic exports into a local SQLite store.

Three kinds of file are understood:

* **Last.fm scrobbles** (CSV): either headed (``uts,utc_time,artist,…,track,…`` as written
  by the common export tools; columns found by name) or the headerless four columns
  ``artist,album,track,date`` (``31 Jan 2021 12:34``). One row is one play.
* **Spotify streaming history** (JSON array): "Extended streaming history"
  (``ts``, ``master_metadata_track_name``, ``master_metadata_album_artist_name``,
  ``ms_played``, ``spotify_track_uri``, ``username``) or the older account-data
  ``StreamingHistory*.json`` (``endTime``, ``artistName``, ``trackName``, ``msPlayed``).
  One record is one play; plays shorter than 30 s and podcast episodes are skipped
  (counted and reported), the convention Last.fm and Spotify use for a "listen".
* **Generic** ``user,item,plays`` CSV/TSV with a header — the HetRec ``user_artists.dat``
  layout (``userID  artistID  weight``). One row is a total, not a play.

Import is de-duplicated and incremental: a play is keyed by (user, item, time), a total
by (user, item), so importing the same file twice adds nothing, and a newer export adds
only what is new (a changed total replaces the old one and is counted as updated).
Every row that cannot be used is counted with its reason and the first few are quoted
with their line numbers; nothing is dropped silently. A file that is not an export at
all (binary, not JSON, no usable columns) is a one-line error and nothing is imported:
the whole import is one SQLite transaction.

Files are streamed (CSV row by row, JSON record by record through an incremental
decoder), and rows go to SQLite in batches, so memory stays bounded by the number of
distinct users and items, not by the size of the file.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import json
import math
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from tunesmith.errors import InputFileError, UsageError

FORMATS = ("auto", "lastfm", "spotify", "generic")

#: Plays shorter than this are not listens (Spotify's and Last.fm's own threshold), ms.
MIN_PLAY_MS = 30_000
#: Rows sent to SQLite at once; also the granularity of memory use during import.
BATCH_ROWS = 5_000
#: Bad rows quoted in the report (all are counted).
EXAMPLES_KEPT = 5
#: Largest single JSON record accepted by the streaming reader, characters.
MAX_RECORD_CHARS = 1 << 20
_CHUNK_CHARS = 1 << 16
_SEP = "\x1f"  # joins artist and title in item keys: cannot occur in either

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE NOT NULL,   -- normalised identity used for matching
    item TEXT NOT NULL,         -- the id as the imported file wrote it
    label TEXT NOT NULL,        -- what people read
    artist TEXT,
    title TEXT,
    uri TEXT
);
CREATE TABLE IF NOT EXISTS plays (
    user_id INTEGER NOT NULL, item_id INTEGER NOT NULL, ts INTEGER NOT NULL, ms_played INTEGER,
    PRIMARY KEY (user_id, item_id, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals (
    user_id INTEGER NOT NULL, item_id INTEGER NOT NULL, plays REAL NOT NULL,
    PRIMARY KEY (user_id, item_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY,
    path TEXT UNIQUE NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    item_id INTEGER NOT NULL,
    duration_s REAL,
    tempo_bpm REAL,
    key TEXT,
    loudness_lufs REAL,
    analysed_s REAL,
    features BLOB NOT NULL
);
"""


def data_dir() -> Path:
    """Where tunesmith keeps user data: ``$TUNESMITH_DATA`` or ``<XDG data dir>/tunesmith``.

    The XDG data dir is ``$XDG_DATA_HOME`` or ``~/.local/share`` (as for user styles).
    """
    env = os.environ.get("TUNESMITH_DATA")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tunesmith"


def default_db() -> Path:
    """The listening-history database used when ``--db`` is not given."""
    return data_dir() / "history.sqlite"


def models_dir(db: str | os.PathLike[str]) -> Path:
    """Folder beside ``db`` where models trained on it are kept (``history.sqlite`` → ``history.models``)."""
    path = Path(db)
    return path.with_name(path.stem + ".models")


def connect(db: str | os.PathLike[str], create: bool = True) -> sqlite3.Connection:
    """Open (and if asked, create) a history database.

    Parameters
    ----------
    db : str or os.PathLike
        The SQLite file.
    create : bool
        Create the file and its tables when missing; otherwise a missing file is an error.

    Raises
    ------
    InputFileError
        The file is missing (``create=False``) or is not a tunesmith history database.
    """
    path = Path(db)
    if not create and not path.exists():
        raise InputFileError("no listening history yet: import one with `tunesmith history import FILE`", path)
    if path.is_dir():
        raise InputFileError("is a directory, not a history database", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")  # readers (recommend) never block on an import
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise InputFileError(f"not a tunesmith history database ({exc})", path) from None
    return conn


def generation(conn: sqlite3.Connection) -> int:
    """A counter bumped by every change to plays, totals or the library (models compare it)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    return int(row[0]) if row else 0


def bump_generation(conn: sqlite3.Connection) -> None:
    """Record that the data changed (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO meta(key, value) VALUES('generation', '1') "
        "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
    )


def normalise(text: str) -> str:
    """Case- and space-insensitive form of a name, for matching the same track across sources."""
    return " ".join(text.casefold().split())


def track_key(artist: str, title: str) -> str:
    """Item key of a track: normalised artist and title."""
    return normalise(artist) + _SEP + normalise(title)


@dataclass
class ImportReport:
    """What an import did.

    Attributes
    ----------
    file, format, db : str
        The input, the format it was read as, the database written.
    rows : int
        Data rows (or JSON records) read.
    added : int
        New plays or totals stored.
    duplicates : int
        Rows already in the database (or repeated in the file), not stored again.
    updated : int
        Totals (generic format) whose play count changed.
    skipped : dict
        Rows deliberately not counted as listens, by reason (short plays, podcasts).
    bad : dict
        Rows that could not be used, by reason.
    bad_examples : list of str
        The first few bad rows, ``line N: reason``.
    users, items : int
        Distinct users and items in the database after the import.
    seconds : float
        Wall time, s.
    """

    file: str
    format: str
    db: str
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    updated: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    bad: dict[str, int] = field(default_factory=dict)
    bad_examples: list[str] = field(default_factory=list)
    users: int = 0
    items: int = 0
    seconds: float = 0.0

    @property
    def bad_rows(self) -> int:
        """Rows that could not be used."""
        return sum(self.bad.values())

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self) | {"bad_rows": self.bad_rows, "skipped_rows": sum(self.skipped.values())}


class _BadRow(Exception):  # noqa: N818 - a row verdict, not an error: counted, never raised to the user
    """A row that cannot be used (counted by ``reason``, never fatal); ``detail`` quotes the row."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason


class _SkipRow(Exception):  # noqa: N818 - a row verdict, counted
    """A row that is deliberately not a listen (a short play, a podcast)."""


class _Row(NamedTuple):
    """One parsed row: a play (``ts`` set) or a total (``plays`` set)."""

    user: str
    key: str
    item: str
    label: str
    artist: str | None
    title: str | None
    uri: str | None
    ts: int | None = None
    ms_played: int | None = None
    plays: float | None = None


# ---------------------------------------------------------------------------------------
# Reading files


def _open_text(path: Path) -> Iterator[str]:
    """Yield the file's text in chunks (UTF-8, BOM dropped); binary files are refused."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    with open(path, "rb") as fh:
        first = True
        while True:
            raw = fh.read(_CHUNK_CHARS)
            if first and b"\x00" in raw[:4096]:
                raise InputFileError("binary file, not a listening-history export (CSV, TSV or JSON)", path)
            first = False
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                raise InputFileError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
            if text:
                yield text
            if not raw:
                return


class _Lines:
    """Text lines from chunks, counting line numbers (for error messages)."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks
        self._rest = ""
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for chunk in self._chunks:
            data = self._rest + chunk
            lines = data.split("\n")
            self._rest = lines.pop()
            for line in lines:
                self.line += 1
                yield line + "\n"
        if self._rest:
            self.line += 1
            yield self._rest


def iter_json_array(path: Path) -> Iterator[tuple[int, object]]:
    """Yield ``(index, record)`` from a file holding one JSON array, without loading it whole.

    Records are decoded one at a time with :meth:`json.JSONDecoder.raw_decode` from a
    sliding text buffer, so memory holds one chunk plus one record.

    Raises
    ------
    InputFileError
        The file is not a JSON array, is cut short, or has a syntax error (with its offset).
    """
    decoder = json.JSONDecoder()
    chunks = _open_text(path)
    buf = ""
    consumed = 0  # characters dropped from the front of buf, for error offsets
    eof = False

    def more() -> bool:
        nonlocal buf, eof
        if eof:
            return False
        try:
            buf += next(chunks)
        except StopIteration:
            eof = True
            return False
        return True

    def skip_ws(pos: int) -> int:
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf) or not more():
                return pos

    pos = skip_ws(0)
    if pos >= len(buf) or buf[pos] != "[":
        raise InputFileError("not a JSON array of plays (a Spotify streaming-history file starts with '[')", path)
    pos = skip_ws(pos + 1)
    index = 0
    if pos < len(buf) and buf[pos] == "]":
        return
    while True:
        while True:
            try:
                record, end = decoder.raw_decode(buf, pos)
                # A number or literal at the very end of the buffer may continue in the next chunk.
                if end >= len(buf) and not eof and more():
                    continue
                break
            except RecursionError:
                raise InputFileError(f"JSON nested too deeply at character {consumed + pos}", path) from None
            except json.JSONDecodeError as exc:
                if len(buf) - pos > MAX_RECORD_CHARS:
                    raise InputFileError(
                        f"malformed JSON at character {consumed + exc.pos} ({exc.msg})", path
                    ) from None
                if not more():
                    raise InputFileError(
                        f"malformed or truncated JSON at character {consumed + exc.pos} ({exc.msg})", path
                    ) from None
        yield index, record
        index += 1
        pos = skip_ws(end)
        if pos >= len(buf):
            raise InputFileError("truncated JSON: the array is not closed", path)
        if buf[pos] == "]":
            if skip_ws(pos + 1) < len(buf):
                raise InputFileError(f"unexpected data after the JSON array at character {consumed + pos + 1}", path)
            return
        if buf[pos] != ",":
            raise InputFileError(f"malformed JSON at character {consumed + pos}: expected ',' or ']'", path)
        pos = skip_ws(pos + 1)
        if pos > _CHUNK_CHARS:  # drop what is decoded so the buffer stays one chunk or so
            consumed += pos
            buf = buf[pos:]
            pos = 0


def detect_format(path: Path) -> str:
    """Guess an export's format from its first bytes: ``spotify``, ``lastfm`` or ``generic``.

    Raises
    ------
    InputFileError
        Nothing recognisable (the message suggests ``--format``).
    """
    head = ""
    with contextlib.closing(_open_text(path)) as chunks:  # closes the file when we stop early
        for chunk in chunks:
            head += chunk
            if "\n" in head or len(head) > 1 << 20:
                break
    text = head.lstrip()
    if not text:
        raise InputFileError("empty file: no listening history in it", path)
    if text[0] in "[{":
        return "spotify"
    first = text.splitlines()[0]
    delimiter = "\t" if "\t" in first else ","
    header = _header_fields(first, delimiter, path)
    if _find_column(header, _LASTFM_TRACK) is not None and _find_column(header, _LASTFM_ARTIST) is not None:
        return "lastfm"
    if len(header) >= 3 and _find_column(header, _GENERIC_USER) is not None:
        return "generic"
    if len(header) == 4 and _parse_lastfm_time(header[3]) is not None:
        return "lastfm"  # headerless artist,album,track,date
    if len(header) == 3 and not _is_number(header[2]):
        return "generic"
    raise InputFileError(
        "cannot tell which export this is (expected a Last.fm CSV, a Spotify JSON array or a "
        "user,item,plays table with a header); use --format",
        path,
    )


def _header_fields(line: str, delimiter: str, path: Path) -> list[str]:
    """The first line's fields, trimmed and case-folded (a lone carriage return in it is an error)."""
    try:
        return [h.strip().casefold() for h in next(csv.reader([line], delimiter=delimiter), [])]
    except csv.Error as exc:
        raise InputFileError(f"unreadable first line ({exc})", path) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_GENERIC_USER = ("userid", "user_id", "user", "username", "listener")
_GENERIC_ITEM = ("itemid", "item_id", "item", "artistid", "artist_id", "trackid", "track_id", "songid", "artist")
_GENERIC_PLAYS = ("plays", "playcount", "play_count", "weight", "count", "listens", "scrobbles")
_LASTFM_ARTIST = ("artist", "artist_name", "artistname")
_LASTFM_TRACK = ("track", "track_name", "trackname", "title", "song", "name")
_LASTFM_TIME = ("uts", "timestamp", "date", "utc_time", "time", "datetime", "played_at")


def _find_column(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


#: 9999-12-31 23:59:59 UTC, the last second a calendar date can name, s.
_LAST_TIMESTAMP = 253_402_300_799
#: Longest single play accepted, ms (a year: anything longer is a damaged record).
_LONGEST_PLAY_MS = 365 * 24 * 3600 * 1000


def _parse_lastfm_time(text: str) -> int | None:
    """Seconds since the epoch (UTC) from the time formats Last.fm exports use, or None."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        # Only ASCII digits are a number here ("²" is a digit to str.isdigit but not to int), and
        # only up to the year 9999: a longer run of digits is not a time (and overflows SQLite).
        if not text.isascii() or len(text) > 16:
            return None
        value = int(text)
        value = value // 1000 if value > 10**11 else value  # milliseconds from some tools
        return value if value <= _LAST_TIMESTAMP else None
    for fmt in ("%d %b %Y %H:%M", "%d %b %Y, %H:%M", "%d %B %Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return int(dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC).timestamp())
        except ValueError:
            continue
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return int(stamp.timestamp())


def _track_row(user: str, artist: str, title: str, ts: int, ms: int | None, uri: str | None) -> _Row:
    artist, title = " ".join(artist.split()), " ".join(title.split())
    if not artist:
        raise _BadRow("no artist")
    if not title:
        raise _BadRow("no track title")
    return _Row(
        user, track_key(artist, title), f"{artist} - {title}", f"{artist} – {title}", artist, title, uri, ts, ms
    )


def _lastfm_rows(path: Path, user: str, lines: _Lines) -> Iterator[_Row | Exception]:
    reader = csv.reader(lines)
    columns: tuple[int, int, int] | None = None
    first = True
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _BadRow("unreadable CSV row", str(exc))
            continue
        if not fields or not any(f.strip() for f in fields):
            continue
        if first:
            first = False
            header = [f.strip().casefold() for f in fields]
            a, t, w = (_find_column(header, n) for n in (_LASTFM_ARTIST, _LASTFM_TRACK, _LASTFM_TIME))
            if a is not None and t is not None:
                if w is None:
                    raise InputFileError("Last.fm CSV has no time column (uts, timestamp or date)", path)
                columns = (a, t, w)
                continue
            if len(fields) != 4:
                raise InputFileError(
                    "not a Last.fm scrobble export (expected a header with artist and track, "
                    "or the four columns artist,album,track,date)",
                    path,
                )
            columns = (0, 2, 3)
        assert columns is not None
        try:
            if len(fields) <= max(columns):
                raise _BadRow("too few columns", f"{len(fields)}, expected {max(columns) + 1}")
            ts = _parse_lastfm_time(fields[columns[2]])
            if ts is None:
                raise _BadRow("unreadable time", repr(fields[columns[2]]))
            yield _track_row(user, fields[columns[0]], fields[columns[1]], ts, None, None)
        except _BadRow as exc:
            yield exc


def _spotify_rows(path: Path, user: str | None) -> Iterator[_Row | Exception]:
    for _, rec in iter_json_array(path):
        try:
            if not isinstance(rec, dict):
                raise _BadRow("record is not a JSON object")
            if "ts" in rec:  # extended streaming history
                title = rec.get("master_metadata_track_name")
                artist = rec.get("master_metadata_album_artist_name")
                if title is None and (rec.get("episode_name") or rec.get("spotify_episode_uri")):
                    raise _SkipRow("podcast episode")
                if title is None and rec.get("audiobook_title"):
                    raise _SkipRow("audiobook")
                when, ms, uri = rec.get("ts"), rec.get("ms_played"), rec.get("spotify_track_uri")
                who = user or rec.get("username") or "me"
            elif "endTime" in rec:  # account-data StreamingHistory*.json
                title, artist = rec.get("trackName"), rec.get("artistName")
                when, ms, uri = rec.get("endTime"), rec.get("msPlayed"), None
                who = user or "me"
            else:
                raise _BadRow("neither 'ts' nor 'endTime': not a Spotify play")
            if not isinstance(title, str) or not isinstance(artist, str):
                raise _BadRow("no track or artist name")
            if not isinstance(ms, (int, float)) or isinstance(ms, bool) or not 0 <= ms <= _LONGEST_PLAY_MS:
                raise _BadRow("bad ms_played", repr(ms))
            if ms < MIN_PLAY_MS:
                raise _SkipRow(f"played < {MIN_PLAY_MS // 1000} s")
            ts = _parse_lastfm_time(when) if isinstance(when, str) else None
            if ts is None:
                raise _BadRow("unreadable time", repr(when))
            yield _track_row(str(who), artist, title, ts, int(ms), uri if isinstance(uri, str) else None)
        except (_BadRow, _SkipRow) as exc:
            yield exc


def _generic_rows(path: Path, lines: _Lines, names: dict[str, str]) -> Iterator[_Row | Exception]:
    it = iter(lines)
    try:
        first = next(it)
    except StopIteration:
        raise InputFileError("empty file: no listening history in it", path) from None
    delimiter = "\t" if "\t" in first else ","
    header = _header_fields(first, delimiter, path)
    u, i, p = (_find_column(header, n) for n in (_GENERIC_USER, _GENERIC_ITEM, _GENERIC_PLAYS))
    if (u is None or i is None or p is None) and len(header) == 3 and not _is_number(header[2]):
        u, i, p = 0, 1, 2  # unnamed columns: user, item, plays by position
    if u is None or i is None or p is None:
        raise InputFileError(
            f"header {first.strip()!r} does not name user, item and plays columns (e.g. userID, artistID, weight)",
            path,
        )
    need = max(u, i, p) + 1
    reader = csv.reader(it, delimiter=delimiter)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _BadRow("unreadable CSV row", str(exc))
            continue
        if len(fields) <= 1 and not (fields and fields[0].strip()):
            continue  # blank line
        try:
            if len(fields) < need:
                raise _BadRow("too few columns", f"{len(fields)}, expected {need}")
            user, item = fields[u].strip(), fields[i].strip()
            if not user:
                raise _BadRow("no user")
            if not item:
                raise _BadRow("no item")
            try:
                plays = float(fields[p])
            except ValueError:
                raise _BadRow("play count is not a number", repr(fields[p].strip())) from None
            if not math.isfinite(plays) or plays < 0:
                raise _BadRow("play count is negative or not finite", repr(fields[p].strip()))
            if plays == 0:
                raise _SkipRow("zero plays")
            label = names.get(item, item)
            yield _Row(user, item, item, label, None, None, None, plays=plays)
        except (_BadRow, _SkipRow) as exc:
            yield exc


def read_names(path: str | os.PathLike[str]) -> dict[str, str]:
    """Item names from a CSV/TSV whose first two columns are id and name (HetRec ``artists.dat``).

    Raises
    ------
    InputFileError
        Missing or not a two-column table.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError("no such file", p)
    lines = _Lines(_open_text(p))
    out: dict[str, str] = {}
    it = iter(lines)
    first = next(it, "")
    delimiter = "\t" if "\t" in first else ","
    rows = csv.reader(it, delimiter=delimiter)
    with contextlib.suppress(csv.Error):
        for fields in rows:
            if len(fields) >= 2 and fields[0].strip():
                out[fields[0].strip()] = fields[1].strip()
    if not out:
        raise InputFileError("no id,name rows in the names file", p)
    return out


# ---------------------------------------------------------------------------------------
# Import


def import_history(
    file: str | os.PathLike[str],
    db: str | os.PathLike[str] | None = None,
    format: str = "auto",
    user: str | None = None,
    names: str | os.PathLike[str] | None = None,
) -> ImportReport:
    """Import a listening-history export into the database, incrementally.

    Parameters
    ----------
    file : str or os.PathLike
        Last.fm CSV, Spotify JSON or generic ``user,item,plays`` table.
    db : str or os.PathLike, optional
        SQLite database (created if missing); default :func:`default_db`.
    format : {"auto", "lastfm", "spotify", "generic"}
        How to read ``file``; ``auto`` looks at its first bytes.
    user : str, optional
        Whose history a Last.fm or Spotify file is (default: Spotify's ``username``
        field, else ``"me"``). Generic files name their users, so it is refused there.
    names : str or os.PathLike, optional
        For generic files: an ``id,name`` table (HetRec ``artists.dat``) giving items names.

    Returns
    -------
    ImportReport
        Counts of rows read, added, duplicated, updated, skipped and bad (with reasons).

    Raises
    ------
    InputFileError
        The file is missing, binary, not an export of the chosen kind, or malformed
        as a whole (nothing is imported then).
    UsageError
        Unknown format, or ``--user`` given for a generic file.
    """
    t0 = time.perf_counter()
    path = Path(file)
    if format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if not path.exists():
        raise InputFileError("no such file", path)
    if path.is_dir():
        raise InputFileError("is a directory, not a listening-history export", path)
    db_path = Path(db) if db is not None else default_db()
    if db_path.exists() and db_path.resolve() == path.resolve():
        raise UsageError("the history file and the database are the same file", path)
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "generic" and user is not None:
        raise UsageError("--user is for Last.fm and Spotify exports; a generic file names its users", path)
    if names is not None and fmt != "generic":
        raise UsageError("--names is for generic user,item,plays files", path)
    name_map = read_names(names) if names is not None else {}
    report = ImportReport(file=str(path), format=fmt, db=str(db_path))
    lines = _Lines(_open_text(path))
    if fmt == "lastfm":
        rows: Iterable[_Row | Exception] = _lastfm_rows(path, user or "me", lines)
    elif fmt == "spotify":
        rows = _spotify_rows(path, user)
    else:
        rows = _generic_rows(path, lines, name_map)

    conn = connect(db_path)
    try:
        with conn:  # one transaction: a file that turns out malformed imports nothing
            _store(conn, rows, report, lines, fmt)
            if report.added or report.updated:
                bump_generation(conn)
        report.users = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        report.items = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    finally:
        conn.close()
    if report.rows == 0:
        raise InputFileError("no plays in this file (it holds no data rows)", path)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def _store(
    conn: sqlite3.Connection, rows: Iterable[_Row | Exception], report: ImportReport, lines: _Lines, fmt: str
) -> None:
    users = dict(conn.execute("SELECT name, id FROM users"))
    items = dict(conn.execute("SELECT key, id FROM items"))
    bad: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    plays_batch: list[tuple[int, int, int, int | None]] = []
    totals_batch: list[tuple[int, int, float]] = []

    def user_id(name: str) -> int:
        uid = users.get(name)
        if uid is None:
            uid = conn.execute("INSERT INTO users(name) VALUES (?)", (name,)).lastrowid
            users[name] = uid
        return uid

    def item_id(row: _Row) -> int:
        iid = items.get(row.key)
        if iid is None:
            iid = conn.execute(
                "INSERT INTO items(key, item, label, artist, title, uri) VALUES (?, ?, ?, ?, ?, ?)",
                (row.key, row.item, row.label, row.artist, row.title, row.uri),
            ).lastrowid
            items[row.key] = iid
        return iid

    def flush() -> None:
        if plays_batch:
            cur = conn.executemany("INSERT OR IGNORE INTO plays VALUES (?, ?, ?, ?)", plays_batch)
            report.added += cur.rowcount
            report.duplicates += len(plays_batch) - cur.rowcount
            plays_batch.clear()
        if totals_batch:
            before = conn.execute("SELECT COUNT(*) FROM totals").fetchone()[0]
            cur = conn.executemany(
                "INSERT INTO totals VALUES (?, ?, ?) ON CONFLICT(user_id, item_id) "
                "DO UPDATE SET plays = excluded.plays WHERE plays != excluded.plays",
                totals_batch,
            )
            added = conn.execute("SELECT COUNT(*) FROM totals").fetchone()[0] - before
            report.added += added
            report.updated += cur.rowcount - added
            report.duplicates += len(totals_batch) - cur.rowcount
            totals_batch.clear()

    for row in rows:
        report.rows += 1
        if isinstance(row, _SkipRow):
            skipped[str(row)] += 1
            continue
        if isinstance(row, _BadRow):
            bad[row.reason] += 1
            if len(report.bad_examples) < EXAMPLES_KEPT:
                where = f"record {report.rows}" if fmt == "spotify" else f"line {lines.line}"
                report.bad_examples.append(f"{where}: {row}")
            continue
        assert isinstance(row, _Row)
        uid, iid = user_id(row.user), item_id(row)
        if row.plays is not None:
            # A pair repeated within the file is upserted like one from an older import:
            # an equal count is a duplicate, a different one an update (the later row wins).
            totals_batch.append((uid, iid, row.plays))
        else:
            plays_batch.append((uid, iid, int(row.ts or 0), row.ms_played))
        if len(plays_batch) + len(totals_batch) >= BATCH_ROWS:
            flush()
    flush()
    report.bad = dict(bad.most_common())
    report.skipped = dict(skipped.most_common())


# ---------------------------------------------------------------------------------------
# Reading back


@dataclass
class Catalogue:
    """Who and what the database knows, indexed like the play matrix.

    Row ``u`` of every matrix is user id ``u + 1`` and column ``i`` item id ``i + 1``
    (database ids never change, so models can be updated in place as data grows).

    Attributes
    ----------
    users : numpy.ndarray
        User names by row (``""`` for ids with no row).
    items : numpy.ndarray
        Item ids as imported, by column.
    labels : numpy.ndarray
        Readable item names by column.
    artists : numpy.ndarray
        Normalised artist per column; the item's own key when the source has none
        (HetRec items are artists), so a per-artist cap treats such items one by one.
    artist_names : numpy.ndarray
        Artist as written (None when the source has none).
    uris : numpy.ndarray
        Streaming URI per column (Spotify track URI), or None.
    generation : int
        The database generation this was read at.
    """

    users: np.ndarray
    items: np.ndarray
    labels: np.ndarray
    artists: np.ndarray
    artist_names: np.ndarray
    uris: np.ndarray
    generation: int

    def user_index(self, name: str) -> int | None:
        """Row of user ``name``, or None."""
        hits = np.flatnonzero(self.users == name)
        return int(hits[0]) if len(hits) else None


@dataclass
class Interactions(Catalogue):
    """A :class:`Catalogue` with the user × item play counts.

    Attributes
    ----------
    plays : scipy.sparse.csr_matrix
        ``float32`` play counts: plays counted one by one plus imported totals.
    """

    plays: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0), dtype=np.float32))


def load_catalogue(conn: sqlite3.Connection) -> Catalogue:
    """Users and items of the database (fast: no play counts)."""
    gen = generation(conn)
    n_users = conn.execute("SELECT COALESCE(MAX(id), 0) FROM users").fetchone()[0]
    n_items = conn.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]
    users = np.full(n_users, "", dtype=object)
    for uid, name in conn.execute("SELECT id, name FROM users"):
        users[uid - 1] = name
    items = np.full(n_items, "", dtype=object)
    labels = np.full(n_items, "", dtype=object)
    artists = np.full(n_items, "", dtype=object)
    names = np.full(n_items, None, dtype=object)
    uris = np.full(n_items, None, dtype=object)
    for iid, key, item, label, artist, uri in conn.execute("SELECT id, key, item, label, artist, uri FROM items"):
        items[iid - 1], labels[iid - 1], names[iid - 1], uris[iid - 1] = item, label, artist, uri
        artists[iid - 1] = normalise(artist) if artist else _SEP + key
    return Catalogue(users, items, labels, artists, names, uris, gen)


def load_plays(conn: sqlite3.Connection, shape: tuple[int, int]) -> sp.csr_matrix:
    """Play counts per (user, item): plays counted one by one plus imported totals."""
    rows = np.array(
        conn.execute(
            "SELECT user_id, item_id, SUM(n) FROM ("
            " SELECT user_id, item_id, COUNT(*) AS n FROM plays GROUP BY user_id, item_id"
            " UNION ALL SELECT user_id, item_id, plays FROM totals) GROUP BY user_id, item_id"
        ).fetchall(),
        dtype=np.float64,
    ).reshape(-1, 3)
    plays = sp.csr_matrix(
        (rows[:, 2].astype(np.float32), (rows[:, 0].astype(np.int64) - 1, rows[:, 1].astype(np.int64) - 1)),
        shape=shape,
    )
    plays.sort_indices()
    return plays


def load_interactions(conn: sqlite3.Connection) -> Interactions:
    """The catalogue and every user's play counts, read in one transaction."""
    conn.execute("BEGIN")  # one read snapshot: the counts match the catalogue even during an import
    try:
        cat = load_catalogue(conn)
        plays = load_plays(conn, (len(cat.users), len(cat.items)))
    finally:
        conn.rollback()
    return Interactions(
        cat.users, cat.items, cat.labels, cat.artists, cat.artist_names, cat.uris, cat.generation, plays
    )


def history_stats(db: str | os.PathLike[str] | None = None) -> dict[str, object]:
    """Counts of users, items, plays, totals and library tracks in a database."""
    path = Path(db) if db is not None else default_db()
    conn = connect(path, create=False)
    try:
        q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731 - a local shorthand
        return {
            "db": str(path),
            "users": q("SELECT COUNT(*) FROM users"),
            "items": q("SELECT COUNT(*) FROM items"),
            "plays": q("SELECT COUNT(*) FROM plays"),
            "totals": q("SELECT COUNT(*) FROM totals"),
            "library_tracks": q("SELECT COUNT(*) FROM tracks"),
            "generation": generation(conn),
        }
    finally:
        conn.close()
