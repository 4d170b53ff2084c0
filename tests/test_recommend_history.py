"""Listening-history import: formats, de-duplication, bad rows, malformed files, bounded memory."""

from __future__ import annotations

import json
import sqlite3
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import shared

from tunesmith.errors import InputFileError, UsageError
from tunesmith.recommend.history import (
    connect,
    data_dir,
    default_db,
    detect_format,
    history_stats,
    import_history,
    iter_json_array,
    load_interactions,
)

LASTFM_HEADED = """uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid
1700000000,"14 Nov 2023, 22:13",Radiohead,,OK Computer,,Airbag,
1700000300,"14 Nov 2023, 22:18",Radiohead,,OK Computer,,Paranoid Android,
1700000700,"14 Nov 2023, 22:25",Portishead,,Dummy,,Roads,
1700001000,"14 Nov 2023, 22:30",radiohead,,OK Computer,,AIRBAG,
"""


def spotify_record(ts: str, artist: str | None, track: str | None, ms: int, **extra: object) -> dict[str, object]:
    return {
        "ts": ts,
        "username": "anna",
        "ms_played": ms,
        "master_metadata_track_name": track,
        "master_metadata_album_artist_name": artist,
        "spotify_track_uri": f"spotify:track:{abs(hash((artist, track))) % 10**8}" if track else None,
        **extra,
    }


def test_data_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUNESMITH_DATA", str(tmp_path / "mine"))
    assert data_dir() == tmp_path / "mine" and default_db() == tmp_path / "mine" / "history.sqlite"
    monkeypatch.delenv("TUNESMITH_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db() == tmp_path / "xdg" / "tunesmith" / "history.sqlite"


def test_lastfm_import_is_deduplicated_and_incremental(tmp_path: Path) -> None:
    csv_path = tmp_path / "scrobbles.csv"
    csv_path.write_text(LASTFM_HEADED)
    db = tmp_path / "h.sqlite"
    first = import_history(csv_path, db, user="anna")
    assert first.format == "lastfm"
    assert (first.rows, first.added, first.duplicates, first.bad_rows) == (4, 4, 0, 0)
    assert first.items == 3  # "radiohead - AIRBAG" is the same track as "Radiohead - Airbag"
    again = import_history(csv_path, db, user="anna")
    assert (again.added, again.duplicates) == (0, 4)
    # A newer export holds the old scrobbles and one new: only the new one is added.
    csv_path.write_text(LASTFM_HEADED + '1700002000,"14 Nov 2023, 22:46",Portishead,,Dummy,,Sour Times,\n')
    newer = import_history(csv_path, db, user="anna")
    assert (newer.added, newer.duplicates) == (1, 4)
    data = load_interactions(connect(db))
    u = data.user_index("anna")
    airbag = list(data.items).index("Radiohead - Airbag")
    assert data.plays[u, airbag] == 2.0  # two plays at two times


def test_lastfm_headerless_export(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Björk,Homogenic,Jóga,31 Jan 2021 12:34\nBjörk,Homogenic,Bachelorette,31 Jan 2021 12:40\n")
    assert detect_format(path) == "lastfm"
    report = import_history(path, tmp_path / "h.sqlite")
    assert (report.added, report.users) == (2, 1)  # the user defaults to "me"
    assert "me" in load_interactions(connect(tmp_path / "h.sqlite")).users


def test_lastfm_bad_rows_are_counted_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "scrobbles.csv"
    path.write_text(LASTFM_HEADED + "not-a-time,x,Air,,Moon Safari,,La femme d'argent,\n1700009999,x,,,,,No Artist,\n")
    report = import_history(path, tmp_path / "h.sqlite", user="anna")
    assert report.added == 4 and report.bad_rows == 2
    assert report.bad == {"unreadable time": 1, "no artist": 1}
    assert report.bad_examples[0].startswith("line 6: unreadable time")
    assert report.bad_examples[1].startswith("line 7: no artist")


def test_spotify_extended_history(tmp_path: Path) -> None:
    records = [
        spotify_record("2023-01-01T10:00:00Z", "Massive Attack", "Teardrop", 240_000),
        spotify_record("2023-01-01T10:05:00Z", "Massive Attack", "Angel", 12_000),  # skipped: < 30 s
        spotify_record("2023-01-01T10:06:00Z", None, None, 900_000, episode_name="A podcast"),  # skipped
        spotify_record("yesterday", "Massive Attack", "Angel", 200_000),  # bad time
        spotify_record("2023-01-01T10:20:00Z", "Massive Attack", "Angel", "long"),  # type: ignore[arg-type]
        [1, 2, 3],
    ]
    path = tmp_path / "Streaming_History_Audio_2023.json"
    path.write_text(json.dumps(records))
    db = tmp_path / "h.sqlite"
    report = import_history(path, db)
    assert report.format == "spotify" and report.rows == 6
    assert report.added == 1
    assert report.skipped == {"played < 30 s": 1, "podcast episode": 1}
    assert report.bad == {"unreadable time": 1, "bad ms_played": 1, "record is not a JSON object": 1}
    assert report.bad_examples[0].startswith("record 4:")
    assert "anna" in load_interactions(connect(db)).users  # the username field names the user
    assert import_history(path, db).added == 0


def test_spotify_account_data_history(tmp_path: Path) -> None:
    path = tmp_path / "StreamingHistory0.json"
    path.write_text(
        json.dumps(
            [
                {
                    "endTime": "2022-05-01 10:00",
                    "artistName": "Khruangbin",
                    "trackName": "Maria También",
                    "msPlayed": 190000,
                },
                {
                    "endTime": "2022-05-01 10:04",
                    "artistName": "Khruangbin",
                    "trackName": "Evan Finds",
                    "msPlayed": 5000,
                },
            ]
        )
    )
    report = import_history(path, tmp_path / "h.sqlite", user="bo")
    assert (report.added, sum(report.skipped.values())) == (1, 1)


def test_generic_table_counts_bad_rows_and_updates(tmp_path: Path) -> None:
    path = tmp_path / "user_artists.dat"
    path.write_text("userID\tartistID\tweight\n1\t10\t5\n1\t11\tlots\n2\t10\t-3\n2\n\t11\t4\n2\t12\t0\n3\t10\t7\n")
    db = tmp_path / "h.sqlite"
    report = import_history(path, db)
    assert report.format == "generic"
    assert report.added == 2
    assert report.bad == {
        "play count is not a number": 1,
        "play count is negative or not finite": 1,
        "too few columns": 1,
        "no user": 1,
    }
    assert report.skipped == {"zero plays": 1}
    assert report.bad_examples[0] == "line 3: play count is not a number ('lots')"
    # A newer snapshot: one total changed, one new, the rest the same.
    path.write_text("userID\tartistID\tweight\n1\t10\t9\n3\t10\t7\n3\t11\t1\n")
    again = import_history(path, db)
    assert (again.added, again.updated, again.duplicates) == (1, 1, 1)
    data = load_interactions(connect(db))
    assert data.plays[data.user_index("1"), list(data.items).index("10")] == 9.0


def test_generic_names_file(tmp_path: Path) -> None:
    plays = tmp_path / "ua.tsv"
    plays.write_text("userID\tartistID\tweight\n1\t10\t5\n")
    names = tmp_path / "artists.dat"
    names.write_text("id\tname\turl\n10\tNina Simone\thttp://example.org\n")
    import_history(plays, tmp_path / "h.sqlite", names=names)
    data = load_interactions(connect(tmp_path / "h.sqlite"))
    assert list(data.items) == ["10"] and list(data.labels) == ["Nina Simone"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x00\x01\x02binary\x00", "binary file"),
        (b'[{"ts": "2023-01-01T10:00:00Z", "ms_played": 40000', "truncated"),
        (b'{"not": "an array"}', "not a JSON array"),
        (b"hello world\nthis is prose\n", "cannot tell which export"),
        (b"", "empty file"),
        (b"\xff\xfe\xfa not utf8", "not UTF-8"),
    ],
)
def test_malformed_exports_are_one_line_errors_and_import_nothing(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(content)
    db = tmp_path / "h.sqlite"
    with pytest.raises(InputFileError) as err:
        import_history(path, db)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message
    if db.exists():
        assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM plays").fetchone()[0] == 0


def test_json_broken_midway_rolls_back(tmp_path: Path) -> None:
    good = [spotify_record(f"2023-01-01T10:{m:02d}:00Z", "Air", f"Track {m}", 60_000) for m in range(50)]
    text = json.dumps(good)
    path = tmp_path / "history.json"
    path.write_text(text[:-200] + "}}}]")
    with pytest.raises(InputFileError, match="malformed"):
        import_history(path, tmp_path / "h.sqlite")
    assert history_stats(tmp_path / "h.sqlite")["plays"] == 0  # nothing half-imported


def test_usage_errors(tmp_path: Path) -> None:
    path = tmp_path / "ua.tsv"
    path.write_text("userID\tartistID\tweight\n1\t10\t5\n")
    with pytest.raises(UsageError, match="--user"):
        import_history(path, tmp_path / "h.sqlite", user="x")
    with pytest.raises(UsageError, match="--format"):
        import_history(path, tmp_path / "h.sqlite", format="itunes")
    with pytest.raises(InputFileError, match="no such file"):
        import_history(tmp_path / "missing.csv", tmp_path / "h.sqlite")


def test_json_stream_memory_is_bounded(tmp_path: Path) -> None:
    # ~8 MB of records; the reader must hold one chunk and one record, not the file.
    path = tmp_path / "big.json"
    record = spotify_record("2023-01-01T10:00:00Z", "Artist", "Title", 60_000, conn_country="SE", platform="x" * 400)
    line = json.dumps(record)
    with open(path, "w") as fh:
        fh.write("[\n")
        for i in range(12_000):
            fh.write(("," if i else "") + line + "\n")
        fh.write("]\n")
    size = path.stat().st_size
    tracemalloc.start()
    count = sum(1 for _ in iter_json_array(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 12_000
    assert size > 5_000_000 and peak < 1_000_000, (peak, size)


def _generic_file(path: Path, rows: int) -> None:
    rng = np.random.default_rng(1)
    users = rng.integers(0, 500, rows)
    items = rng.permutation(rows) % 5000  # distinct pairs for the first rows, repeats after
    with open(path, "w") as fh:
        fh.write("userID\titemID\tplays\n")
        for u, i in zip(users, items, strict=True):
            fh.write(f"u{u}\ti{i}\t{1 + (u * 7 + i) % 97}\n")


def test_import_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    peaks = []
    for rows in (6_000, 24_000):
        path = tmp_path / f"plays{rows}.tsv"
        _generic_file(path, rows)
        tracemalloc.start()
        report = import_history(path, tmp_path / f"h{rows}.sqlite")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert report.rows == rows and report.bad_rows == 0
    assert peaks[1] < 1.5 * peaks[0], peaks  # 4x the rows, about the same memory
    assert peaks[1] < 8_000_000


def test_hetrec_file_imports_cleanly(tmp_path: Path) -> None:
    path = shared("lastfm_hetrec2011", "user_artists.dat")
    report = import_history(path, tmp_path / "h.sqlite", names=path.with_name("artists.dat"))
    assert (report.rows, report.added, report.bad_rows, report.users, report.items) == (
        92_834,
        92_834,
        0,
        1_892,
        17_632,
    )
