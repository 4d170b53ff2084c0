"""Errors that the CLI turns into one-line messages.

Every problem a user can cause (a missing file, a file that is not audio, a
bad option) raises a :class:`TunesmithError` subclass whose ``str()`` is the
whole message, already naming the file, so the CLI prints
``tunesmith: error: <message>`` and exits without a traceback.
"""

from __future__ import annotations

import os


class TunesmithError(Exception):
    """Base class for errors reported to the user without a traceback.

    Parameters
    ----------
    message : str
        What went wrong, in plain words.
    path : str or os.PathLike, optional
        The file the problem is about; it is put in front of the message.
    exit_code : int
        Process exit status the CLI uses: 1 for failures, 2 for usage errors.
    """

    exit_code = 1

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        self.message = message
        self.path = None if path is None else os.fspath(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


class InputFileError(TunesmithError):
    """An input file is missing, unreadable or not what it claims to be."""


class UsageError(TunesmithError):
    """An option or argument has a value that cannot be used."""

    exit_code = 2
