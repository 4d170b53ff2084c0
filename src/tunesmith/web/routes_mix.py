"""The Mix page's API: roles and genres, ``POST /api/mix`` (decide) and ``/api/mix/{id}/apply`` (re-render)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from tunesmith.errors import UsageError
from tunesmith.web.deps import Studio, StudioDep, accepted, finished_job, unique_inputs, upload_file

router = APIRouter()


class MixRequest(BaseModel):
    """A mix to decide: stems as uploads (audio files or zips), or the stems of an earlier mix job."""

    stems: list[str] = Field(default_factory=list, max_length=64, description="Upload ids (audio or .zip).")
    from_job: str | None = Field(None, description="Reuse the stems of this mix job instead.")
    roles: dict[str, str] = Field(default_factory=dict, description="Stem file name → role id.")
    genre: str = "pop"
    reverb: bool = True


class ApplyRequest(BaseModel):
    """Edited settings (as the mix job returned them) to re-render exactly, with stems muted or soloed."""

    settings: dict[str, Any]
    muted: list[str] = Field(default_factory=list, max_length=64, description="Stem file names left out.")
    solo: list[str] = Field(
        default_factory=list, max_length=64, description="Stem file names to play alone (none: all play)."
    )


@router.get("/api/mix/options")
def mix_options() -> dict[str, Any]:
    """Role ids with their names, and the genres of the mix bus."""
    from tunesmith.mix.engineer import GENRES
    from tunesmith.mix.roles import ROLES

    return {"roles": ROLES, "genres": list(GENRES)}


def _parent_stems(st: Studio, job_id: str) -> dict[str, Path]:
    job = finished_job(st, job_id, ("mix",))
    stems = sorted((st.jobs.store.root / job["id"] / "in" / "stems").glob("*"))
    return {f"stems/{p.name}": p for p in stems if p.is_file()}


@router.post("/api/mix", status_code=202)
def mix_start(req: MixRequest, st: StudioDep) -> dict[str, Any]:
    """Start an automatic mix: roles detected (or as given), console decided, stems summed and finished."""
    from tunesmith.mix.engineer import GENRES
    from tunesmith.mix.roles import ROLES

    if req.genre not in GENRES:
        raise UsageError(f"unknown genre {req.genre!r} (known: {', '.join(GENRES)})")
    for name, role in req.roles.items():
        if role not in ROLES:
            raise UsageError(f"{name}: unknown role {role!r} (known: {', '.join(ROLES)})")
    if req.from_job:
        inputs = _parent_stems(st, req.from_job)
    else:
        if not req.stems:
            raise HTTPException(400, "no stems: upload audio files or a zip first")
        files = [upload_file(st, u) for u in req.stems]
        audio = [f for f in files if f.suffix.lower() != ".zip"]
        zips = [f for f in files if f.suffix.lower() == ".zip"]
        inputs = unique_inputs(audio, "stems/") | unique_inputs(zips, "zips/")
    params = {"genre": req.genre, "reverb": req.reverb, "roles": req.roles, "apply": False}
    job = st.jobs.submit("mix", params, title=f"mix of {len(inputs)} file(s)", inputs=inputs, parent=req.from_job)
    return accepted(job, st)


@router.post("/api/mix/{job_id}/apply", status_code=202)
def mix_apply(job_id: str, req: ApplyRequest, st: StudioDep) -> dict[str, Any]:
    """Re-render a mix job's stems with edited settings (``tunesmith mix --apply``).

    Muted stems, and with a solo every stem not soloed, are left out of the render (the others
    are mixed with their settings as they are, then the bus brings the result to its level).
    """
    from tunesmith.mix import load_settings
    from tunesmith.mix.engineer import GENRES

    inputs = _parent_stems(st, job_id)
    if str(req.settings.get("genre", "pop")) not in GENRES:
        raise UsageError(f"settings: unknown genre {req.settings.get('genre')!r} (known: {', '.join(GENRES)})")
    tmp_root = st.data_dir / "tmp"
    tmp_root.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root) as tmp:
        path = Path(tmp) / "settings.json"
        path.write_text(json.dumps(req.settings), encoding="utf-8")
        load_settings(path)  # every value checked now: a bad edit is a 400 naming the key, not a failed job
        stem_names = {Path(k).name for k in inputs}
        unknown = [Path(str(s.get("file", ""))).name for s in req.settings.get("stems", [])]
        missing = sorted(set(unknown) - stem_names)
        if missing:
            raise UsageError(f"settings name stems this mix does not have: {', '.join(missing)}")
        for what, names in (("muted", req.muted), ("solo", req.solo)):
            strange = sorted(set(names) - stem_names)
            if strange:
                raise UsageError(f"{what}: this mix has no stem {', '.join(strange)}")
        silenced = set(req.muted) | ((stem_names - set(req.solo)) if req.solo else set())
        if stem_names <= silenced:
            raise UsageError("every stem is muted (or none is soloed): nothing would play")
        params = {
            "apply": True,
            "muted": sorted(set(req.muted)),
            "solo": sorted(set(req.solo)),
            "genre": str(req.settings.get("genre", "pop")),
        }
        job = st.jobs.submit(
            "mix", params, title="mix (edited)", inputs=inputs | {"settings.json": path}, parent=job_id
        )
    return accepted(job, st)
