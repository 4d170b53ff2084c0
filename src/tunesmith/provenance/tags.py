"""Plain-words labels inside files C2PA does not cover: MIDI, MusicXML, WAV/AIFF info, PNG, HTML.

Each writer puts the same sentence (:func:`tunesmith.provenance.describe.plain_label`) where that
format's own tools show it, and each reader finds it again for ``tunesmith verify``:

- MIDI: a text meta event ``tunesmith provenance: …`` at the start of the first track, plus a
  copyright meta event when the file has none (``write_midi`` already writes one for generated
  songs). Readers that take text events as chord symbols skip it: it does not parse as a chord;
- MusicXML: ``<miscellaneous-field name="tunesmith-…">`` entries in ``<identification>``
  (``.mxl``: inside the zipped score, timestamps kept, so the bytes stay deterministic);
- WAV: a ``LIST``/``INFO`` chunk (``ISFT`` software, ``ICMT`` comment) before the C2PA chunk;
  AIFF: an ``ANNO`` chunk;
- PNG: ``tEXt`` chunks ``Software`` and ``Comment``; HTML: ``<meta>`` tags in ``<head>``.

No label carries a date, so the same inputs still give the same bytes.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path

from tunesmith.atomic import atomic_path

PREFIX = "tunesmith provenance: "
XML_FIELDS = ("tunesmith-label", "tunesmith-digital-source-type", "tunesmith-recipe")


def _escape(text: str, quote: bool = True) -> str:
    """XML/HTML escaping (the ``html`` module costs a few ms to import on every command)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text


def _unescape(text: str) -> str:
    return text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _ascii(text: str) -> str:
    """Latin-1-safe text for formats without a declared encoding (MIDI, RIFF INFO, PNG tEXt)."""
    return text.encode("latin-1", "replace").decode("latin-1")


# ---------------------------------------------------------------- MIDI


def _varlen(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _read_varlen(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos


def _midi_first_track(data: bytes) -> tuple[int, int] | None:
    """``(start, length)`` of the first track's events, or ``None`` if this is not a MIDI file."""
    if data[:4] != b"MThd" or len(data) < 14:
        return None
    pos = 8 + struct.unpack(">I", data[4:8])[0]
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        if data[pos : pos + 4] == b"MTrk":
            return pos + 8, length
        pos += 8 + length
    return None


def _midi_leading_meta(data: bytes, start: int, end: int) -> list[tuple[int, int, int, bytes]]:
    """The meta events at delta time 0 at the start of a track: ``(offset, next offset, type, text)``."""
    events = []
    pos = start
    while pos + 3 <= end and data[pos] == 0 and data[pos + 1] == 0xFF:
        kind = data[pos + 2]
        length, body = _read_varlen(data, pos + 3)
        events.append((pos, body + length, kind, data[body : body + length]))
        pos = body + length
    return events


def label_midi(path: Path, label: str) -> None:
    """Put the provenance text (and a copyright notice, if missing) at the start of track 1."""
    data = path.read_bytes()
    track = _midi_first_track(data)
    if track is None:
        raise ValueError("not a standard MIDI file")
    start, length = track
    leading = _midi_leading_meta(data, start, start + length)
    # Drop an earlier provenance event (labelling twice replaces, never stacks).
    keep = bytearray()
    cut = start
    for offset, nxt, kind, text in leading:
        if not (kind == 0x01 and text.decode("latin-1").startswith(PREFIX)):
            keep += data[offset:nxt]
        cut = nxt
    has_copyright = any(kind == 0x02 for *_, kind, _ in leading) or b"\xff\x02" in data[start : start + length]
    insert = bytearray()
    body = _ascii(PREFIX + label).encode("latin-1")
    insert += b"\x00\xff\x01" + _varlen(len(body)) + body
    if not has_copyright:
        notice = _ascii(label.split(". ")[0] + ".").encode("latin-1")
        insert += b"\x00\xff\x02" + _varlen(len(notice)) + notice
    events = bytes(keep) + bytes(insert) + data[cut : start + length]
    out = data[: start - 4] + struct.pack(">I", len(events)) + events + data[start + length :]
    with atomic_path(path) as tmp:
        tmp.write_bytes(out)


def read_midi_label(path: Path) -> dict[str, str] | None:
    """The provenance text and copyright notice of a MIDI file (``None`` if it has neither)."""
    data = path.read_bytes()
    track = _midi_first_track(data)
    if track is None:
        return None
    start, length = track
    found: dict[str, str] = {}
    for *_, kind, text in _midi_leading_meta(data, start, start + length):
        value = text.decode("latin-1")
        if kind == 0x01 and value.startswith(PREFIX):
            found["label"] = value[len(PREFIX) :]
        elif kind == 0x02:
            found.setdefault("copyright", value)
    return found or None


# ---------------------------------------------------------------- MusicXML


def _xml_fields(label: str, source_type: str, recipe_name: str) -> str:
    values = (label, source_type, recipe_name)
    return "".join(
        f'<miscellaneous-field name="{name}">{_escape(value, quote=False)}</miscellaneous-field>'
        for name, value in zip(XML_FIELDS, values, strict=True)
    )


def label_musicxml_text(text: str, label: str, source_type: str, recipe_name: str, version: str) -> str:
    """``text`` with the tunesmith fields in ``<identification>`` (replacing earlier ones)."""
    text = re.sub(r'<miscellaneous-field name="tunesmith-[^"]*">.*?</miscellaneous-field>', "", text, flags=re.S)
    fields = _xml_fields(label, source_type, recipe_name)
    ident = re.search(r"<identification>(.*?)</identification>", text, flags=re.S)
    if ident:
        inner = ident.group(1)
        if "</miscellaneous>" in inner:
            inner = inner.replace("</miscellaneous>", fields + "</miscellaneous>", 1)
        elif "<miscellaneous/>" in inner:
            inner = inner.replace("<miscellaneous/>", f"<miscellaneous>{fields}</miscellaneous>", 1)
        else:
            inner += f"<miscellaneous>{fields}</miscellaneous>"
        return text[: ident.start(1)] + inner + text[ident.end(1) :]
    block = (
        f"<identification><encoding><software>tunesmith {_escape(version)}</software></encoding>"
        f"<miscellaneous>{fields}</miscellaneous></identification>"
    )
    # Schema order: work, movement-number, movement-title, identification, defaults, credit, part-list.
    anchor = re.search(r"<(defaults|credit|part-list)[\s>]", text)
    if anchor is None:
        raise ValueError("no <part-list>: not a MusicXML score")
    return text[: anchor.start()] + block + "\n" + text[anchor.start() :]


def label_musicxml(path: Path, label: str, source_type: str, recipe_name: str, version: str) -> None:
    """Label a ``.musicxml``/``.xml`` file, or the score inside an ``.mxl`` archive."""
    if path.suffix.lower() != ".mxl":
        text = path.read_text(encoding="utf-8")
        new = label_musicxml_text(text, label, source_type, recipe_name, version)
        with atomic_path(path) as tmp:
            tmp.write_text(new, encoding="utf-8")
        return
    with zipfile.ZipFile(path) as z:
        root = _mxl_root(z)
        entries = [(info, z.read(info)) for info in z.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info, payload in entries:
            if info.filename == root:
                text = payload.decode("utf-8")
                payload = label_musicxml_text(text, label, source_type, recipe_name, version).encode("utf-8")
            out.writestr(info, payload, compress_type=info.compress_type)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def read_musicxml_label(path: Path) -> dict[str, str] | None:
    """The tunesmith fields (and the encoding software) of a MusicXML or ``.mxl`` score."""
    try:
        if path.suffix.lower() == ".mxl":
            with zipfile.ZipFile(path) as z:
                text = z.read(_mxl_root(z)).decode("utf-8", "replace")
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile, KeyError):
        return None
    found = {
        m.group(1)[len("tunesmith-") :]: _unescape(m.group(2))
        for m in re.finditer(r'<miscellaneous-field name="(tunesmith-[^"]*)">(.*?)</miscellaneous-field>', text, re.S)
    }
    software = re.search(r"<software>(.*?)</software>", text, re.S)
    if software and "tunesmith" in software.group(1):
        found["software"] = _unescape(software.group(1))
    return found or None


def _mxl_root(z: zipfile.ZipFile) -> str:
    container = z.read("META-INF/container.xml").decode("utf-8", "replace")
    m = re.search(r'full-path="([^"]+)"', container)
    if not m:
        raise KeyError("no rootfile in META-INF/container.xml")
    return m.group(1)


# ---------------------------------------------------------------- WAV (RIFF INFO) and AIFF (ANNO)


def riff_info_payload(label: str, version: str) -> bytes:
    """A ``LIST``/``INFO`` chunk payload: ``ISFT`` (software) and ``ICMT`` (comment)."""
    out = bytearray(b"INFO")
    for cid, value in ((b"ISFT", f"tunesmith {version}"), (b"ICMT", label)):
        data = _ascii(value).encode("latin-1") + b"\0"
        out += cid + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")
    return bytes(out)


def read_riff_info(path: Path) -> dict[str, str] | None:
    """``ISFT``/``ICMT`` of the WAV's ``LIST``/``INFO`` chunk, when the comment is tunesmith's."""
    found: dict[str, str] = {}
    for cid, payload in _iff_chunks(path, "<", b"RIFF"):
        if cid == b"LIST" and payload[:4] == b"INFO":
            pos = 4
            while pos + 8 <= len(payload):
                sub = payload[pos : pos + 4]
                (n,) = struct.unpack("<I", payload[pos + 4 : pos + 8])
                value = payload[pos + 8 : pos + 8 + n].rstrip(b"\0").decode("latin-1")
                found[{b"ISFT": "software", b"ICMT": "label"}.get(sub, sub.decode("latin-1"))] = value
                pos += 8 + n + (n & 1)
    return found if "tunesmith" in found.get("software", "") else None


def label_aiff(path: Path, label: str) -> None:
    """Append an ``ANNO`` chunk and fix the FORM size (big-endian, like everything in AIFF)."""
    with open(path, "r+b") as fh:
        head = fh.read(12)
        if head[:4] != b"FORM" or head[8:12] not in (b"AIFF", b"AIFC"):
            raise ValueError("not an AIFF file")
        fh.seek(0, os.SEEK_END)
        if fh.tell() & 1:
            fh.write(b"\0")
        data = _ascii(label).encode("latin-1")
        fh.write(b"ANNO" + struct.pack(">I", len(data)) + data + (b"\0" if len(data) & 1 else b""))
        total = fh.tell()
        fh.seek(4)
        fh.write(struct.pack(">I", total - 8))


def read_aiff_label(path: Path) -> dict[str, str] | None:
    """The tunesmith ``ANNO`` text of an AIFF file."""
    for cid, payload in _iff_chunks(path, ">", b"FORM"):
        text = payload.decode("latin-1")
        if cid == b"ANNO" and "tunesmith" in text:
            return {"label": text}
    return None


def _iff_chunks(path: Path, endian: str, magic: bytes) -> list[tuple[bytes, bytes]]:
    """Small chunks of a RIFF/FORM file (the audio data is skipped, never read)."""
    chunks: list[tuple[bytes, bytes]] = []
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if fh.read(4) != magic:
            return chunks
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            header = fh.read(8)
            (n,) = struct.unpack(endian + "I", header[4:8])
            if header[:4] in (b"LIST", b"ANNO") and n < 1 << 20:
                chunks.append((header[:4], fh.read(n)))
            pos += 8 + n + (n & 1)
    return chunks


# ---------------------------------------------------------------- PNG and HTML


def label_png(path: Path, label: str, version: str) -> None:
    """Insert ``tEXt`` chunks (Software, Comment) right after ``IHDR``."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    ihdr_end = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4
    chunks = b""
    for key, value in (("Software", f"tunesmith {version}"), ("Comment", label)):
        body = key.encode("latin-1") + b"\0" + _ascii(value).encode("latin-1")
        chunks += struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data[:ihdr_end] + chunks + data[ihdr_end:])


def read_png_label(path: Path) -> dict[str, str] | None:
    """The tunesmith ``tEXt`` chunks of a PNG."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    found: dict[str, str] = {}
    pos = 8
    while pos + 8 <= len(data):
        n = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        if kind == b"tEXt":
            key, _, value = data[pos + 8 : pos + 8 + n].partition(b"\0")
            found.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))  # ours come first
        if kind == b"IDAT":
            break
        pos += 12 + n
    if "tunesmith" not in found.get("software", ""):
        return None
    return {"software": found["software"], "label": found.get("comment", "")}


def label_html(path: Path, label: str, version: str) -> None:
    """Add ``<meta name="generator">`` and ``<meta name="tunesmith-label">`` to the page's head."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'<meta name="(?:generator|tunesmith-label)" content="[^"]*">\n?', "", text)
    tags = (
        f'<meta name="generator" content="tunesmith {_escape(version)}">\n'
        f'<meta name="tunesmith-label" content="{_escape(label)}">\n'
    )
    m = re.search(r"<head[^>]*>", text, flags=re.I)
    new = text[: m.end()] + "\n" + tags + text[m.end() :] if m else tags + text
    with atomic_path(path) as tmp:
        tmp.write_text(new, encoding="utf-8")


def read_html_label(path: Path) -> dict[str, str] | None:
    """The tunesmith ``<meta>`` tags of an HTML page."""
    text = path.read_text(encoding="utf-8", errors="replace")
    m = re.search(r'<meta name="tunesmith-label" content="([^"]*)">', text)
    return {"label": _unescape(m.group(1))} if m else None
