"""Jobs: list, status, the full job (with its result), live progress (server-sent events), cancel, delete.

Status calls (``/api/jobs``, ``/api/jobs/{id}/status``, the event streams) are answered from the
job manager's in-memory :class:`~tunesmith.web.status.StatusBoard` on the event loop, with JSON
encoded once per change: no disk, no thread hop. Only ``GET /api/jobs/{id}`` reads the job's
folder (its parameters, files and result), once a page needs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from tunesmith.web.deps import Studio, StudioDep
from tunesmith.web.jobs import TERMINAL

router = APIRouter()
#: Longest quiet spell on an event stream before a comment line keeps it open, s.
HEARTBEAT_S = 15.0
#: How often a quiet stream checks that its page is still there, s.
DISCONNECT_CHECK_S = 1.0


def _status_or_404(st: Studio, job_id: str) -> dict[str, Any]:
    status = st.jobs.status(job_id)
    if status is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return status


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.get("/api/jobs")
async def jobs_list(st: StudioDep, kind: str | None = None) -> Response:
    """Every job's status, newest first (``?kind=master`` for one kind)."""
    statuses = st.jobs.board.all()
    if kind:
        statuses = [s for s in statuses if s.doc["kind"] == kind]
    return _json(b'{"jobs":[' + b",".join(s.encoded for s in statuses) + b"]}")


@router.get("/api/jobs/{job_id}/status")
async def job_status_only(job_id: str, st: StudioDep) -> Response:
    """A job's status (state, stage, progress, times, error): what a page polls while it waits."""
    status = st.jobs.published(job_id)
    if status is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return _json(status.encoded)


@router.get("/api/jobs/{job_id}")
def job_status(job_id: str, st: StudioDep) -> dict[str, Any]:
    """A job's status, its parameters, its files, and its result once done (read from its folder)."""
    status = _status_or_404(st, job_id)
    job = st.jobs.store.job(job_id) or {}
    return {
        **status,
        "params": job.get("params"),
        "files": st.jobs.store.files(job_id),
        "result": st.jobs.store.result(job_id) if status["state"] == "done" else None,
    }


@router.get("/api/jobs/{job_id}/events")
async def job_events(job_id: str, request: Request, st: StudioDep) -> StreamingResponse:
    """Server-sent events: the job's status each time it changes, until it has finished."""
    _status_or_404(st, job_id)
    board = st.jobs.board

    async def events() -> AsyncIterator[bytes]:
        seen = None
        quiet = 0.0
        while True:
            status = await board.next(job_id, seen, DISCONNECT_CHECK_S)
            if status is None:
                yield b"event: gone\ndata: {}\n\n"
                return
            if status is not seen:
                yield b"data: " + status.encoded + b"\n\n"
                seen, quiet = status, 0.0
                if status.doc["state"] in TERMINAL:
                    yield b"event: end\ndata: {}\n\n"
                    return
                continue
            quiet += DISCONNECT_CHECK_S
            if await request.is_disconnected():
                return
            if quiet >= HEARTBEAT_S:
                yield b": still working\n\n"  # a comment line keeps proxies and the browser from giving up
                quiet = 0.0

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.post("/api/jobs/{job_id}/cancel")
def job_cancel(job_id: str, st: StudioDep) -> dict[str, Any]:
    """Cancel a queued or running job (its worker and everything it started are stopped)."""
    status = st.jobs.cancel(job_id)
    if status is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return {"job": status}


@router.delete("/api/jobs/{job_id}")
def job_delete(job_id: str, st: StudioDep) -> dict[str, Any]:
    """Delete a finished job and its files."""
    _status_or_404(st, job_id)
    if not st.jobs.delete(job_id):
        raise HTTPException(409, "the job is still queued or running: cancel it first")
    return {"deleted": job_id}
