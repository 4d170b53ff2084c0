"""The Master page's API: the choices it offers and ``POST /api/master`` (a master job)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tunesmith.web.deps import StudioDep, accepted, unique_inputs, upload_file

router = APIRouter()


class MasterRequest(BaseModel):
    """What the Master page sends (the options of ``tunesmith master``)."""

    upload: str = Field(description="Upload id of the mix.")
    references: list[str] = Field(default_factory=list, max_length=8, description="Upload ids of reference tracks.")
    target: str | None = Field(None, description="Preset name or LUFS; none: the reference's loudness or streaming.")
    ceiling_dbtp: float | None = Field(None, ge=-12.0, le=0.0)
    style: str = "auto"
    intensity: float = Field(0.5, ge=0.0, le=1.0)
    width: float = Field(1.0, ge=0.0, le=2.0)
    sample_rate: int | None = Field(None, ge=8_000, le=192_000)
    formats: list[Literal["wav", "flac", "mp3"]] = Field(default_factory=lambda: ["wav", "flac"])
    report: bool = True
    seed: int = Field(0, ge=0, lt=2**32)


@router.get("/api/master/options")
def master_options() -> dict[str, Any]:
    """Targets (presets with loudness and ceiling), tonal styles and formats the page offers."""
    from tunesmith.audio.tonal import STYLES
    from tunesmith.master.targets import PRESETS

    return {
        "targets": [
            {"name": t.name, "integrated_lufs": t.lufs, "ceiling_dbtp": t.ceiling_dbtp} for t in PRESETS.values()
        ],
        "styles": list(STYLES),
        "formats": ["wav", "flac", "mp3"],
    }


@router.post("/api/master", status_code=202)
def master_start(req: MasterRequest, st: StudioDep) -> dict[str, Any]:
    """Start mastering an upload; follow the job for progress and the A/B data."""
    from tunesmith.master import MasterSettings
    from tunesmith.master.targets import parse_target

    src = upload_file(st, req.upload)
    refs = [upload_file(st, r) for r in req.references]
    # Bad options are a 400 now, not a failed job later.
    MasterSettings(
        target=req.target, style=req.style, intensity=req.intensity, width=req.width, sample_rate=req.sample_rate
    ).validate()
    parse_target(req.target, req.ceiling_dbtp)
    inputs = unique_inputs([src, *refs])
    names = list(inputs)
    params = req.model_dump(exclude={"upload", "references"}) | {"input": names[0], "references": names[1:]}
    job = st.jobs.submit("master", params, title=f"master {src.name}", inputs=inputs)
    return accepted(job, st)
