"""Jobs: one folder each on disk, run in worker processes beside the server, never in a request.

A job is ``<data dir>/jobs/<id>/`` holding ``job.json`` (kind, parameters, state, times; written
only by the server), ``in/`` (its inputs, hard links to the uploads), ``out/`` (what it makes:
the only folder downloads are served from), and what the worker writes: ``progress.json``
(stage and fraction, at most ten times a second), ``result.json`` on success, ``error.json``
with a one-line message on failure, and ``worker.log`` (its stdout and stderr).

States: ``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled``. The
:class:`JobManager` runs up to ``workers`` jobs at once, each in its own process (forked from a
``forkserver`` that has the audio libraries already imported, so a job starts in milliseconds
and no thread of the server is ever copied into it). The worker leads its own process group, so
cancelling a job also stops what it started (FluidSynth, ffmpeg, pools). A worker that dies,
whatever the reason, fails its job with a message and the server carries on. Everything lives
in the job folders, so a page reload or a server restart finds every job as it was: jobs that
were queued, or running when the server stopped, are run again (at most twice in all).

Status calls never read those files: the manager keeps every job's status in a
:class:`~tunesmith.web.status.StatusBoard`, updated when it changes a job's state and when the
dispatcher (the one thread that watches the workers) sees a running job's ``progress.json``
change; all readers share it. Workers run at a lower CPU priority (``nice``) than the server, so
a page's status call is answered at once even while every core is busy mastering.

Uploads a job consumed (its inputs are hard links to them, so the job never needs them again)
are deleted when the last queued or running job that consumed them ends; see
:mod:`tunesmith.web.uploads` for the rest of the clean-up policy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import multiprocessing
import os
import shutil
import signal
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesmith.atomic import write_text_atomic
from tunesmith.errors import UsageError
from tunesmith.web.security import ID_PATTERN, safe_join
from tunesmith.web.status import Status, StatusBoard

if TYPE_CHECKING:
    from tunesmith.web.uploads import UploadStore

STATES = ("queued", "running", "done", "failed", "cancelled")
TERMINAL = frozenset({"done", "failed", "cancelled"})
MAX_ATTEMPTS = 2
CANCEL_GRACE_S = 3.0
POLL_S = 0.05
#: CPU priority of job workers (added to the server's): on a busy machine the server's few
#: milliseconds per status call come first, and jobs take what is left. CFS weights: nice 10
#: gets about a tenth of a core against a nice-0 process that wants it.
WORKER_NICE = 10
#: How often the dispatcher sweeps expired uploads, s.
UPLOAD_SWEEP_S = 600.0
#: Modules the forkserver imports once, so every job starts with them loaded (the main module too,
#: which multiprocessing would otherwise import again in every worker).
PRELOAD = ["__main__", "tunesmith.web.worker", "numpy", "soundfile", "tunesmith.audio.io", "tunesmith.master.chain"]


def now() -> str:
    """The current UTC time, ISO 8601 to the millisecond."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


#: Fields of ``job.json`` a status leaves out (parameters can be large; the rest is the server's).
_PRIVATE = ("params", "pid", "uploads")


def status_doc(job: dict[str, Any], progress: dict[str, Any] | None, updated: float | None = None) -> dict[str, Any]:
    """What a page shows while it waits: the job record with its progress (no parameters).

    Parameters
    ----------
    job : dict
        The job's ``job.json`` record.
    progress : dict or None
        The worker's last ``progress.json`` (stage, fraction, time).
    updated : float, optional
        When the change this status shows happened, s since the epoch (default: the progress
        report's time, else now). Lets a watcher measure how late it heard of it.
    """
    doc = {k: v for k, v in job.items() if k not in _PRIVATE}
    progress = progress or {}
    doc["stage"] = progress.get("stage")
    doc["progress"] = 1.0 if job["state"] == "done" else progress.get("fraction", 0.0)
    doc["updated"] = updated if updated is not None else progress.get("time", time.time())
    return doc


class JobStore:
    """The job folders under ``root`` (``<data dir>/jobs``): create, read, list, delete."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def folder(self, job_id: str) -> Path | None:
        """The folder of an existing job, or None (also for anything that is not an id)."""
        if not isinstance(job_id, str) or not ID_PATTERN.match(job_id):
            return None
        folder = self.root / job_id
        return folder if (folder / "job.json").is_file() else None

    def create(
        self,
        kind: str,
        params: dict[str, Any],
        title: str,
        inputs: dict[str, Path],
        parent: str | None,
        uploads: list[str] | None = None,
    ) -> dict:
        """Make the folder, link the inputs into ``in/`` and write ``job.json`` (state ``queued``).

        ``uploads`` are the ids of the uploads among the inputs (released when the job ends).

        Raises
        ------
        UsageError
            An input disappeared before it could be linked (nothing is left behind).
        """
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        (folder / "in").mkdir(parents=True)
        (folder / "out").mkdir()
        for rel, source in inputs.items():
            target = folder / "in" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)  # same disk: no copy, and the job keeps it if the upload is deleted
            except FileNotFoundError:
                shutil.rmtree(folder, ignore_errors=True)
                raise UsageError(f"{Path(rel).name}: the upload is gone (deleted meanwhile); upload it again") from None
            except OSError:
                shutil.copyfile(source, target)
        job = {
            "id": job_id,
            "kind": kind,
            "title": title,
            "parent": parent,
            "params": params,
            "state": "queued",
            "created": now(),
            "started": None,
            "finished": None,
            "attempts": 0,
            "pid": None,
            "error": None,
            "note": None,
            "uploads": list(uploads or []),
        }
        self.write(job)
        return job

    def write(self, job: dict[str, Any]) -> None:
        """Replace ``job.json`` atomically."""
        write_text_atomic(self.root / job["id"] / "job.json", json.dumps(job, indent=1) + "\n")

    def job(self, job_id: str) -> dict[str, Any] | None:
        """``job.json`` of a job, or None."""
        folder = self.folder(job_id)
        return None if folder is None else _read_json(folder / "job.json")

    def status(self, job_id: str) -> dict[str, Any] | None:
        """What a page shows while it waits: the job record with its progress (no parameters)."""
        job = self.job(job_id)
        if job is None:
            return None
        return status_doc(job, _read_json(self.root / job_id / "progress.json"))

    def result(self, job_id: str) -> dict[str, Any] | None:
        """``result.json`` of a finished job, or None."""
        folder = self.folder(job_id)
        return None if folder is None else _read_json(folder / "result.json")

    def files(self, job_id: str) -> list[dict[str, Any]]:
        """Every file in the job's ``out/`` folder (path relative to it, bytes), sorted."""
        folder = self.folder(job_id)
        if folder is None:
            return []
        out = folder / "out"
        return [
            {"path": p.relative_to(out).as_posix(), "bytes": p.stat().st_size}
            for p in sorted(out.rglob("*"))
            if p.is_file() and not p.is_symlink() and not any(part.startswith(".") for part in p.relative_to(out).parts)
        ]

    def file(self, job_id: str, relative: str) -> Path | None:
        """A file inside the job's ``out/`` folder, or None (bad id, bad path, not there)."""
        folder = self.folder(job_id)
        return None if folder is None else safe_join(folder / "out", relative)

    def all(self) -> list[dict[str, Any]]:
        """Every job's status, newest first."""
        jobs = []
        for folder in self.root.iterdir():
            if ID_PATTERN.match(folder.name):
                status = self.status(folder.name)
                if status is not None:
                    jobs.append(status)
        return sorted(jobs, key=lambda j: j["created"], reverse=True)

    def delete(self, job_id: str) -> None:
        """Remove a job's folder."""
        folder = self.folder(job_id)
        if folder is not None:
            shutil.rmtree(folder)


class JobManager:
    """Runs the jobs of one studio in worker processes.

    Parameters
    ----------
    data_dir : pathlib.Path
        The studio's data folder (``jobs/`` and the lock file live there).
    workers : int
        Jobs run at once; the rest wait in order.
    uploads : UploadStore, optional
        The studio's uploads: those a job consumed are deleted when it ends, expired ones swept.
    nice : int
        CPU priority added to each worker (default :data:`WORKER_NICE`; 0 keeps the server's).
    """

    def __init__(
        self, data_dir: Path, workers: int = 2, uploads: UploadStore | None = None, nice: int = WORKER_NICE
    ) -> None:
        self.data_dir = data_dir
        self.store = JobStore(data_dir / "jobs")
        self.workers = max(1, int(workers))
        self.uploads = uploads
        self.nice = max(0, int(nice))
        self.board = StatusBoard()
        self._progress: dict[str, tuple[int, dict[str, Any] | None]] = {}  # running job -> (mtime ns, doc)
        self._holds: dict[str, set[str]] = {}  # upload id -> queued/running jobs that consumed it
        self._next_sweep = 0.0
        self._queue: deque[str] = deque()
        self._running: dict[str, Any] = {}  # job id -> multiprocessing.Process
        self._cancel_deadline: dict[str, float] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lockfile: Any = None

    # ---------------------------------------------------------------- life cycle

    def start(self) -> None:
        """Take the data folder, pick up where the last server left off, start dispatching.

        Raises
        ------
        UsageError
            Another studio is using the same data folder.
        """
        self._lockfile = open(self.data_dir / "studio.lock", "a+")  # noqa: SIM115 - held until stop()
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lockfile.close()
            self._lockfile = None
            raise UsageError("another tunesmith studio is using this data folder", self.data_dir) from None
        # Set before the forkserver starts: jobs run their own thread pools, and OpenBLAS's extra
        # threads would only contend with them on a small machine.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        self._recover()
        # What requests were writing when the last server stopped (a mix edit's settings): debris now.
        shutil.rmtree(self.data_dir / "tmp", ignore_errors=True)
        if self.uploads is not None:
            # No upload can be arriving yet (the data folder is ours alone): every partial one is debris.
            self.uploads.sweep(keep=set(self._holds), partial_too=True)
            self._next_sweep = time.monotonic() + UPLOAD_SWEEP_S
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="tunesmith-jobs", daemon=True)
        self._thread.start()
        # Start the forkserver (and its imports: seconds on a busy machine) now, not with the first job.
        threading.Thread(target=_warm_forkserver, name="tunesmith-forkserver", daemon=True).start()

    def stop(self) -> None:
        """Stop dispatching; stop running jobs and queue them again for the next start."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._lock:
            for proc in list(self._running.values()):
                _signal_group(proc, signal.SIGTERM)
            deadline = time.monotonic() + CANCEL_GRACE_S
            for job_id, proc in list(self._running.items()):
                proc.join(max(0.0, deadline - time.monotonic()))
                if proc.is_alive():
                    _signal_group(proc, signal.SIGKILL)
                    proc.join(2.0)
                job = self.store.job(job_id)
                if job is not None and job["state"] == "running":
                    job.update(state="queued", pid=None, note="interrupted: the studio stopped; runs again at start")
                    self._save(job)
            self._running.clear()
            self._queue.clear()
        if self._lockfile is not None:
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            self._lockfile.close()
            self._lockfile = None

    def _recover(self) -> None:
        """Queue again what was waiting or running when the last server stopped; publish every status."""
        waiting = []
        for folder in self.store.root.iterdir():
            job = self.store.job(folder.name) if ID_PATTERN.match(folder.name) else None
            if job is None:
                continue
            if job["state"] in TERMINAL:
                self.board.put(status_doc(job, _read_json(folder / "progress.json")))
                continue
            self._hold(job)
            if job["state"] == "running":
                if job["attempts"] >= MAX_ATTEMPTS:
                    job.update(state="failed", finished=now(), pid=None, error="interrupted twice; not run again")
                    self._save(job)
                    continue
                job.update(state="queued", pid=None, note="interrupted: the studio stopped; runs again")
                self._save(job)
            else:
                self.board.put(status_doc(job, None))
            waiting.append(job)
        for job in sorted(waiting, key=lambda j: j["created"]):
            self._queue.append(job["id"])

    # ---------------------------------------------------------------- state and statuses

    def status(self, job_id: str) -> dict[str, Any] | None:
        """A job's status from memory (no disk access), or None."""
        status = self.board.get(job_id) if isinstance(job_id, str) else None
        return None if status is None else status.doc

    def published(self, job_id: str) -> Status | None:
        """A job's status as published (the document and its JSON), or None."""
        return self.board.get(job_id) if isinstance(job_id, str) else None

    def _save(self, job: dict[str, Any], progress: dict[str, Any] | None = None) -> None:
        """Write ``job.json``, publish the new status, and release the job's uploads once it has ended."""
        self.store.write(job)
        if progress is None and job["state"] == "running":
            progress = (self._progress.get(job["id"]) or (0, None))[1]
        self.board.put(status_doc(job, progress, updated=time.time()))
        if job["state"] in TERMINAL:
            self._release(job)

    def _hold(self, job: dict[str, Any]) -> None:
        for upload_id in job.get("uploads") or ():
            self._holds.setdefault(upload_id, set()).add(job["id"])

    def _release(self, job: dict[str, Any]) -> None:
        """The job no longer needs its uploads: delete each one no other waiting or running job holds."""
        for upload_id in job.get("uploads") or ():
            holders = self._holds.get(upload_id)
            if holders is None or job["id"] not in holders:
                continue  # released already (or consumed before this studio started)
            holders.discard(job["id"])
            if not holders:
                del self._holds[upload_id]
                if self.uploads is not None:
                    try:
                        self.uploads.delete(upload_id)
                    except OSError as exc:  # the next sweep tries again; the job itself is fine
                        print(f"tunesmith studio: could not delete upload {upload_id}: {exc}", flush=True)

    def _poll_progress(self) -> None:
        """Publish the progress of running jobs whose worker wrote a new ``progress.json``."""
        for job_id in list(self._running):
            path = self.store.root / job_id / "progress.json"
            try:
                mtime = path.stat().st_mtime_ns
            except OSError:
                continue
            last = self._progress.get(job_id)
            if last is not None and last[0] == mtime:
                continue
            progress = _read_json(path)
            self._progress[job_id] = (mtime, progress)
            current = self.board.get(job_id)
            if current is None or progress is None:
                continue
            doc = current.doc
            stage, fraction = progress.get("stage"), progress.get("fraction", 0.0)
            if doc["state"] == "running" and (doc["stage"], doc["progress"]) != (stage, fraction):
                self.board.put(
                    doc | {"stage": stage, "progress": fraction, "updated": progress.get("time", time.time())}
                )

    # ---------------------------------------------------------------- requests

    def submit(
        self,
        kind: str,
        params: dict[str, Any],
        title: str = "",
        inputs: dict[str, Path] | None = None,
        parent: str | None = None,
    ) -> dict[str, Any]:
        """Create a job and queue it; returns its ``job.json`` record."""
        from tunesmith.web.worker import KINDS

        if kind not in KINDS:
            raise UsageError(f"unknown job kind {kind!r}")
        inputs = inputs or {}
        uploads = [] if self.uploads is None else [self.uploads.id_of(p) for p in inputs.values()]
        with self._lock:  # linked and held at once: an upload cannot be released between the two
            job = self.store.create(
                kind, params, title or kind, inputs, parent, uploads=sorted({u for u in uploads if u})
            )
            self._hold(job)
            self.board.put(status_doc(job, None, updated=time.time()))
            self._queue.append(job["id"])
        self._wake.set()
        return job

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued or running job (a finished one is left as it is); its status, or None."""
        with self._lock:
            job = self.store.job(job_id)
            if job is None:
                return None
            if job["state"] == "queued":
                with contextlib.suppress(ValueError):
                    self._queue.remove(job_id)
                job.update(state="cancelled", finished=now(), note="cancelled before it started")
                self._save(job)
            elif job["state"] == "running" and job_id in self._running:
                job["note"] = "cancelling"
                self._save(job)
                self._cancel_deadline[job_id] = time.monotonic() + CANCEL_GRACE_S
                _signal_group(self._running[job_id], signal.SIGTERM)
        self._wake.set()
        return self.status(job_id)

    def delete(self, job_id: str) -> bool:
        """Remove a finished job and its files. False when it is still queued or running."""
        with self._lock:
            job = self.store.job(job_id)
            if job is None or job["state"] not in TERMINAL:
                return False
            self._release(job)
            self.store.delete(job_id)
            self.board.drop(job_id)
            return True

    def running(self) -> dict[str, int]:
        """Job id → worker pid of the jobs running now."""
        with self._lock:
            return {job_id: proc.pid for job_id, proc in self._running.items()}

    # ---------------------------------------------------------------- the dispatcher

    def _loop(self) -> None:
        while not self._stopping:
            try:
                with self._lock:
                    self._reap()
                    self._launch()
                    self._poll_progress()
                    if self.uploads is not None and time.monotonic() >= self._next_sweep:
                        self._next_sweep = time.monotonic() + UPLOAD_SWEEP_S
                        self.uploads.sweep(keep=set(self._holds))
            except Exception as exc:  # a full disk or the like: keep serving, say so in the log
                print(f"tunesmith studio: job dispatcher: {exc.__class__.__name__}: {exc}", flush=True)
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _launch(self) -> None:
        from tunesmith.web.worker import run_job

        while self._queue and len(self._running) < self.workers and not self._stopping:
            job_id = self._queue.popleft()
            job = self.store.job(job_id)
            if job is None or job["state"] != "queued":
                continue
            folder = self.store.root / job_id
            for stale in ("progress.json", "result.json", "error.json"):
                (folder / stale).unlink(missing_ok=True)
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            proc = ctx.Process(
                target=run_job, args=(str(folder), os.getpid(), self.nice), name=f"tunesmith-job-{job_id[:8]}"
            )
            job.update(state="running", started=now(), attempts=job["attempts"] + 1, error=None)
            self._progress.pop(job_id, None)
            self._save(job)
            try:
                proc.start()
            except Exception as exc:  # no worker could be started: the job fails, the server goes on
                job.update(state="failed", finished=now(), error=f"could not start a worker: {exc}".strip())
                self._save(job)
                continue
            job["pid"] = proc.pid
            self.store.write(job)  # the pid is the server's business: the status does not change
            self._running[job_id] = proc

    def _reap(self) -> None:
        for job_id, proc in list(self._running.items()):
            deadline = self._cancel_deadline.get(job_id)
            if proc.is_alive():
                if deadline is not None and time.monotonic() > deadline:
                    _signal_group(proc, signal.SIGKILL)
                continue
            proc.join()
            _signal_group(proc, signal.SIGKILL)  # anything the worker started and left behind
            del self._running[job_id]
            progress = _read_json(self.store.root / job_id / "progress.json")
            self._progress.pop(job_id, None)
            cancelled = self._cancel_deadline.pop(job_id, None) is not None
            job = self.store.job(job_id)
            if job is None:
                continue
            folder = self.store.root / job_id
            job.update(finished=now(), pid=None)
            error = _read_json(folder / "error.json")
            if cancelled:
                job.update(state="cancelled", note="cancelled while running")
                _remove_partial(folder / "out")
            elif proc.exitcode == 0 and (folder / "result.json").is_file():
                job.update(state="done", note=None)
            else:
                if error and error.get("error"):
                    message = error["error"]
                elif proc.exitcode is not None and proc.exitcode < 0:
                    name = signal.Signals(-proc.exitcode).name
                    message = f"the worker process was killed ({name}) before the job finished"
                else:
                    message = f"the worker process stopped with status {proc.exitcode} before the job finished"
                job.update(state="failed", error=message, note=None)
                _remove_partial(folder / "out")
            self._save(job, progress)


def _warm_forkserver() -> None:
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    with contextlib.suppress(Exception):  # the first job would start it anyway, and report any failure
        forkserver.ensure_running()


def _signal_group(proc: Any, sig: int) -> None:
    """Send ``sig`` to the worker's process group (it leads one), or to the worker alone."""
    if proc.pid is None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if proc.is_alive():
                os.kill(proc.pid, sig)


def _remove_partial(out: Path) -> None:
    """Drop the temporary files a stopped writer left behind (complete outputs are kept)."""
    for p in out.rglob(".*"):
        if p.is_file():
            p.unlink(missing_ok=True)
