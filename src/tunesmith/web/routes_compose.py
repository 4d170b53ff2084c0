"""The Compose page's API: styles, ``POST /api/compose``, regenerate a section or track, produce."""

from __future__ import annotations

import os
import shutil
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from tunesmith.errors import UsageError
from tunesmith.web.deps import StudioDep, accepted, finished_job

router = APIRouter()


class ComposeRequest(BaseModel):
    """The options of ``tunesmith compose`` (no loops: the studio makes songs)."""

    style: str = "pop"
    key: str | None = None
    tempo: float | None = Field(None, ge=30.0, le=300.0)
    bars: int | None = Field(None, ge=1, le=1000)
    structure: str | None = Field(None, max_length=2000)
    chords: str | None = Field(None, max_length=2000)
    seed: int | None = Field(None, ge=0, lt=2**32, description="None: a new random seed (returned).")
    melody: Literal["model", "rules"] = "model"


class RegenerateRequest(BaseModel):
    """One section (by index, in song order) or one track (by name) to write again with a new seed."""

    section: int | None = Field(None, ge=0)
    track: str | None = Field(None, max_length=100)
    seed: int | None = Field(None, ge=0, lt=2**32)


class ProduceRequest(BaseModel):
    """Mastering target of the produced song."""

    target: str = "streaming"
    sample_rate: int = Field(44_100, ge=22_050, le=96_000)


def _seed(seed: int | None) -> int:
    return seed if seed is not None else int.from_bytes(os.urandom(4), "little")


def can_render() -> bool:
    """Whether FluidSynth and a General MIDI SoundFont are installed (needed to produce)."""
    from tunesmith.render import find_soundfont

    if shutil.which("fluidsynth") is None:
        return False
    try:
        find_soundfont()
    except Exception:
        return False
    return True


@router.get("/api/compose/options")
def compose_options() -> dict[str, Any]:
    """The styles (tempo range, metre, keys, description) and the mastering targets."""
    from tunesmith.compose.style import get_style, list_styles
    from tunesmith.master.targets import PRESETS

    styles = []
    for name in list_styles():
        s = get_style(name)
        styles.append(
            {
                "name": name,
                "description": s.description,
                "tempo_bpm": {"min": s.tempo_min, "max": s.tempo_max, "default": s.tempo_default},
                "metre": f"{s.numerator}/{s.denominator}",
                "keys": list(s.keys),
                "structure": s.structure,
            }
        )
    return {"styles": styles, "targets": list(PRESETS), "render": can_render()}


@router.post("/api/compose", status_code=202)
def compose_start(req: ComposeRequest, st: StudioDep) -> dict[str, Any]:
    """Compose a song; the job's result is the piano roll (notes, chords, sections)."""
    from tunesmith.compose import parse_structure
    from tunesmith.compose.style import get_style
    from tunesmith.score.theory import Key

    get_style(req.style)
    if req.bars is not None and req.structure:
        raise UsageError("give bars or structure, not both")
    if req.structure:
        parse_structure(req.structure)
    if req.key:
        try:
            Key.parse(req.key)
        except ValueError as exc:
            raise UsageError(f"key: {exc}") from None
    options = req.model_dump() | {"seed": _seed(req.seed)}
    job = st.jobs.submit("compose", {"options": options, "edits": []}, title=f"compose {req.style}")
    return accepted(job, st)


@router.post("/api/compose/{job_id}/regenerate", status_code=202)
def compose_regenerate(job_id: str, req: RegenerateRequest, st: StudioDep) -> dict[str, Any]:
    """Write one section or one track of a composed song again with a new seed; the rest stays."""
    parent = finished_job(st, job_id, ("compose", "produce"))
    result = st.jobs.store.result(job_id) or {}
    song = result.get("song") or {}
    if (req.section is None) == (req.track is None):
        raise UsageError("give a section or a track to regenerate")
    if req.section is not None and req.section >= len(song.get("sections", [])):
        raise UsageError(f"no section {req.section}: the song has {len(song.get('sections', []))}")
    if req.track is not None and req.track not in [t["name"] for t in song.get("tracks", [])]:
        raise UsageError(f"no track {req.track!r} in this song")
    edit: dict[str, Any] = {"seed": _seed(req.seed)}
    edit |= {"section": req.section} if req.section is not None else {"track": req.track}
    params = {"options": parent["params"]["options"], "edits": [*parent["params"].get("edits", []), edit]}
    what = f"section {req.section + 1}" if req.section is not None else f"track {req.track}"
    job = st.jobs.submit("compose", params, title=f"regenerate {what}", parent=job_id)
    return accepted(job, st)


@router.post("/api/compose/{job_id}/produce", status_code=202)
def compose_produce(job_id: str, req: ProduceRequest, st: StudioDep) -> dict[str, Any]:
    """Render, mix and master a composed song (stems, mix, master WAV and MP3)."""
    from tunesmith.master.targets import parse_target

    parent = finished_job(st, job_id, ("compose", "produce"))
    parse_target(req.target)
    if not can_render():
        raise HTTPException(503, "producing needs FluidSynth and a General MIDI SoundFont (make install)")
    params = {
        "options": parent["params"]["options"],
        "edits": parent["params"].get("edits", []),
        "target": req.target,
        "sample_rate": req.sample_rate,
    }
    job = st.jobs.submit("produce", params, title=f"produce {parent['params']['options']['style']}", parent=job_id)
    return accepted(job, st)
