"""The recommendation commands: ``history``, ``library``, ``recommend``, ``playlist``, ``similar``.

Kept apart from :mod:`tunesmith.cli` and added to its app by :func:`register`. Like every
command they only parse, call :mod:`tunesmith.recommend` and print: errors surface as
``TunesmithError`` and ``tunesmith.cli.main`` prints them as one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tunesmith.errors import UsageError

history_app = typer.Typer(help="Import and inspect listening histories.", no_args_is_help=True)
library_app = typer.Typer(help="Index a folder of audio for content-based recommendations.", no_args_is_help=True)

_Db = Annotated[
    Path | None,
    typer.Option(
        "--db", help="History database (default: $TUNESMITH_DATA or ~/.local/share/tunesmith/history.sqlite)."
    ),
]
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
_User = Annotated[str | None, typer.Option("--user", help="User name as imported.")]
_Count = Annotated[int, typer.Option("-n", help="How many items.")]
_Diversity = Annotated[float, typer.Option("--diversity", help="0-1: trade relevance for variety (MMR).")]
_PerArtist = Annotated[int | None, typer.Option("--per-artist", help="At most this many items per artist.")]


def _consoles() -> tuple[Any, Any]:
    from tunesmith.cli import stderr, stdout

    return stdout, stderr


def _print_json(doc: object) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False))


@history_app.command("import")
def history_import(
    file: Annotated[Path, typer.Argument(help="Last.fm CSV, Spotify JSON, or a user,item,plays CSV/TSV.")],
    format: Annotated[str, typer.Option("--format", help="auto, lastfm, spotify or generic.")] = "auto",
    user: _User = None,
    names: Annotated[
        Path | None, typer.Option("--names", help="Generic files: an id,name table naming the items (artists.dat).")
    ] = None,
    db: _Db = None,
    json_out: _Json = False,
) -> None:
    """Import a listening history (de-duplicated: re-importing adds only what is new)."""
    from tunesmith.recommend.history import import_history

    report = import_history(file, db, format=format, user=user, names=names)
    doc = report.to_dict()
    if json_out:
        _print_json(doc)
        return
    stdout, stderr = _consoles()
    stdout.print(
        f"{report.file} ({report.format}): {report.rows} rows read, {report.added} added, "
        f"{report.duplicates} already there, {report.updated} updated · {report.users} users, "
        f"{report.items} items in {report.db}",
        highlight=False,
    )
    for reason, count in report.skipped.items():
        stdout.print(f"  skipped {count}: {reason}", highlight=False)
    if report.bad_rows:
        stderr.print(
            f"tunesmith: warning: {report.bad_rows} bad rows not imported: "
            + "; ".join(f"{c} × {r}" for r, c in report.bad.items()),
            markup=False,
            highlight=False,
        )
        for example in report.bad_examples:
            stderr.print(f"  {example}", markup=False, highlight=False)


@history_app.command("stats")
def history_stats_cmd(db: _Db = None, json_out: _Json = False) -> None:
    """Count the users, items, plays and library tracks in the database."""
    from tunesmith.recommend.history import history_stats

    doc = history_stats(db)
    if json_out:
        _print_json(doc)
        return
    stdout, _ = _consoles()
    for k, v in doc.items():
        stdout.print(f"[bold]{k}[/]: {v}", highlight=False)


@library_app.command("scan")
def library_scan(
    folder: Annotated[Path, typer.Argument(help="Folder of audio files (scanned recursively).")],
    db: _Db = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Processes (default: one per core).")] = None,
    json_out: _Json = False,
) -> None:
    """Analyse new and changed audio files (excerpts) and index them for "more like this"."""
    from tunesmith.cli import _progress_bar
    from tunesmith.recommend.library import scan_library

    bar = _progress_bar("scan", enabled=not json_out)
    if bar is not None:
        with bar:
            task = bar.add_task(str(folder), total=None)
            report = scan_library(
                folder, db, workers, lambda done, total: bar.update(task, completed=done, total=total)
            )
    else:
        report = scan_library(folder, db, workers)
    if json_out:
        _print_json(report.to_dict())
        return
    stdout, stderr = _consoles()
    stdout.print(
        f"{report.folder}: {report.found} audio files, {report.analysed} analysed, {report.unchanged} unchanged, "
        f"{report.removed} removed · {report.tracks} tracks in the library · {report.seconds:.1f} s "
        f"({report.files_per_s:.1f} files/s)",
        highlight=False,
    )
    for fail in report.failed:
        stderr.print(f"tunesmith: warning: {fail['path']}: skipped: {fail['reason']}", markup=False, highlight=False)


def _print_items(title: str, items: list[Any], explain: bool) -> None:
    from rich.table import Table

    stdout, _ = _consoles()
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("score", justify="right")
    table.add_column("from")
    if explain:
        table.add_column("why")
    for i, r in enumerate(items, 1):
        row = [str(i), r.label, f"{r.score:.3f}", r.source]
        if explain:
            row.append(r.explanation)
        table.add_row(*row)
    stdout.print(table)


def recommend_cmd(
    user: _User = None,
    all_users: Annotated[
        bool, typer.Option("--all-users", help="Every user, one JSON line each (evaluation).")
    ] = False,
    n: _Count = 30,
    explain: Annotated[bool, typer.Option("--explain", help="Say why each item is recommended.")] = False,
    diversity: _Diversity = 0.0,
    per_artist: _PerArtist = None,
    retrain: Annotated[bool, typer.Option("--retrain", help="Refit the models from scratch first.")] = False,
    db: _Db = None,
    json_out: _Json = False,
) -> None:
    """Recommend items a user has not played yet (collaborative + audio content, fused)."""
    from tunesmith.recommend.hybrid import Recommender

    if (user is None) == (not all_users):
        raise UsageError("give either --user U or --all-users")
    if n < 1:
        raise UsageError(f"-n must be at least 1, got {n}")
    rec = Recommender(db, retrain=retrain)
    if all_users:
        for name, items in rec.recommend_all(n, diversity):
            print(
                json.dumps({"user": name, "items": items}, ensure_ascii=False)
                if json_out
                else f"{name}: {' '.join(items)}"
            )
        return
    assert user is not None
    report = rec.recommend(user, n=n, explain=explain, diversity=diversity, per_artist=per_artist)
    _, stderr = _consoles()
    for note in report.notes:
        stderr.print(f"tunesmith: note: {note}", markup=False, highlight=False, soft_wrap=True)
    if json_out:
        _print_json(report.to_dict())
        return
    _print_items(f"for {user}", report.items, explain)


def playlist_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="playlist.m3u8 or playlist.json.")],
    user: Annotated[str, typer.Option("--user", help="Whose playlist.")],
    name: Annotated[str, typer.Option("--name", help='Playlist title, e.g. "Discover Weekly".')] = "Discover Weekly",
    n: _Count = 30,
    diversity: _Diversity = 0.3,
    per_artist: Annotated[int, typer.Option("--per-artist", help="At most this many items per artist.")] = 2,
    db: _Db = None,
    json_out: _Json = False,
) -> None:
    """Make a playlist of new items for a user: diverse, capped per artist, each entry explained."""
    from tunesmith.provenance import write_recipe
    from tunesmith.recommend.history import default_db
    from tunesmith.recommend.hybrid import Recommender
    from tunesmith.recommend.playlist import make_playlist, write_playlist

    if n < 1:
        raise UsageError(f"-n must be at least 1, got {n}")
    db_path = db if db is not None else default_db()
    rec = Recommender(db_path)
    playlist = make_playlist(rec, user, name, n=n, diversity=diversity, per_artist=per_artist)
    write_playlist(playlist, output, inputs=[db_path])
    write_recipe(
        output,
        "playlist",
        {
            "user": user,
            "name": name,
            "n": n,
            "diversity": diversity,
            "per_artist": per_artist,
            "db": str(db_path),
            "db_generation": playlist.generation,
            "model": rec.model_info.get("params"),
        },
        seed=(rec.model_info.get("params") or {}).get("seed"),
    )
    stdout, stderr = _consoles()
    for note in playlist.notes:
        stderr.print(f"tunesmith: note: {note}", markup=False, highlight=False, soft_wrap=True)
    if json_out:
        _print_json(playlist.to_dict() | {"file": str(output)})
        return
    playable = sum(1 for e in playlist.entries if e.path or e.uri)
    stdout.print(
        f"[bold]{name}[/] for {user}: {len(playlist.entries)} entries ({playable} playable files) → {output}",
        highlight=False,
    )
    for i, e in enumerate(playlist.entries, 1):
        stdout.print(f"  {i:2d}. {e.label}  [dim]{e.explanation}[/]", highlight=False)


def similar_cmd(
    item: Annotated[str, typer.Argument(help="An item id, name, 'Artist - Title' or a library file.")],
    n: _Count = 10,
    db: _Db = None,
    json_out: _Json = False,
) -> None:
    """More like this: items played by the same listeners and tracks that sound alike."""
    from tunesmith.recommend.hybrid import Recommender

    anchor, items = Recommender(db).similar(item, n)
    if json_out:
        from dataclasses import asdict

        _print_json({"item": asdict(anchor), "similar": [asdict(r) for r in items]})
        return
    _print_items(f"like {anchor.label}", items, explain=True)


def register(app: typer.Typer) -> None:
    """Add the recommendation commands to the ``tunesmith`` app."""
    app.add_typer(history_app, name="history")
    app.add_typer(library_app, name="library")
    app.command("recommend")(recommend_cmd)
    app.command("playlist")(playlist_cmd)
    app.command("similar")(similar_cmd)
