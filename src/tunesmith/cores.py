"""How many cores this process should use for its own threads.

A batch runs one item per worker process; each item's own thread pools (per-channel metering,
FFT workers, the mixer's stems) must then share the worker's slice of the machine instead of
each starting a thread per core, which only oversubscribes the cores the other workers use.
The batch engine says how many cores a worker owns in ``TUNESMITH_THREADS``; everywhere else
the answer is the cores this process may run on.
"""

from __future__ import annotations

import os

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
