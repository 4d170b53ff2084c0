"""The studio's FastAPI application: pages, the JSON API, the job workers, the guard around them.

``create_app(data_dir)`` builds an app over one data folder (uploads, jobs, the listening-history
database). Pages are plain HTML, CSS and JavaScript from ``static/`` (no build step, nothing
fetched from the internet); each page calls the API below, which calls the same Python
functions as the command line, always through a job so no request waits on audio work.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from tunesmith import __version__
from tunesmith.errors import TunesmithError
from tunesmith.web import (
    routes_compose,
    routes_discover,
    routes_files,
    routes_hum,
    routes_jobs,
    routes_master,
    routes_mix,
)
from tunesmith.web.deps import Studio, StudioDep
from tunesmith.web.jobs import WORKER_NICE, JobManager
from tunesmith.web.security import StudioGuard
from tunesmith.web.uploads import DEFAULT_MAX_UPLOAD_BYTES, UploadStore

STATIC = Path(__file__).resolve().parent / "static"
PAGES = ("master", "mix", "compose", "hum", "discover", "jobs")


def default_workers() -> int:
    """Jobs run at once by default: one per core, at least 2 (so a long job never blocks a short one), at most 4."""
    return max(2, min(4, os.cpu_count() or 2))


def create_app(
    data_dir: str | os.PathLike[str],
    token: str | None = None,
    workers: int | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    worker_nice: int = WORKER_NICE,
) -> FastAPI:
    """Build the studio app over ``data_dir``.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Folder for uploads, jobs and the listening history (created if missing). One studio
        at a time may use it.
    token : str, optional
        Access token every request must carry (required when serving beyond 127.0.0.1).
    workers : int, optional
        Jobs run at once (default :func:`default_workers`).
    max_upload_bytes : int
        Largest upload accepted, bytes (default 2 GiB).
    worker_nice : int
        CPU priority added to job workers (default 10: status calls before audio work).

    Returns
    -------
    fastapi.FastAPI
        The app; its job workers start and stop with it (ASGI lifespan).
    """
    root = Path(data_dir).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    uploads = UploadStore(root / "uploads", max_upload_bytes)
    st = Studio(
        data_dir=root,
        uploads=uploads,
        jobs=JobManager(root, workers or default_workers(), uploads=uploads, nice=worker_nice),
        token=token,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        st.jobs.board.bind(asyncio.get_running_loop())  # progress streams wait on this loop
        st.jobs.start()
        try:
            yield
        finally:
            st.jobs.stop()
            st.jobs.board.bind(None)

    # No /docs or /redoc: FastAPI's pages for them load scripts from a CDN, and the studio is offline.
    app = FastAPI(title="tunesmith studio", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.studio = st

    @app.exception_handler(TunesmithError)
    async def _tunesmith_error(_: Request, exc: TunesmithError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    for module in (routes_files, routes_jobs, routes_master, routes_mix, routes_compose, routes_hum, routes_discover):
        app.include_router(module.router)

    @app.get("/api/health")
    def health(s: StudioDep) -> dict[str, Any]:
        """Version, and the jobs running now."""
        return {"ok": True, "version": __version__, "workers": s.jobs.workers, "running": len(s.jobs.running())}

    @app.get("/api/capabilities")
    def capabilities(s: StudioDep) -> dict[str, Any]:
        """What this installation can do (producing needs FluidSynth; humming needs tunesmith.voice)."""
        import shutil

        from tunesmith.web.routes_compose import can_render
        from tunesmith.web.tasks_hum import availability

        return {
            "render": can_render(),
            "ffmpeg": shutil.which("ffmpeg") is not None,
            "hum": availability(),
            "max_upload_bytes": s.uploads.max_bytes,
            "workers": s.jobs.workers,
        }

    def page(name: str) -> FileResponse:
        return FileResponse(STATIC / f"{name}.html", media_type="text/html; charset=utf-8")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return page("index")

    @app.get("/{name}", include_in_schema=False)
    def named_page(name: str) -> FileResponse:
        if name not in PAGES:
            raise HTTPException(404, "no such page")
        return page(name)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Outermost: nothing reaches a route without passing the guard, and every answer gets its headers.
    app.add_middleware(StudioGuard, token=token)
    return app
