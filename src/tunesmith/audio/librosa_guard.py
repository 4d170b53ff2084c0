"""Run librosa code one process at a time.

librosa JIT-compiles many helpers with numba and caches the machine code in
its own ``__pycache__``. numba's on-disk cache is not safe when several
processes add *different* signatures of one function at the same moment: the
index of one process can end up pointing at another's code, and the next
process to load it crashes with a segmentation fault (seen with two parallel
``tunesmith analyze`` runs on a fresh install). An exclusive file lock around
every librosa call removes the race; the wait is at most one analysis (about a
second), and once the cache is warm nothing is written any more.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no lock, and no known crash either
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def librosa_lock() -> Iterator[None]:
    """Hold an exclusive inter-process lock tied to the installed librosa."""
    if fcntl is None:
        yield
        return
    import librosa

    key = hashlib.sha256(str(Path(librosa.__file__).resolve()).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"tunesmith-librosa-{key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
