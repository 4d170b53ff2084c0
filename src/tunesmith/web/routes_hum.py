"""The Hum page's API: what works here, and ``POST /api/hum`` (a recording → notes → song)."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from tunesmith.web.deps import StudioDep, accepted, unique_inputs, upload_file

router = APIRouter()


class HumRequest(BaseModel):
    """A recording (upload id) and how to arrange it."""

    upload: str
    style: str = "pop"
    seed: int | None = Field(None, ge=0, lt=2**32)
    target: str = "streaming"


@router.get("/api/hum/options")
def hum_options() -> dict[str, Any]:
    """Whether the pitch track and notes (``notes``) and the song (``song``) can be made here, and why not."""
    from tunesmith.web.tasks_hum import availability

    return availability()


@router.post("/api/hum", status_code=202)
def hum_start(req: HumRequest, st: StudioDep) -> dict[str, Any]:
    """Start turning a recording into notes (and a song, where available)."""
    from tunesmith.web.tasks_hum import availability

    can = availability()
    if not can["notes"]:
        raise HTTPException(503, can["reason"])
    src = upload_file(st, req.upload)
    inputs = unique_inputs([src])
    seed = req.seed if req.seed is not None else int.from_bytes(os.urandom(4), "little")
    params = req.model_dump(exclude={"upload"}) | {"input": next(iter(inputs)), "seed": seed}
    job = st.jobs.submit("hum", params, title=f"hum {src.name}", inputs=inputs)
    return accepted(job, st)
