"""How many cores this process should use for its own threads.

A batch runs one item per worker process; each item's own thread pools (per-channel metering,
FFT workers, the mixer's stems) must then share the worker's slice of the machine instead of
each starting a thread per core, which only oversubscribes the cores the other workers use.
The batch engine says how many cores a worker owns in ``TUNESMITH_THREADS``; everywhere else
the answer is the cores this process may run on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

#: Environment variable a parent (the batch engine) sets to the number of cores a worker owns.
THREADS_ENV = "TUNESMITH_THREADS"


def usable_cores() -> int:
    """Cores for this process's own threads: ``TUNESMITH_THREADS`` if set (≥ 1), else the CPU affinity."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value.isdigit() and int(value) >= 1:
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class InlineExecutor(Executor):
    """An executor that runs each call at once, in the caller's thread.

    Stands in for a one-thread pool where overlapping two stages cannot pay: on one core the
    second thread only adds hand-overs and cache misses for the same amount of work.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` now; its result or exception is in the returned future."""
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # kept for ``result()``, as a thread pool would
            future.set_exception(exc)
        return future


def stage_pool() -> Executor:
    """A one-thread pool for overlapping two pipeline stages, or an inline executor on one core.

    The result is the same either way (the stages still see their blocks in order); only the
    overlap, and its cost, goes away when this process owns a single core.
    """
    return ThreadPoolExecutor(1) if usable_cores() > 1 else InlineExecutor()
