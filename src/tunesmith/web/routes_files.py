"""Uploads in, downloads out: ``/api/uploads`` and ``/api/jobs/{id}/files/{path}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from tunesmith.web.deps import StudioDep
from tunesmith.web.security import REPORT_SECURITY_POLICY

router = APIRouter()

#: What each suffix is served as. Anything else goes out as a download of opaque bytes, so nothing
#: the studio serves is ever run or rendered by the browser as something it was not made to be.
MEDIA_TYPES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".webm": "audio/webm",
    ".mid": "audio/midi",
    ".musicxml": "application/vnd.recordare.musicxml+xml",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".m3u8": "text/plain; charset=utf-8",
    ".zip": "application/zip",
    ".html": "text/html; charset=utf-8",
}


@router.post("/api/uploads", status_code=201)
async def upload(request: Request, st: StudioDep) -> dict[str, Any]:
    """Receive one file (raw body, ``?name=``) or several (``multipart/form-data``), streamed to disk."""
    return {"uploads": await st.uploads.receive(request)}


@router.get("/api/uploads/{upload_id}")
def upload_info(upload_id: str, st: StudioDep) -> dict[str, Any]:
    """An upload's name, size and SHA-256."""
    doc = st.uploads.get(upload_id)
    if doc is None:
        raise HTTPException(404, f"no upload {upload_id!r}")
    return doc


@router.delete("/api/uploads/{upload_id}")
def upload_delete(upload_id: str, st: StudioDep) -> dict[str, Any]:
    """Delete an upload (jobs made from it keep their own copy)."""
    if not st.uploads.delete(upload_id):
        raise HTTPException(404, f"no upload {upload_id!r}")
    return {"deleted": upload_id}


@router.get("/api/jobs/{job_id}/files/{path:path}")
def job_file(job_id: str, path: str, st: StudioDep, download: bool = False) -> FileResponse:
    """A file a job made (``out/`` only; ids and paths checked, links refused). ``?download=1`` saves it."""
    file = st.jobs.store.file(job_id, path)
    if file is None:
        raise HTTPException(404, "no such file")
    media = MEDIA_TYPES.get(file.suffix.lower())
    headers = {"Cache-Control": "no-cache"}
    if file.suffix.lower() == ".html":
        headers["Content-Security-Policy"] = REPORT_SECURITY_POLICY
    if media is None:
        media, download = "application/octet-stream", True
    return FileResponse(
        file,
        media_type=media,
        headers=headers,
        filename=file.name if download else None,
        content_disposition_type="attachment" if download else "inline",
    )
