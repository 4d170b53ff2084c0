"""Jobs: list, status (with the result when done), live progress (server-sent events), cancel, delete."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse

from tunesmith.web.deps import Studio, StudioDep
from tunesmith.web.jobs import TERMINAL

router = APIRouter()
EVENT_POLL_S = 0.15
HEARTBEAT_S = 15.0


def _status_or_404(st: Studio, job_id: str) -> dict[str, Any]:
    status = st.jobs.store.status(job_id)
    if status is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return status


@router.get("/api/jobs")
def jobs_list(st: StudioDep, kind: str | None = None) -> dict[str, Any]:
    """Every job, newest first (``?kind=master`` for one kind)."""
    jobs = st.jobs.store.all()
    if kind:
        jobs = [j for j in jobs if j["kind"] == kind]
    return {"jobs": jobs}


@router.get("/api/jobs/{job_id}")
def job_status(job_id: str, st: StudioDep) -> dict[str, Any]:
    """A job's status, its parameters, its files, and its result once done."""
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

    async def events() -> AsyncIterator[str]:
        last = None
        quiet = 0.0
        while True:
            status = st.jobs.store.status(job_id)
            if status is None:
                yield "event: gone\ndata: {}\n\n"
                return
            if status != last:
                yield f"data: {json.dumps(status)}\n\n"
                last, quiet = status, 0.0
            elif quiet >= HEARTBEAT_S:
                yield ": still working\n\n"  # a comment line keeps proxies and the browser from giving up
                quiet = 0.0
            if status["state"] in TERMINAL:
                yield "event: end\ndata: {}\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_S)
            quiet += EVENT_POLL_S

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
