"""The Discover page's API: import a history, the users in it, a playlist, "more like this"."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tunesmith.web.deps import StudioDep, accepted, unique_inputs, upload_file

router = APIRouter()


class ImportRequest(BaseModel):
    """A listening-history export (upload id) to import."""

    upload: str
    format: Literal["auto", "lastfm", "spotify", "generic"] = "auto"
    user: str | None = Field(None, max_length=200)
    names: str | None = Field(None, description="Upload id of an id,name table (generic files).")


class PlaylistRequest(BaseModel):
    """Whose playlist, how long, how varied."""

    user: str = Field(max_length=200)
    name: str = Field("Discover Weekly", max_length=200)
    n: int = Field(30, ge=1, le=500)
    diversity: float = Field(0.3, ge=0.0, le=1.0)
    per_artist: int | None = Field(2, ge=1, le=100)


class SimilarRequest(BaseModel):
    """An item (id, name or "Artist - Title") to find more like."""

    item: str = Field(max_length=500)
    n: int = Field(10, ge=1, le=200)


@router.get("/api/discover/users")
def discover_users(st: StudioDep) -> dict[str, Any]:
    """The users of the studio's history database (empty before the first import)."""
    from tunesmith.web.tasks_discover import history_db, users

    return {"users": users(history_db(st.data_dir))}


@router.post("/api/discover/import", status_code=202)
def discover_import(req: ImportRequest, st: StudioDep) -> dict[str, Any]:
    """Start importing a history into the studio's database."""
    src = upload_file(st, req.upload)
    extra = [upload_file(st, req.names)] if req.names else []
    inputs = unique_inputs([src, *extra])
    names = list(inputs)
    params = {"input": names[0], "names": names[1] if extra else None, "format": req.format, "user": req.user}
    job = st.jobs.submit("discover_import", params, title=f"import {src.name}", inputs=inputs)
    return accepted(job, st)


@router.post("/api/discover/playlist", status_code=202)
def discover_playlist(req: PlaylistRequest, st: StudioDep) -> dict[str, Any]:
    """Start making a playlist (fits or updates the model in the worker)."""
    job = st.jobs.submit("playlist", req.model_dump(), title=f"playlist for {req.user}")
    return accepted(job, st)


@router.post("/api/discover/similar", status_code=202)
def discover_similar(req: SimilarRequest, st: StudioDep) -> dict[str, Any]:
    """Start finding items like one item."""
    job = st.jobs.submit("similar", req.model_dump(), title=f"more like {req.item}")
    return accepted(job, st)
