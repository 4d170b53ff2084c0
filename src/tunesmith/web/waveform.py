"""Waveform overviews for the pages: the lowest and highest sample per screen column, streamed."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tunesmith.audio.io import AudioReader

COLUMNS = 1200


def waveform(path: str | os.PathLike[str], columns: int = COLUMNS) -> dict[str, Any]:
    """Min/max envelope of a file's mono sum in ``columns`` equal stretches of time.

    The file is read block by block (memory does not grow with its length). Each column holds
    the lowest and highest sample of the channels' mean over its stretch, rounded to 1e-4 full
    scale, which is all a canvas a few thousand pixels wide can show.

    Parameters
    ----------
    path : str or os.PathLike
        Any audio file tunesmith reads.
    columns : int
        Columns wanted (fewer for files shorter than that many samples).

    Returns
    -------
    dict
        ``min`` and ``max`` (lists, full scale), ``duration_s``, ``sample_rate_hz``.
    """
    with AudioReader(path) as reader:
        frames = max(1, reader.info.frames)
        rate = reader.info.sample_rate
        n = max(1, min(columns, frames))
        lo = np.full(n, np.inf)
        hi = np.full(n, -np.inf)
        pos = 0
        for block in reader.blocks():
            mono = block.mean(axis=1)
            col = np.minimum((np.arange(pos, pos + len(mono), dtype=np.int64) * n) // frames, n - 1)
            starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
            cols = col[starts]
            np.minimum.at(lo, cols, np.minimum.reduceat(mono, starts))
            np.maximum.at(hi, cols, np.maximum.reduceat(mono, starts))
            pos += len(mono)
    lo[~np.isfinite(lo)] = 0.0
    hi[~np.isfinite(hi)] = 0.0
    return {
        "min": np.round(lo, 4).tolist(),
        "max": np.round(hi, 4).tolist(),
        "duration_s": round(pos / rate, 3),
        "sample_rate_hz": rate,
    }
