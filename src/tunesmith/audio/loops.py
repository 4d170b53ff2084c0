"""Seamless loops: wrap release tails to the start, and mark loop points in a WAV file.

A loop rendered once has notes ringing past its end and nothing ringing into its
start, so it clicks when repeated. :func:`wrap_tail` folds everything past the loop
length back onto the beginning — exactly what the listener hears on the second
pass — so the file repeats sample-exactly. :func:`write_loop_points` adds a RIFF
``smpl`` chunk (the one samplers and DAWs read: Kontakt, Logic, Ableton, Reaper) with
one forward loop over the whole file.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np

from tunesmith.atomic import atomic_path
from tunesmith.errors import InputFileError


def wrap_tail(audio: np.ndarray, length: int) -> np.ndarray:
    """Fold ``audio`` past ``length`` frames back onto its start (repeatedly if longer than a loop).

    Parameters
    ----------
    audio : numpy.ndarray
        ``(frames, channels)`` float samples; shorter input is padded with silence.
    length : int
        Loop length, frames (> 0).

    Returns
    -------
    numpy.ndarray
        ``(length, channels)``: one period of the loop as it sounds when repeated.
    """
    if length <= 0:
        raise ValueError("loop length must be positive")
    out = np.zeros((length, audio.shape[1]), dtype=np.float32)
    for start in range(0, audio.shape[0], length):
        chunk = audio[start : start + length]
        out[: chunk.shape[0]] += chunk
    return out


def tile(audio: np.ndarray, times: int) -> np.ndarray:
    """``times`` copies of a loop end to end (for processing a loop in its steady state)."""
    return np.concatenate([audio] * times, axis=0)


def write_loop_points(path: str | os.PathLike[str], start: int, end: int, sample_rate: int) -> None:
    """Add a ``smpl`` chunk with one forward loop ``start..end`` (frames, end exclusive) to a WAV file.

    The file is rewritten atomically; an existing ``smpl`` chunk is replaced.

    Raises
    ------
    InputFileError
        If the file is not a RIFF/WAVE file or the loop does not fit the 32-bit fields.
    """
    p = Path(path)
    data = p.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise InputFileError("not a RIFF WAVE file; loop points need WAV", p)
    if not 0 <= start < end <= 0xFFFFFFFF:
        raise InputFileError(f"loop {start}..{end} does not fit a WAV smpl chunk", p)
    chunks = [c for c in _chunks(data) if c[0] != b"smpl"]
    period_ns = round(1e9 / sample_rate)
    body = struct.pack("<9I", 0, 0, period_ns, 60, 0, 0, 0, 1, 0)
    body += struct.pack("<6I", 0, 0, start, end - 1, 0, 0)  # id, forward, first, last (inclusive), fraction, forever
    chunks.append((b"smpl", body))
    payload = b"WAVE" + b"".join(
        cid + struct.pack("<I", len(b)) + b + (b"\0" if len(b) % 2 else b"") for cid, b in chunks
    )
    with atomic_path(p) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"RIFF" + struct.pack("<I", len(payload)) + payload)
        shutil.copymode(p, tmp)


def read_loop_points(path: str | os.PathLike[str]) -> list[tuple[int, int]]:
    """The loops of a WAV file's ``smpl`` chunk as (start, end) frames, end exclusive ([] when none)."""
    data = Path(path).read_bytes()
    for cid, body in _chunks(data):
        if cid == b"smpl" and len(body) >= 36:
            n = struct.unpack_from("<I", body, 28)[0]
            loops = []
            for i in range(n):
                off = 36 + 24 * i
                if off + 24 > len(body):
                    break
                _, _, first, last, _, _ = struct.unpack_from("<6I", body, off)
                loops.append((first, last + 1))
            return loops
    return []


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        out.append((cid, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out
