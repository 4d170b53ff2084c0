"""The Discover page's jobs: import a listening history, make a playlist, find "more like this".

The studio keeps its own history database (``<data dir>/discover/history.sqlite``, models
beside it), so what a page imports never mixes with the command line's default database. The
model is fitted in the worker, never in a request.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from tunesmith.web.worker import JobContext

ARGV = ["tunesmith", "serve"]


def history_db(data_dir: Path) -> Path:
    """The studio's listening-history database."""
    return data_dir / "discover" / "history.sqlite"


def users(db: Path, limit: int = 500) -> list[str]:
    """Names of the users in ``db`` (none when it does not exist yet), sorted, at most ``limit``."""
    if not db.is_file():
        return []
    from tunesmith.recommend.history import connect

    conn = connect(db, create=False)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM users ORDER BY name LIMIT ?", (limit,))]
    finally:
        conn.close()


def run_import(ctx: JobContext) -> dict[str, Any]:
    """Import ``in/<input>`` (Last.fm CSV, Spotify JSON, generic table) into the studio's history."""
    from tunesmith.recommend.history import import_history

    p = ctx.params
    db = history_db(ctx.data_dir)
    db.parent.mkdir(parents=True, exist_ok=True)
    ctx.progress("importing", 0.1, force=True)
    names = ctx.in_dir / p["names"] if p.get("names") else None
    report = import_history(
        ctx.in_dir / p["input"], db, format=p.get("format", "auto"), user=p.get("user"), names=names
    )
    doc = report.to_dict()
    doc["file"] = p["input"]
    doc["db"] = db.name
    return {"import": doc, "users": users(db)}


def run_playlist(ctx: JobContext) -> dict[str, Any]:
    """A playlist for ``user``, each entry explained; written as ``out/playlist.json`` and ``.m3u8``."""
    from tunesmith.provenance import write_recipe
    from tunesmith.recommend.hybrid import Recommender
    from tunesmith.recommend.playlist import make_playlist, write_playlist

    p = ctx.params
    db = history_db(ctx.data_dir)
    ctx.progress("learning from the history", 0.1, force=True)
    rec = Recommender(db)
    ctx.progress("choosing", 0.7, force=True)
    playlist = make_playlist(
        rec,
        p["user"],
        p.get("name") or "Discover Weekly",
        n=int(p.get("n", 30)),
        diversity=float(p.get("diversity", 0.3)),
        per_artist=p.get("per_artist", 2),
    )
    params = {k: p.get(k) for k in ("user", "name", "n", "diversity", "per_artist")} | {
        "db_generation": playlist.generation,
        "model": rec.model_info.get("params"),
    }
    seed = (rec.model_info.get("params") or {}).get("seed")
    for name in ("playlist.json", "playlist.m3u8"):
        write_playlist(playlist, ctx.out_dir / name, inputs=[db])
        write_recipe(ctx.out_dir / name, "playlist", params, seed=seed, argv=ARGV)
    return {
        "playlist": playlist.to_dict(),
        "model": rec.model_info,
        "files": {"json": "playlist.json", "m3u8": "playlist.m3u8"},
    }


def run_similar(ctx: JobContext) -> dict[str, Any]:
    """Items most like ``item``: co-listening and sound, each with why."""
    from tunesmith.recommend.hybrid import Recommender

    p = ctx.params
    ctx.progress("learning from the history", 0.1, force=True)
    anchor, items = Recommender(history_db(ctx.data_dir)).similar(str(p["item"]), int(p.get("n", 10)))
    return {"item": asdict(anchor), "similar": [asdict(r) for r in items]}
