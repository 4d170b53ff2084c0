"""What every route needs: the studio's stores, and the helpers that turn ids into files or 404s."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from tunesmith.web.jobs import JobManager
from tunesmith.web.security import safe_name
from tunesmith.web.uploads import UploadStore


@dataclass
class Studio:
    """One running studio: its data folder, uploads, jobs and access token."""

    data_dir: Path
    uploads: UploadStore
    jobs: JobManager
    token: str | None = None


async def studio(request: Request) -> Studio:
    """The studio serving ``request`` (a coroutine: FastAPI would run a plain function in a thread)."""
    return request.app.state.studio


def upload_file(st: Studio, upload_id: str) -> Path:
    """The file of an upload, or HTTP 404."""
    path = st.uploads.path(upload_id)
    if path is None or not path.is_file():
        raise HTTPException(404, f"no upload {upload_id!r}")
    return path


def unique_inputs(paths: list[Path], folder: str = "") -> dict[str, Path]:
    """Input names for a job (``folder/name``), made unique where two uploads share a name."""
    out: dict[str, Path] = {}
    for path in paths:
        name = safe_name(path.name)
        stem, suffix = Path(name).stem, Path(name).suffix
        k = 2
        while f"{folder}{name}" in out:
            name = f"{stem}-{k}{suffix}"
            k += 1
        out[f"{folder}{name}"] = path
    return out


def finished_job(st: Studio, job_id: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    """``job.json`` of a finished job of one of ``kinds``, or HTTP 404/409."""
    job = st.jobs.store.job(job_id)
    if job is None or job["kind"] not in kinds:
        raise HTTPException(404, f"no {' or '.join(kinds)} job {job_id!r}")
    if job["state"] != "done":
        raise HTTPException(409, f"job {job_id} is {job['state']}, not done")
    return job


def accepted(job: dict[str, Any], st: Studio) -> dict[str, Any]:
    """The answer to a request that started a job: its status and where to follow it."""
    return {"job": st.jobs.status(job["id"]), "events": f"/api/jobs/{job['id']}/events"}


#: A route parameter that receives the studio (``st: StudioDep``).
StudioDep = Annotated[Studio, Depends(studio)]
