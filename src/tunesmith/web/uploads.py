"""Uploads: request bodies streamed to disk in chunks, never held whole in memory, with a size limit.

An upload is either the raw body (``POST /api/uploads?name=song.wav``, what the studio's pages
send: the browser streams the file) or ``multipart/form-data`` with one or more files (what
``curl -F`` sends), parsed as it arrives. Each file lands in ``uploads/<id>/<safe name>`` under a
temporary name, is hashed (SHA-256) on the way, and appears under its real name with an
``upload.json`` beside it only when complete; a body over the limit stops with HTTP 413 and
leaves nothing behind. Zip archives of stems are unpacked by :func:`extract_zip` inside a job,
never in a request.

Clean-up policy (uploads are working copies, never the studio's record of anything):

- a job takes its own hard link to each upload it uses, so an upload is **consumed** by its jobs:
  it is deleted as soon as the last queued or running job that used it has ended (done, failed
  or cancelled) or been deleted. Until then the same upload id can start more jobs (a second
  master at another target, one reference for several masters);
- an upload no job has used is deleted once it is older than ``max_age_s`` (24 h by default);
  the studio sweeps at start and every 10 minutes;
- a partial upload (the body stopped: over the limit, the client went away, a bad multipart
  body) is deleted at once; any left by a server that was killed mid-upload are deleted when the
  next one starts (no upload can be arriving then: the data folder is one studio's alone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import anyio.to_thread
from fastapi import HTTPException, Request

from tunesmith.atomic import write_text_atomic
from tunesmith.errors import InputFileError
from tunesmith.web.security import ID_PATTERN, safe_name

#: The largest upload accepted by default: 2 GiB (a long multitrack stem at 192 kHz / 32-bit float).
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3
#: Bytes gathered before one disk write (and hash update), done off the event loop.
FLUSH_BYTES = 1 << 20
MAX_FILES_PER_REQUEST = 64
#: Age after which an upload no job is using is deleted, s.
DEFAULT_MAX_AGE_S = 24 * 3600.0


class UploadTooLarge(Exception):  # noqa: N818 - mirrors HTTP's "413 Content Too Large"
    """The body went past the size limit."""


class _FileSink:
    """One file being received: written under a temporary name, hashed, counted."""

    def __init__(self, folder: Path, name: str, budget: Callable[[int], None]) -> None:
        self.folder = folder
        self.name = name
        self.tmp = folder / f".{name}.part"
        self.fh: BinaryIO = open(self.tmp, "wb")  # noqa: SIM115 - closed in finish()/abort()
        self.digest = hashlib.sha256()
        self.size = 0
        self.budget = budget

    def write(self, data: bytes | memoryview) -> None:
        self.budget(len(data))
        self.fh.write(data)
        self.digest.update(data)
        self.size += len(data)

    def finish(self) -> dict[str, Any]:
        self.fh.close()
        final = self.folder / self.name
        self.tmp.replace(final)
        return {"name": self.name, "bytes": self.size, "sha256": self.digest.hexdigest()}

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


class UploadStore:
    """The uploads folder of a studio.

    Parameters
    ----------
    root : pathlib.Path
        ``<data dir>/uploads``.
    max_bytes : int
        Largest request body accepted, bytes.
    max_age_s : float
        Age after which an upload that no job is using is deleted by :meth:`sweep`, s.
    """

    def __init__(
        self, root: Path, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, max_age_s: float = DEFAULT_MAX_AGE_S
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        root.mkdir(parents=True, exist_ok=True)

    def id_of(self, path: Path) -> str | None:
        """The id of the upload ``path`` is the file of, or None (not an upload of this store)."""
        folder = Path(path).parent
        if folder.parent != self.root or not ID_PATTERN.match(folder.name):
            return None
        return folder.name

    def sweep(self, keep: set[str] | frozenset[str] = frozenset(), partial_too: bool = False) -> list[str]:
        """Delete expired uploads (see the module's clean-up policy); the ids deleted.

        Parameters
        ----------
        keep : set of str
            Uploads in use by a waiting or running job: never deleted.
        partial_too : bool
            Delete every partial upload whatever its age (only when no upload can be arriving:
            at start).
        """
        now = time.time()
        removed = []
        for folder in self.root.iterdir():
            if not folder.is_dir() or not ID_PATTERN.match(folder.name) or folder.name in keep:
                continue
            complete = (folder / "upload.json").is_file()
            try:
                # A partial upload's file is written as it arrives: its newest file says when it last moved.
                touched = max([folder.stat().st_mtime, *(p.stat().st_mtime for p in folder.iterdir())])
            except OSError:
                continue  # deleted meanwhile
            if (not complete and partial_too) or now - touched > self.max_age_s:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        return removed

    def folder(self, upload_id: str) -> Path | None:
        """The folder of a complete upload, or None (also for anything that is not an id)."""
        if not ID_PATTERN.match(upload_id):
            return None
        folder = self.root / upload_id
        return folder if (folder / "upload.json").is_file() else None

    def get(self, upload_id: str) -> dict[str, Any] | None:
        """The upload's record (id, name, bytes, sha256, created), or None."""
        folder = self.folder(upload_id)
        if folder is None:
            return None
        return json.loads((folder / "upload.json").read_text(encoding="utf-8"))

    def path(self, upload_id: str) -> Path | None:
        """The uploaded file itself, or None."""
        doc = self.get(upload_id)
        return None if doc is None else self.root / upload_id / doc["name"]

    def delete(self, upload_id: str) -> bool:
        """Remove an upload (jobs keep their own links to it). True when there was one."""
        folder = self.folder(upload_id)
        if folder is None:
            return False
        shutil.rmtree(folder)
        return True

    async def receive(self, request: Request) -> list[dict[str, Any]]:
        """Stream the request body to disk: one upload per file; their records, in order.

        Raises
        ------
        HTTPException
            413 over the size limit, 400 for a multipart body without files or a bad boundary.
        """
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise HTTPException(413, f"upload of {int(declared)} bytes is over the limit of {self.max_bytes} bytes")
        content_type = request.headers.get("content-type", "")
        received = 0

        def budget(n: int) -> None:
            nonlocal received
            received += n
            if received > self.max_bytes:
                raise UploadTooLarge

        sinks: list[_FileSink] = []
        done: list[dict[str, Any]] = []
        try:
            if content_type.lower().startswith("multipart/form-data"):
                await self._multipart(request, content_type, budget, sinks)
            else:
                name = request.query_params.get("name") or request.headers.get("x-filename") or "upload"
                sinks.append(self._open(name, budget))
                await self._pump(request, sinks[0].write)
            if not sinks:
                raise HTTPException(400, "no file in the upload")
            for sink in sinks:
                done.append(self._commit(sink))
        except UploadTooLarge:
            self._discard(sinks)
            raise HTTPException(413, f"upload is over the limit of {self.max_bytes} bytes") from None
        except BaseException:
            self._discard(sinks)
            raise
        return done

    def _open(self, name: str, budget: Callable[[int], None]) -> _FileSink:
        upload_id = uuid.uuid4().hex
        folder = self.root / upload_id
        folder.mkdir(parents=True)
        return _FileSink(folder, safe_name(name), budget)

    def _commit(self, sink: _FileSink) -> dict[str, Any]:
        doc = {
            "id": sink.folder.name,
            **sink.finish(),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        write_text_atomic(sink.folder / "upload.json", json.dumps(doc) + "\n")
        return doc

    @staticmethod
    def _discard(sinks: list[_FileSink]) -> None:
        for sink in sinks:
            sink.abort()
            if not (sink.folder / "upload.json").exists():
                shutil.rmtree(sink.folder, ignore_errors=True)

    @staticmethod
    async def _pump(request: Request, write: Callable[[bytes], None]) -> None:
        """Feed the body to ``write`` in writes of about 1 MiB, each in a worker thread.

        Disk writes and hashing stay off the event loop, so other requests (progress events,
        pages) are served while a 2 GB file comes in.
        """
        pending = bytearray()
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= FLUSH_BYTES:
                data, pending = bytes(pending), bytearray()
                await anyio.to_thread.run_sync(write, data)
        if pending:
            await anyio.to_thread.run_sync(write, bytes(pending))

    async def _multipart(
        self, request: Request, content_type: str, budget: Callable[[int], None], sinks: list[_FileSink]
    ) -> None:
        from python_multipart.multipart import MultipartParser, parse_options_header

        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise HTTPException(400, "multipart body without a boundary")
        state: dict[str, Any] = {"field": b"", "value": b"", "headers": {}, "sink": None}

        def on_part_begin() -> None:
            state["headers"] = {}
            state["sink"] = None

        def on_header_field(data: bytes, start: int, end: int) -> None:
            state["field"] += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            state["value"] += data[start:end]

        def on_header_end() -> None:
            state["headers"][state["field"].lower()] = state["value"]
            state["field"], state["value"] = b"", b""

        def on_headers_finished() -> None:
            _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
            filename = disposition.get(b"filename")
            if filename is None:
                return  # a plain form field: not a file, ignored
            if len(sinks) >= MAX_FILES_PER_REQUEST:
                raise HTTPException(400, f"at most {MAX_FILES_PER_REQUEST} files per upload")
            state["sink"] = self._open(filename.decode("utf-8", "replace"), budget)
            sinks.append(state["sink"])

        def on_part_data(data: bytes, start: int, end: int) -> None:
            if state["sink"] is not None:
                state["sink"].write(memoryview(data)[start:end])

        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": on_part_begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished,
                "on_part_data": on_part_data,
            },
        )
        await self._pump(request, parser.write)
        parser.finalize()


def extract_zip(
    archive: Path, dest: Path, suffixes: set[str], max_total_bytes: int, max_files: int = MAX_FILES_PER_REQUEST
) -> list[Path]:
    """Unpack the files of ``archive`` whose suffix is in ``suffixes`` into ``dest``, flat and safely.

    Folder names inside the archive are dropped (every file lands directly in ``dest`` under a
    sanitised name; clashes get a number), so no entry can point outside ``dest``. Links and
    folders are skipped, hidden files and macOS resource forks too. The total unpacked size is
    counted as the bytes come out, not trusted from the archive's header (a zip bomb stops at
    ``max_total_bytes``).

    Raises
    ------
    InputFileError
        Not a zip file, no audio inside, more than ``max_files`` audio files, or over the size limit.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputFileError(f"not a readable zip archive ({exc})", archive.name) from None
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    total = 0
    with zf:
        for info in zf.infolist():
            parts = info.filename.replace("\\", "/").split("/")
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if info.is_dir() or is_link or "__MACOSX" in parts or parts[-1].startswith("."):
                continue
            name = safe_name(parts[-1], default="stem")
            if Path(name).suffix.lower() not in suffixes:
                continue
            if len(written) >= max_files:
                raise InputFileError(f"holds more than {max_files} audio files", archive.name)
            target = dest / name
            k = 2
            while target.exists():
                target = dest / f"{Path(name).stem}-{k}{Path(name).suffix}"
                k += 1
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(FLUSH_BYTES):
                    total += len(chunk)
                    if total > max_total_bytes:
                        out.close()
                        target.unlink(missing_ok=True)
                        raise InputFileError(f"unpacks to more than {max_total_bytes} bytes", archive.name)
                    out.write(chunk)
            written.append(target)
    if not written:
        raise InputFileError("holds no audio files", archive.name)
    return written
