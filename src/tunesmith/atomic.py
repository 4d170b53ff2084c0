"""Atomic file output: write to a temporary file beside the target, then rename.

A reader (or a crash) never sees a half-written output, and an existing file is
only replaced once the new one is complete.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tunesmith.errors import TunesmithError, UsageError

#: OS errors that can only be about the file being written (a disk full, a quota, a file-size
#: limit, a read-only file system): reported as one line naming the output.
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def check_not_input(output: str | os.PathLike[str], inputs: list[str | os.PathLike[str]]) -> None:
    """Refuse to write over one of the inputs.

    Raises
    ------
    UsageError
        If ``output`` resolves to the same file as any of ``inputs``.
    """
    out = Path(output).resolve()
    for item in inputs:
        if Path(item).resolve() == out:
            raise UsageError("output would overwrite an input file; choose another name", output)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    The temporary name keeps the target's suffix so that writers that pick a
    format from the extension still work. On any exception the temporary file
    is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination. Its parent folder is created if missing.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=target.parent)
    except OSError as exc:  # a read-only or full folder: say so about the output, not the temp name
        raise TunesmithError(f"cannot write here ({exc.strerror or exc})", target) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _OUTPUT_ERRNOS:
            raise TunesmithError(f"cannot write ({exc.strerror})", target) from None
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
