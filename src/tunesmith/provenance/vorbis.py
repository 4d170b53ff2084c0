"""Vorbis comments (the tags of FLAC and Ogg Vorbis files): write tunesmith's label, read it back.

FLAC keeps them in a ``VORBIS_COMMENT`` metadata block; the file is rewritten with the block
replaced (audio frames copied as they are). Ogg Vorbis keeps them in the second header packet,
which shares pages with the codebook packet; those pages are rebuilt, and when their number
changes every later page is renumbered and its checksum recomputed (Ogg's CRC-32 is the
unreflected polynomial 0x04C11DB7, computed here with zlib on bit-reversed bytes).
"""

from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from tunesmith.atomic import atomic_path

# Keys tunesmith writes; on relabelling, entries with these keys are replaced.
OWN_KEYS = ("COMMENT", "ENCODED_BY", "DIGITAL_SOURCE_TYPE", "PROVENANCE")
_OGG_MAGIC = b"OggS"
_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def label_fields(label: str, version: str, source_type_url: str, recipe_name: str) -> list[tuple[str, str]]:
    """The tags tunesmith writes, in order."""
    return [
        ("COMMENT", label),
        ("ENCODED_BY", f"tunesmith {version}"),
        ("DIGITAL_SOURCE_TYPE", source_type_url),
        ("PROVENANCE", recipe_name),
    ]


def _encode(vendor: str, comments: Iterable[str]) -> bytes:
    items = [c.encode("utf-8") for c in comments]
    v = vendor.encode("utf-8")
    out = struct.pack("<I", len(v)) + v + struct.pack("<I", len(items))
    return out + b"".join(struct.pack("<I", len(c)) + c for c in items)


def _decode(data: bytes) -> tuple[str, list[str]]:
    (n,) = struct.unpack("<I", data[:4])
    vendor = data[4 : 4 + n].decode("utf-8", "replace")
    pos = 4 + n
    (count,) = struct.unpack("<I", data[pos : pos + 4])
    pos += 4
    comments = []
    for _ in range(count):
        (n,) = struct.unpack("<I", data[pos : pos + 4])
        comments.append(data[pos + 4 : pos + 4 + n].decode("utf-8", "replace"))
        pos += 4 + n
    return vendor, comments


def _merge(comments: list[str], fields: list[tuple[str, str]]) -> list[str]:
    own = {k.upper() for k, _ in fields}
    kept = [c for c in comments if not (c.partition("=")[0].upper() in own and "tunesmith" in c.lower())]
    kept = [c for c in kept if c.partition("=")[0].upper() not in ("DIGITAL_SOURCE_TYPE", "PROVENANCE")]
    return kept + [f"{k}={v}" for k, v in fields]


def _as_dict(comments: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in comments:
        key, _, value = c.partition("=")
        out.setdefault(key.upper(), value)
    return out


# ---------------------------------------------------------------- FLAC


def _flac_blocks(fh: BinaryIO) -> tuple[list[tuple[int, bytes]], int]:
    """Metadata blocks ``(type, payload)`` and the offset of the first audio frame.

    A leading ID3v2 tag (where C2PA keeps its manifest in FLAC files) is skipped.
    """
    from tunesmith.provenance.content import _skip_id3v2

    fh.seek(_skip_id3v2(fh))
    if fh.read(4) != b"fLaC":
        raise ValueError("not a FLAC file")
    blocks = []
    while True:
        header = fh.read(4)
        if len(header) < 4:
            raise ValueError("FLAC metadata ends early")
        length = int.from_bytes(header[1:4], "big")
        blocks.append((header[0] & 0x7F, fh.read(length)))
        if header[0] & 0x80:
            return blocks, fh.tell()


def label_flac(path: Path, fields: list[tuple[str, str]]) -> None:
    """Replace (or add) the FLAC file's ``VORBIS_COMMENT`` block with one holding ``fields``."""
    with open(path, "rb") as fh:
        blocks, frames = _flac_blocks(fh)
    vendor, comments = "tunesmith", []
    for kind, payload in blocks:
        if kind == 4:
            vendor, comments = _decode(payload)
    new = [(k, p) for k, p in blocks if k != 4]
    new.insert(1, (4, _encode(vendor, _merge(comments, fields))))
    with atomic_path(path) as tmp, open(tmp, "wb") as out, open(path, "rb") as src:
        from tunesmith.provenance.content import _skip_id3v2

        out.write(src.read(_skip_id3v2(src)))  # keep a leading ID3 tag as it is
        out.write(b"fLaC")
        for i, (kind, payload) in enumerate(new):
            last = 0x80 if i == len(new) - 1 else 0
            out.write(bytes([last | kind]) + len(payload).to_bytes(3, "big") + payload)
        src.seek(frames)
        shutil.copyfileobj(src, out, 1 << 20)


def read_flac_tags(path: Path) -> dict[str, str]:
    """The Vorbis comments of a FLAC file, keys upper-cased (empty if it has none)."""
    with open(path, "rb") as fh:
        blocks, _ = _flac_blocks(fh)
    for kind, payload in blocks:
        if kind == 4:
            return _as_dict(_decode(payload)[1])
    return {}


# ---------------------------------------------------------------- Ogg


def ogg_crc(page: bytes) -> int:
    """Ogg's page checksum (CRC-32, polynomial 0x04C11DB7, no reflection, initial value 0)."""
    reflected = zlib.crc32(page.translate(_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def _read_page(fh: BinaryIO) -> tuple[bytes, bytes, bytes] | None:
    """``(27-byte header, lacing values, body)`` of the next page, or ``None`` at the end."""
    header = fh.read(27)
    if not header:
        return None
    if len(header) < 27 or header[:4] != _OGG_MAGIC:
        raise ValueError("not an Ogg page")
    lacing = fh.read(header[26])
    body = fh.read(sum(lacing))
    return header, lacing, body


def _page(flags: int, granule: int, serial: int, seq: int, lacing: bytes, body: bytes) -> bytes:
    header = _OGG_MAGIC + struct.pack("<BBqII", 0, flags, granule, serial, seq) + b"\0\0\0\0" + bytes([len(lacing)])
    raw = header + lacing + body
    return raw[:22] + struct.pack("<I", ogg_crc(raw)) + raw[26:]


def _paginate(packets: list[bytes], serial: int, first_seq: int) -> list[bytes]:
    """Pages holding ``packets`` (header packets: granule 0 where a packet ends, -1 elsewhere)."""
    segments: list[tuple[int, bool, bytes]] = []  # (lacing value, ends a packet, bytes)
    for packet in packets:
        n = len(packet)
        for i in range(0, n - n % 255, 255):
            segments.append((255, False, packet[i : i + 255]))
        segments.append((n % 255, True, packet[n - n % 255 :]))
    pages = []
    continued = False
    for i in range(0, len(segments), 255):
        chunk = segments[i : i + 255]
        ends = any(e for _, e, _ in chunk)
        lacing = bytes(v for v, _, _ in chunk)
        body = b"".join(b for _, _, b in chunk)
        pages.append(_page(1 if continued else 0, 0 if ends else -1, serial, first_seq + len(pages), lacing, body))
        continued = not chunk[-1][1]
    return pages


def _ogg_headers(fh: BinaryIO) -> tuple[bytes, list[bytes], int, int]:
    """First page (raw), the comment and setup packets, how many pages held them, the serial."""
    first = _read_page(fh)
    if first is None or not first[0][5] & 0x02:
        raise ValueError("not the start of an Ogg stream")
    serial = struct.unpack("<I", first[0][14:18])[0]
    if not first[2].startswith(b"\x01vorbis"):
        raise ValueError("not an Ogg Vorbis stream")
    packets: list[bytes] = []
    current = b""
    pages = 0
    while len(packets) < 2:
        page = _read_page(fh)
        if page is None:
            raise ValueError("Ogg stream ends inside its headers")
        header, lacing, body = page
        if struct.unpack("<I", header[14:18])[0] != serial:
            raise ValueError("multiplexed Ogg streams are not supported")
        pages += 1
        pos = 0
        for i, value in enumerate(lacing):
            current += body[pos : pos + value]
            pos += value
            if value < 255:
                packets.append(current)
                current = b""
                if len(packets) == 2 and i != len(lacing) - 1:
                    raise ValueError("audio shares a page with the Vorbis headers")
    if not packets[0].startswith(b"\x03vorbis"):
        raise ValueError("no Vorbis comment header")
    return b"".join(first), packets, pages, serial


def label_ogg(path: Path, fields: list[tuple[str, str]]) -> None:
    """Rewrite the Vorbis comment header of an Ogg Vorbis file with ``fields`` added."""
    with open(path, "rb") as src:
        first, (comment, setup), old_pages, serial = _ogg_headers(src)
        audio_at = src.tell()
    body = comment[7:]
    vendor, comments = _decode(body)
    packet = b"\x03vorbis" + _encode(vendor, _merge(comments, fields)) + b"\x01"  # framing bit
    pages = _paginate([packet, setup], serial, 1)
    shift = len(pages) - old_pages
    with atomic_path(path) as tmp, open(tmp, "wb") as out, open(path, "rb") as src:
        out.write(first)
        out.writelines(pages)
        src.seek(audio_at)
        if shift == 0:
            shutil.copyfileobj(src, out, 1 << 20)
            return
        while (page := _read_page(src)) is not None:
            header, lacing, page_body = page
            if struct.unpack("<I", header[14:18])[0] == serial:
                seq = struct.unpack("<I", header[18:22])[0] + shift
                header = header[:18] + struct.pack("<I", seq) + b"\0\0\0\0" + header[26:]
                raw = header + lacing + page_body
                raw = raw[:22] + struct.pack("<I", ogg_crc(raw)) + raw[26:]
            else:
                raw = header + lacing + page_body
            out.write(raw)


def read_ogg_tags(path: Path) -> dict[str, str]:
    """The Vorbis comments of an Ogg Vorbis file, keys upper-cased."""
    with open(path, "rb") as src:
        _, (comment, _), _, _ = _ogg_headers(src)
    return _as_dict(_decode(comment[7:])[1])
