"""The worker process of one job: read ``job.json``, run the job's function, write the outcome.

A job function takes a :class:`JobContext` (its folder, parameters and a progress reporter)
and returns the JSON-ready result the page shows; the files it makes go into ``out/``, each
with its recipe. A :class:`~tunesmith.errors.TunesmithError` becomes a one-line ``error.json``
(exit status 1); any other exception is reported as an internal error, with the traceback in
``worker.log``.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.atomic import write_text_atomic
from tunesmith.errors import TunesmithError

#: Job kind → ``module:function`` (imported in the worker only when a job of that kind runs).
KINDS: dict[str, str] = {
    "master": "tunesmith.web.tasks_master:run_master",
    "mix": "tunesmith.web.tasks_mix:run_mix",
    "compose": "tunesmith.web.tasks_compose:run_compose",
    "produce": "tunesmith.web.tasks_compose:run_produce",
    "hum": "tunesmith.web.tasks_hum:run_hum",
    "discover_import": "tunesmith.web.tasks_discover:run_import",
    "playlist": "tunesmith.web.tasks_discover:run_playlist",
    "similar": "tunesmith.web.tasks_discover:run_similar",
    # Not reachable from any page: lets tests and benchmarks exercise the job machinery itself.
    "selftest": "tunesmith.web.worker:run_selftest",
}
PROGRESS_INTERVAL_S = 0.1


@dataclass
class JobContext:
    """What a job function gets.

    Attributes
    ----------
    folder : pathlib.Path
        The job's folder; inputs in ``folder / "in"``, outputs into ``folder / "out"``.
    params : dict
        The parameters the page sent (already checked by the route).
    data_dir : pathlib.Path
        The studio's data folder (for shared state such as the listening-history database).
    """

    folder: Path
    params: dict[str, Any]
    data_dir: Path
    _last: float = field(default=0.0, repr=False)

    @property
    def in_dir(self) -> Path:
        """The job's inputs."""
        return self.folder / "in"

    @property
    def out_dir(self) -> Path:
        """Where the job's files go (the only folder downloads come from)."""
        return self.folder / "out"

    def progress(self, stage: str, fraction: float, force: bool = False) -> None:
        """Report progress: ``stage`` in words, ``fraction`` 0–1 (written at most 10 times a second)."""
        t = time.monotonic()
        if not force and t - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = t
        doc = {"stage": stage, "fraction": round(min(max(float(fraction), 0.0), 1.0), 4), "time": time.time()}
        write_text_atomic(self.folder / "progress.json", json.dumps(doc))

    def sub(self, lo: float, hi: float) -> Callable[[str, float], None]:
        """A ``progress(stage, fraction)`` callback that maps 0–1 onto ``lo``–``hi`` of this job."""
        return lambda stage, frac: self.progress(stage, lo + (hi - lo) * float(frac))


def load_kind(kind: str) -> Callable[[JobContext], dict[str, Any]]:
    """The function that runs jobs of ``kind``."""
    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def cpu_seconds() -> float:
    """CPU time (user + system) of this worker, its threads and the programs it ran, seconds."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _watch_server(server_pid: int, every_s: float = 0.5) -> None:
    """Stop this job (its whole process group) as soon as the server that started it is gone.

    A server that crashed would otherwise leave its workers running on (they are children of
    multiprocessing's forkserver, which outlives the server while they hold its pipe), and the
    next server would run their jobs again beside them.
    """

    def watch() -> None:
        while True:
            time.sleep(every_s)
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                os.killpg(0, signal.SIGKILL)
            except PermissionError:  # another user's process now has that number: ours is gone
                os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="tunesmith-watch-server", daemon=True).start()


def run_job(folder: str, server_pid: int | None = None, nice: int = 0) -> None:
    """Entry point of a worker process (started by :class:`tunesmith.web.jobs.JobManager`).

    Parameters
    ----------
    folder : str
        The job's folder.
    server_pid : int, optional
        The studio's process: the job stops itself when it is gone.
    nice : int
        CPU priority to add (the studio's status calls come before audio work on a busy machine;
        what the job starts, FluidSynth or ffmpeg, inherits it).
    """
    path = Path(folder)
    # Lead a process group of our own, so cancelling the job stops whatever it starts too.
    os.setpgid(0, 0)
    if nice > 0:
        os.nice(nice)
    if server_pid is not None:
        _watch_server(server_pid)
    log = os.open(path / "worker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    job = json.loads((path / "job.json").read_text(encoding="utf-8"))
    ctx = JobContext(path, job["params"], path.parent.parent)
    started = time.perf_counter()
    try:
        ctx.progress("starting", 0.0, force=True)
        result = load_kind(job["kind"])(ctx)
        result = {
            "kind": job["kind"],
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_s": round(cpu_seconds(), 3),
            **result,
        }
        ctx.progress("done", 1.0, force=True)
        write_text_atomic(path / "result.json", json.dumps(result, allow_nan=False) + "\n")
    except TunesmithError as exc:
        # The page knows the file by its name: the server's folders are not its business.
        message = str(exc).replace(f"{path / 'in'}/", "").replace(f"{path / 'out'}/", "")
        write_text_atomic(path / "error.json", json.dumps({"error": message}) + "\n")
        sys.stdout.flush()
        sys.exit(1)
    except Exception as exc:
        traceback.print_exc()
        message = f"internal error: {exc.__class__.__name__}: {' '.join(str(exc).split())[:300]}"
        write_text_atomic(path / "error.json", json.dumps({"error": message}) + "\n")
        sys.stderr.flush()
        sys.exit(1)


def run_selftest(ctx: JobContext) -> dict[str, Any]:
    """A job that only waits ``seconds`` (reporting progress) and writes ``echo.txt``.

    Used by the tests and the benchmark to exercise queueing, progress, cancelling and dying
    workers without any audio work.
    """
    seconds = float(ctx.params.get("seconds", 0.0))
    text = str(ctx.params.get("text", ""))
    t0 = time.monotonic()
    while (elapsed := time.monotonic() - t0) < seconds:
        ctx.progress("waiting", elapsed / seconds)
        time.sleep(min(0.05, seconds - elapsed))
    if ctx.params.get("fail"):
        raise TunesmithError(str(ctx.params["fail"]))
    write_text_atomic(ctx.out_dir / "echo.txt", text)
    return {"text": text, "pid": os.getpid()}
