"""``tunesmith batch``: run one command over a catalogue, on a local process pool or on Ray.

One interface, two engines. :func:`run_batch` turns the input (a folder or a CSV manifest)
into :class:`~tunesmith.pipeline.jobs.Task` s and hands them to an engine: by default a pool
of local worker processes (one per core), or Ray when ``engine="ray"`` (an existing cluster
at ``address``, or a local Ray started for the batch). Both run the same function,
:func:`~tunesmith.pipeline.jobs.run_task`, in fresh worker processes with one BLAS/OpenMP
thread each, and every item's seed comes from its id, so the outputs are bit-identical
whichever engine, worker count or order ran them.

Robustness:

* **resumable** — an item whose outputs are complete (recipes present, hashes and options
  matching) is skipped; stale temporary files a killed run left are removed first.
* **isolated failures** — an exception fails only its item (one-line error in the manifest);
  a worker that dies outright (a crash, the kernel's OOM killer) is replaced, and the items
  that were in flight are re-run one at a time to find the one that killed it.
* **atomic outputs** — every file appears complete or not at all (:mod:`tunesmith.atomic`).
* **Ctrl-C** — the first stops submitting and lets running items finish; a second abandons
  them (their partial files are temporary and swept by the next run). The manifest is
  written either way and the batch can be resumed.
* **bounded** — at most a couple of tasks per worker are in flight, so the driver's memory
  does not grow with the batch, and each worker holds one item at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.cores import THREADS_ENV, usable_cores
from tunesmith.errors import InputFileError, UsageError
from tunesmith.pipeline.jobs import JOBS, OPTION_ALIASES, Task, item_seed, run_task
from tunesmith.pipeline.manifest import (
    BatchItem,
    ItemResult,
    Journal,
    items_from_csv,
    items_from_folder,
    previous_results,
    write_manifest,
)

#: Thread counts of every worker: one item per core, and numeric libraries that would start
#: their own thread per core only contend with the other workers (and could change how sums
#: are split, so outputs would depend on the machine).
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
#: Object store of a local Ray: tasks pass paths and small result records, never audio.
RAY_OBJECT_STORE_BYTES = 128 * 1024**2
#: Options whose values are file paths (resolved against a CSV manifest's folder).
PATH_OPTIONS = frozenset({"reference", "soundfont"})
ENGINES = ("local", "ray")


@dataclass
class BatchReport:
    """What a batch did; ``to_dict`` is the ``--json`` document.

    Attributes
    ----------
    job, engine : str
        The command and the engine (``local`` or ``ray``).
    workers : int
        Items run at once (local processes, or Ray CPUs used).
    items, ok, skipped, failed, pending : int
        Counts; ``pending`` items were not started because the batch was interrupted.
    interrupted : bool
        Whether Ctrl-C stopped the batch.
    seconds : float
        Wall time of the whole batch, engine start-up included, seconds.
    engine_start_s : float
        Of which starting the engine (Ray's start-up; creating the local pool), seconds.
    cpu_s : float
        CPU time the items took in their workers, summed, seconds.
    items_per_min : float
        Items made (ok or failed) per minute of wall time after start-up.
    manifest : dict
        Paths of ``batch.csv`` and ``batch.jsonl``.
    failures : list of dict
        ``{"id", "error"}`` of the first 20 failed items.
    """

    job: str
    engine: str
    workers: int
    input: str
    out_dir: str
    items: int
    ok: int = 0
    skipped: int = 0
    failed: int = 0
    pending: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    engine_start_s: float = 0.0
    cpu_s: float = 0.0
    items_per_min: float = 0.0
    manifest: dict[str, str] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


# ---------------------------------------------------------------------------- items → tasks


def read_items(job: str, source: Path, out_dir: Path) -> list[BatchItem]:
    """The items of a batch: a folder's files (or stem folders), or a CSV manifest's rows.

    Raises
    ------
    InputFileError
        ``source`` does not exist.
    UsageError
        ``source`` is neither a folder nor a ``.csv``; the output folder is the input folder;
        nothing to do; a bad manifest.
    """
    spec = JOBS[job]
    if not source.exists():
        raise InputFileError("no such file or folder", source)
    if source.is_dir():
        if spec.item == "row":
            raise UsageError(f"batch {job} takes a CSV manifest (one row of options per item), not a folder", source)
        if source.resolve() == out_dir.resolve():
            raise UsageError("the output folder must not be the input folder", out_dir)
        return items_from_folder(spec.item, source, out_dir)
    if source.suffix.lower() != ".csv":
        raise UsageError("INPUT must be a folder or a .csv manifest", source)
    readers = dict(spec.options)
    for name in PATH_OPTIONS & readers.keys():
        base, read = source.resolve().parent, readers[name]
        readers[name] = lambda text, base=base, read=read: read(str((base / text).resolve()))
    return items_from_csv(
        source,
        readers,
        needs_input=spec.item != "row",
        default_id=(lambda row: f"song-{row:05d}") if spec.item == "row" else (lambda row: f"item-{row:05d}"),
    )


def make_tasks(
    job: str, items: Sequence[BatchItem], out_dir: Path, options: Mapping[str, Any], argv: Sequence[str], resume: bool
) -> list[Task]:
    """One :class:`Task` per item: the batch's options, the row's overrides, the item's own seed.

    The seed is the row's ``seed`` when the manifest gives one, else derived from the batch's
    ``seed`` (default 0) and the item's id, so it never depends on order or worker.
    """
    aliases = OPTION_ALIASES.get(job, {})
    base_seed = int(options.get("seed") or 0)
    tasks = []
    for item in items:
        params = dict(options)
        params.update({aliases.get(k, k): v for k, v in item.options.items()})
        if "seed" not in item.options:
            params["seed"] = item_seed(base_seed, item.id)
        tasks.append(Task(job, item.id, item.inputs, str(out_dir), params, tuple(argv), resume))
    return tasks


def _largest_first(tasks: list[Task]) -> list[Task]:
    """Scheduling order: big inputs first, so no long item starts last and keeps one worker busy alone."""

    def size(task: Task) -> int:
        try:
            return sum(os.stat(p).st_size for p in task.inputs if os.path.isfile(p))
        except OSError:
            return 0

    return sorted(tasks, key=size, reverse=True)


# ---------------------------------------------------------------------------- output folder


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold ``OUT_DIR/.batch.lock``: two batches writing into one folder would sweep each other's work."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".batch.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UsageError("another batch is writing into this folder", out_dir) from None
        yield


def _is_leftover(name: str) -> bool:
    # Temporary names used by tunesmith.atomic (".out.wav.x1y2.part.wav"), produce (".song.partial-x1y2",
    # ".song.old-stems-123") and the batch's mix-then-master (".out.wav.mix-x1y2").
    return name.startswith(".") and any(mark in name for mark in (".part", ".mix-", ".old-stems-"))


def sweep_leftovers(tasks: Sequence[Task]) -> int:
    """Remove temporary files and folders a killed run left beside the outputs; return how many.

    Only hidden names of tunesmith's own temporary pattern, only in folders this batch writes
    into, and only while the batch's lock is held.
    """
    import shutil

    folders = {Path(t.out_dir) for t in tasks}
    for task in tasks:
        for out in JOBS[task.job].outputs(task):
            folders.add(out.parent)
    removed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if _is_leftover(entry.name):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed += 1
    return removed


def worker_env(cores_each: int) -> dict[str, str]:
    """:data:`THREAD_ENV` plus the cores each worker owns for tunesmith's own thread pools.

    One worker on a 2-core machine may use both cores for an item (per-channel metering, FFT
    threads); two workers get one each, so an item's threads never oversubscribe the other
    worker's core (see :mod:`tunesmith.cores`).
    """
    return {**THREAD_ENV, THREADS_ENV: str(max(1, cores_each))}


@contextlib.contextmanager
def _thread_env(env: Mapping[str, str]) -> Iterator[None]:
    """Set ``env`` (:func:`worker_env`) while local workers are started (they inherit it), then restore."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------------------- engines


class WorkerDiedError(Exception):
    """A worker process ended while running a task (crash, OOM kill): the task's fault is unknown yet."""


#: What each job's workers import before their first item (see :class:`LocalEngine`).
PRELOAD = {
    "analyze": ["tunesmith.audio.analysis"],
    "master": ["tunesmith.master.chain"],
    "mix": ["tunesmith.mix.automix", "tunesmith.master.chain"],
    "produce": ["tunesmith.pipeline.produce"],
    "hum": ["tunesmith.voice.song", "tunesmith.pipeline.produce"],
}


def _init_worker(env: Mapping[str, str]) -> None:
    """Start of every local worker: Ctrl-C is the driver's business, BLAS runs one thread, and
    tunesmith's own pools use the worker's share of the cores (``env``, from :func:`worker_env`)."""
    # Ctrl-C reaches the whole process group: the driver decides what stops, the workers finish their item.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Set here, not only inherited: the forkserver keeps the environment of the first pool it served.
    os.environ.update(env)
    try:  # the environment only counts before a BLAS library loads; cap any already loaded too
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


class LocalEngine:
    """A pool of ``workers`` local processes, started fresh (not forked from the driver).

    On Linux they fork from multiprocessing's *forkserver*: a clean single-threaded process
    that imported the job's modules once, so a worker starts in milliseconds with them loaded
    and the driver's own threads (the progress bar) are never forked. Elsewhere: spawn.
    """

    name = "local"

    def __init__(self, workers: int, job: str = "master") -> None:
        self.slots = workers
        self.env = worker_env(_cores() // workers)
        self.window = 2 * workers  # a queued task per worker, so none waits for the driver
        if sys.platform.startswith("linux"):
            self._ctx: Any = multiprocessing.get_context("forkserver")
            # Only the first pool of a process starts the forkserver, so this preload applies then.
            self._ctx.set_forkserver_preload(["tunesmith.pipeline.jobs", *PRELOAD.get(job, [])])
        else:
            self._ctx = multiprocessing.get_context("spawn")
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.slots, mp_context=self._ctx, initializer=_init_worker, initargs=(self.env,))

    def submit(self, task: Task) -> Future[ItemResult]:
        """Queue a task."""
        return self._pool.submit(run_task, task)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        """Handles finished within ``timeout`` seconds."""
        done, _ = wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done)

    def outcome(self, handle: Future[ItemResult], task: Task) -> ItemResult:
        """The task's result; :class:`WorkerDiedError` when its worker process ended."""
        try:
            return handle.result()
        except BrokenProcessPool:
            raise WorkerDiedError from None

    def restart(self) -> None:
        """Replace a broken pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def cancel_queued(self, handles: list[Any]) -> list[Any]:
        """Cancel the tasks no worker has started; return their handles."""
        return [h for h in handles if h.cancel()]

    def close(self, abandon: bool = False, handles: Sequence[Any] = ()) -> None:
        """Shut the pool down; ``abandon`` kills workers still running an item."""
        if abandon:
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                proc.kill()
        self._pool.shutdown(wait=not abandon, cancel_futures=True)


class RayEngine:
    """Tasks on Ray: a cluster at ``address``, or a local Ray limited to ``workers`` CPUs.

    Ray is imported only here. A Ray session that is already initialised (a notebook, a
    test) is used as it is and left running.
    """

    name = "ray"

    def __init__(self, address: str | None, workers: int | None) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError("--ray needs Ray: pip install 'tunesmith[scale]'") from None
        self._ray = ray
        self._owns = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "logging_level": "ERROR",
                "log_to_driver": False,  # workers' warnings would tear the progress bar; reports carry them
                # A Ray task holds one CPU: its own pools get one thread.
                "runtime_env": {"env_vars": worker_env(1)},
            }
            if address in (None, "", "local"):
                kwargs.update(num_cpus=workers or _cores(), object_store_memory=RAY_OBJECT_STORE_BYTES)
            else:
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(
                    f"cannot start or reach Ray at {address or 'local'}: {' '.join(str(exc).split())}"
                ) from None
            self._owns = True
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        capped = workers is not None and address not in (None, "", "local")
        self.slots = min(workers, cpus) if capped and workers else cpus
        # With a cap, never more in flight than allowed to run; else a queued task per CPU.
        self.window = self.slots if capped else 2 * cpus
        # One retry: on a cluster a node can vanish; outputs are atomic, so running an item again is safe.
        self._remote = ray.remote(num_cpus=1, max_retries=1)(run_task)

    def submit(self, task: Task) -> Any:
        """Queue a task on the cluster."""
        return self._remote.remote(task)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        """Handles finished within ``timeout`` seconds."""
        done, _ = self._ray.wait(handles, num_returns=1, timeout=timeout)
        return list(done)

    def outcome(self, handle: Any, task: Task) -> ItemResult:
        """The task's result; a Ray failure (worker crash, OOM kill, lost node) fails the item."""
        try:
            return self._ray.get(handle)
        except self._ray.exceptions.RayError as exc:
            message = " ".join(str(exc).split())[:300]
            return ItemResult(
                task.item_id, "failed", list(task.inputs), error=f"ray: {exc.__class__.__name__}: {message}"
            )

    def restart(self) -> None:
        """Ray replaces dead workers itself."""

    def cancel_queued(self, handles: list[Any]) -> list[Any]:
        """Ray cannot tell queued from running without asking every node: let them all finish."""
        return []

    def close(self, abandon: bool = False, handles: Sequence[Any] = ()) -> None:
        """Cancel ``handles`` if abandoning; shut down a Ray this engine started."""
        if abandon:
            for h in handles:
                with contextlib.suppress(Exception):
                    self._ray.cancel(h, force=True)
        if self._owns:
            self._ray.shutdown()


def _cores() -> int:
    return usable_cores()


# ---------------------------------------------------------------------------- the driver


@dataclass
class _Run:
    results: dict[str, ItemResult] = field(default_factory=dict)
    interrupted: bool = False


def _drive(
    engine: LocalEngine | RayEngine,
    tasks: Sequence[Task],
    record: Callable[[ItemResult], None],
    notice: Callable[[str], None],
) -> bool:
    """Run ``tasks`` on ``engine``, calling ``record`` for each result; return whether interrupted.

    A bounded window of tasks is in flight. When a local worker dies, every task that was in
    flight is suspect: they are re-run one at a time, and one that kills its worker when
    running alone is failed; the others finish normally.
    """
    queue: deque[Task] = deque(tasks)
    suspects: deque[Task] = deque()
    alone: set[str] = set()  # ids of suspects now running by themselves
    in_flight: dict[Any, Task] = {}
    stopping = abandon = False
    while True:
        try:
            if not stopping:
                while queue or suspects:
                    if suspects:
                        if in_flight:
                            break
                        task = suspects.popleft()
                        alone.add(task.item_id)
                    elif len(in_flight) < engine.window:
                        task = queue.popleft()
                    else:
                        break
                    in_flight[engine.submit(task)] = task
            if not in_flight:
                break
            for handle in engine.wait(list(in_flight), timeout=0.5):
                task = in_flight[handle]
                try:
                    result = engine.outcome(handle, task)
                except WorkerDiedError:
                    crashed = list(in_flight.values())
                    in_flight.clear()
                    engine.restart()
                    if len(crashed) == 1 and task.item_id in alone:
                        alone.discard(task.item_id)
                        error = "its worker process died (it crashed, or was killed e.g. for lack of memory)"
                        record(ItemResult(task.item_id, "failed", list(task.inputs), error=error))
                    else:
                        suspects.extend(crashed)
                    break
                del in_flight[handle]
                alone.discard(task.item_id)
                record(result)
        except KeyboardInterrupt:
            if stopping:
                abandon = True
                break
            stopping = True
            for h in engine.cancel_queued(list(in_flight)):
                in_flight.pop(h, None)
            if in_flight:
                notice(f"stopping: letting {len(in_flight)} running item(s) finish (Ctrl-C again to abandon them)")
    engine.close(abandon, list(in_flight))
    return stopping


def run_batch(
    job: str,
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    options: Mapping[str, Any] | None = None,
    workers: int | None = None,
    engine: str = "local",
    address: str | None = None,
    resume: bool = True,
    progress: Callable[[ItemResult, int, int], None] | None = None,
    notice: Callable[[str], None] | None = None,
    argv: Sequence[str] | None = None,
) -> BatchReport:
    """Run ``job`` on every item of ``source``, writing into ``out_dir``.

    Parameters
    ----------
    job : str
        ``analyze``, ``master``, ``mix``, ``produce`` or ``hum`` (see :data:`~tunesmith.pipeline.jobs.JOBS`).
    source : str or os.PathLike
        A folder (audio files; for ``mix``, one sub-folder of stems per song) or a CSV manifest.
    out_dir : str or os.PathLike
        Where outputs, their recipes and the manifest (``batch.csv``, ``batch.jsonl``) go.
    options : mapping, optional
        The command's options (as the single-file command takes them), for every item.
    workers : int, optional
        Items at once: local processes (default: the cores), or the CPUs of a local Ray.
    engine : str
        ``"local"`` (a process pool) or ``"ray"``.
    address : str, optional
        With Ray: the cluster (``"auto"``, ``"ray://head:10001"``); None starts a local Ray.
    resume : bool
        Skip items whose outputs are complete from an earlier run.
    progress : callable, optional
        ``progress(result, finished, total)`` after each item, in the calling thread.
    notice : callable, optional
        Receives one-line messages for the user (stopping, leftovers removed).
    argv : sequence of str, optional
        The command line to record in recipes (default ``sys.argv``).

    Returns
    -------
    BatchReport

    Raises
    ------
    UsageError, InputFileError
        Bad options, input or output folder — before any item runs. A bad *item* never
        raises: it is ``failed`` in the manifest.
    """
    started = time.perf_counter()
    if job not in JOBS:
        raise UsageError(f"unknown batch command {job!r}; choose one of {', '.join(JOBS)}")
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose local or ray")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if engine == "ray" and importlib.util.find_spec("ray") is None:
        raise UsageError("--ray needs Ray: pip install 'tunesmith[scale]'")
    say = notice or (lambda text: None)
    options = dict(options or {})
    JOBS[job].validate(options)
    src, out = Path(source), Path(out_dir).resolve()
    items = read_items(job, src, out)
    tasks = make_tasks(job, items, out, options, list(sys.argv if argv is None else argv), resume)
    with _locked(out):
        if leftovers := sweep_leftovers(tasks):
            say(f"removed {leftovers} temporary file(s) left by an interrupted run")
        before = previous_results(out)
        run = _Run()
        finished = 0

        def record(result: ItemResult) -> None:
            nonlocal finished
            if result.status == "skipped" and result.id in before:
                old = before[result.id]
                result.integrated_lufs, result.true_peak_dbtp = old.integrated_lufs, old.true_peak_dbtp
                result.duration_s, result.warnings = old.duration_s, old.warnings
            run.results[result.id] = result
            journal.add(result)
            finished += 1
            if progress is not None:
                progress(result, finished, len(tasks))

        t_engine = time.perf_counter()
        n = workers or _cores()
        with _thread_env(worker_env(_cores() // n if engine == "local" else 1)):
            pool = LocalEngine(n, job) if engine == "local" else RayEngine(address, workers)
            engine_start_s = time.perf_counter() - t_engine
            journal = Journal(out)
            t_work = time.perf_counter()
            try:
                run.interrupted = _drive(pool, _largest_first(tasks), record, say)
            finally:
                work_s = time.perf_counter() - t_work
                rows = [run.results.get(it.id) or ItemResult(it.id, "pending", list(it.inputs)) for it in items]
                csv_path, jsonl_path = write_manifest(out, rows)
                journal.close(remove=True)
    counts = {s: sum(r.status == s for r in rows) for s in ("ok", "skipped", "failed", "pending")}
    made = counts["ok"] + counts["failed"]
    return BatchReport(
        job=job,
        engine=engine,
        workers=pool.slots,
        input=str(src),
        out_dir=str(out),
        items=len(items),
        interrupted=run.interrupted,
        seconds=round(time.perf_counter() - started, 3),
        engine_start_s=round(engine_start_s, 3),
        cpu_s=round(sum(r.cpu_s for r in rows if r.status in ("ok", "failed")), 3),
        items_per_min=round(60.0 * made / work_s, 2) if work_s > 0 else 0.0,
        manifest={"csv": str(csv_path), "jsonl": str(jsonl_path)},
        failures=[{"id": r.id, "error": r.error or ""} for r in rows if r.status == "failed"][:20],
        **counts,
    )
