"""File hashes that survive labelling: the whole file, and its *content* without the label.

A C2PA manifest holds random ids and an ECDSA signature, so two labelled copies of the same
audio differ in their label bytes. The content hash leaves the label out and covers what the
music is made of:

- WAV / AIFF: every top-level chunk (id, size and bytes: ``fmt``, ``fact``, ``data``, loop
  points …) except the label chunks (``C2PA``, ``LIST``-``INFO``, ``ANNO`` and friends) and
  libsndfile's ``PEAK`` chunk (a peak summary stamped with the time of writing); the RIFF/FORM
  header, whose size field grows with the label, is left out too;
- MP3: everything after the leading ID3v2 tags (the MPEG frames);
- FLAC: the STREAMINFO block and the audio frames (the ID3 tag C2PA puts in front, Vorbis
  comments and padding left out);
- anything else (MIDI, MusicXML, OGG, HTML, PNG): the whole file, since its label is
  deterministic (same inputs, same bytes).

Both hashes are computed in one pass over the file.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1 << 20
# Chunks left out of the content hash: labels and tags, and libsndfile's PEAK chunk, which
# stores the peak of each channel (derived from the data) *and the time it was written*, so
# two otherwise identical float WAVs written a second apart differ in it.
RIFF_LABEL_CHUNKS = {b"C2PA", b"LIST", b"id3 ", b"ID3 ", b"PEAK"}
AIFF_LABEL_CHUNKS = {b"ANNO", b"NAME", b"AUTH", b"(c) ", b"ID3 ", b"C2PA", b"COMT", b"PEAK"}

Ranges = list[tuple[int, int]]


@dataclass(frozen=True)
class FileHashes:
    """Size and hashes of one file.

    Attributes
    ----------
    bytes : int
        File size.
    sha256 : str
        Hex SHA-256 of every byte.
    content_sha256 : str
        Hex SHA-256 of the content ranges (see the module docstring).
    content : str
        What the content hash covers, in words (recorded in the recipe).
    """

    bytes: int
    sha256: str
    content_sha256: str
    content: str


def content_ranges(path: str | os.PathLike[str]) -> tuple[Ranges, str]:
    """The byte ranges ``[(start, end), ...]`` the content hash covers, and their description."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            ranges = _chunk_ranges(fh, size, "<", RIFF_LABEL_CHUNKS, riff=True)
            if ranges is not None:
                return ranges, "RIFF chunks other than C2PA, LIST-INFO and PEAK (fmt, data, loop points …)"
        if len(head) == 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            ranges = _chunk_ranges(fh, size, ">", AIFF_LABEL_CHUNKS, riff=False)
            if ranges is not None:
                return ranges, "AIFF chunks other than annotations and PEAK (COMM, SSND …)"
        # C2PA puts its manifest in an ID3v2 tag at the very start of MP3 *and* FLAC files.
        start = _skip_id3v2(fh) if head[:3] == b"ID3" else 0
        fh.seek(start)
        if fh.read(4) == b"fLaC":
            ranges = _flac_ranges(fh, start, size)
            if ranges is not None:
                return ranges, "FLAC STREAMINFO and audio frames (ID3/C2PA, tags and padding left out)"
        if start or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
            return [(start, size)], "MPEG audio frames after the ID3v2 tags"
    return [(0, size)], "the whole file"


def file_hashes(path: str | os.PathLike[str]) -> FileHashes:
    """Size, whole-file SHA-256 and content SHA-256 of ``path``, in one read."""
    ranges, what = content_ranges(path)
    size = os.path.getsize(path)
    whole, content = hashlib.sha256(), hashlib.sha256()
    with open(path, "rb") as fh:
        hash_ranges(fh, 0, size, ranges, whole, content)
    return FileHashes(size, whole.hexdigest(), content.hexdigest(), what)


def content_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of ``path``'s content ranges only."""
    return file_hashes(path).content_sha256


def hash_ranges(
    fh: BinaryIO, start: int, stop: int, ranges: Ranges, whole: hashlib._Hash, content: hashlib._Hash
) -> None:
    """Feed bytes ``[start, stop)`` of ``fh`` to ``whole`` and the parts inside ``ranges`` to ``content``."""
    fh.seek(start)
    pos = start
    spans = sorted(ranges)
    while pos < stop:
        block = fh.read(min(CHUNK_BYTES, stop - pos))
        if not block:
            break
        end = pos + len(block)
        whole.update(block)
        view = memoryview(block)
        for a, b in spans:
            lo, hi = max(a, pos), min(b, end)
            if lo < hi:
                content.update(view[lo - pos : hi - pos])
        pos = end


def _chunk_ranges(fh: BinaryIO, size: int, endian: str, skip: set[bytes], riff: bool) -> Ranges | None:
    """Ranges of the IFF chunks not in ``skip``; ``None`` when the chunk list does not parse."""
    ranges: Ranges = []
    pos = 12
    while pos + 8 <= size:
        fh.seek(pos)
        header = fh.read(8)
        cid = header[:4]
        (length,) = struct.unpack(endian + "I", header[4:8])
        end = pos + 8 + length + (length & 1)
        if end > size + 1:  # a chunk running past the end: not a file we understand
            return None
        keep = cid not in skip
        if riff and cid == b"LIST":
            fh.seek(pos + 8)
            keep = fh.read(4) != b"INFO"  # LIST-adtl (cue labels) is content; LIST-INFO is tags
        if keep:
            ranges.append((pos, min(end, size)))
        pos = end
    return ranges


def _flac_ranges(fh: BinaryIO, start: int, size: int) -> Ranges | None:
    """STREAMINFO block and everything after the last metadata block (``start``: where ``fLaC`` is)."""
    pos = start + 4
    ranges: Ranges = []
    while True:
        fh.seek(pos)
        header = fh.read(4)
        if len(header) < 4:
            return None
        last, kind = header[0] & 0x80, header[0] & 0x7F
        length = int.from_bytes(header[1:4], "big")
        if kind == 0:
            ranges.append((pos, pos + 4 + length))
        pos += 4 + length
        if last:
            break
        if pos > size:
            return None
    ranges.append((pos, size))
    return ranges


def _skip_id3v2(fh: BinaryIO) -> int:
    """Offset just past the ID3v2 tags at the start of a file (0 when there are none)."""
    pos = 0
    while True:
        fh.seek(pos)
        header = fh.read(10)
        if len(header) < 10 or header[:3] != b"ID3":
            return pos
        length = 0
        for b in header[6:10]:  # "synchsafe" integer: 7 bits per byte
            length = (length << 7) | (b & 0x7F)
        footer = 10 if header[5] & 0x10 else 0
        pos += 10 + length + footer


def mime_of(path: str | os.PathLike[str]) -> str:
    """A MIME type for the formats tunesmith reads and writes (``application/octet-stream`` otherwise)."""
    return MIME.get(Path(path).suffix.lower(), "application/octet-stream")


MIME = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".m4a": "audio/mp4",
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".musicxml": "application/vnd.recordare.musicxml+xml",
    ".xml": "application/vnd.recordare.musicxml+xml",
    ".mxl": "application/vnd.recordare.musicxml",
    ".abc": "text/vnd.abc",
    ".html": "text/html",
    ".png": "image/png",
    ".json": "application/json",
    ".m3u": "audio/x-mpegurl",
    ".m3u8": "audio/x-mpegurl",
}
