"""The status of every job, held in memory: what status calls, the jobs list and progress streams read.

A status call must stay cheap however many pages are watching (the target is p95 ≤ 50 ms with
50 jobs being mastered and 200 watchers), so nothing on its path touches the disk: the job
manager puts a new status here each time a job changes (state changes it makes itself, progress
it reads from the running workers), and every reader — ``GET /api/jobs/{id}/status``,
``GET /api/jobs`` and all the server-sent-event streams of a job — shares that one copy. A status
is encoded to JSON once, when it is put, not once per reader.

Statuses are replaced, never changed in place, so a reader can tell "changed" by identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Status:
    """One job's status as published.

    Attributes
    ----------
    doc : dict
        The status (id, kind, title, state, times, stage, progress, error, note, ``updated``);
        never changed after it is published.
    encoded : bytes
        ``doc`` as JSON (UTF-8), what every reader sends.
    """

    doc: dict[str, Any]
    encoded: bytes = field(repr=False)


class StatusBoard:
    """Statuses by job id; thread-safe to publish, awaitable for changes on one event loop."""

    def __init__(self) -> None:
        self._statuses: dict[str, Status] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Wake waiters on ``loop`` (the server's event loop; None: nobody waits)."""
        self._loop = loop

    def put(self, doc: dict[str, Any]) -> Status:
        """Publish ``doc`` as the status of job ``doc["id"]`` (from any thread); wakes its waiters."""
        status = Status(doc, json.dumps(doc, allow_nan=False).encode())
        job_id = doc["id"]
        with self._lock:
            self._statuses[job_id] = status
            waiting = bool(self._waiters.get(job_id))
        if waiting:
            self._wake_soon(job_id)
        return status

    def drop(self, job_id: str) -> None:
        """Forget a job (it was deleted); its waiters see None."""
        with self._lock:
            self._statuses.pop(job_id, None)
            waiting = bool(self._waiters.get(job_id))
        if waiting:
            self._wake_soon(job_id)

    def get(self, job_id: str) -> Status | None:
        """The job's status, or None."""
        return self._statuses.get(job_id)

    def all(self) -> list[Status]:
        """Every status, newest job first."""
        with self._lock:
            statuses = list(self._statuses.values())
        return sorted(statuses, key=lambda s: s.doc["created"], reverse=True)

    async def next(self, job_id: str, seen: Status | None, timeout: float) -> Status | None:
        """The job's status once it differs from ``seen`` (or after ``timeout`` s, whatever it is).

        Must be awaited on the loop given to :meth:`bind`.
        """
        status = self.get(job_id)
        if status is not seen or self._loop is None:
            return status
        event = asyncio.Event()
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(event)
        try:
            status = self.get(job_id)  # again, now that a change would wake us: none is missed
            if status is not seen:
                return status
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
            return self.get(job_id)
        finally:
            with self._lock:
                events = self._waiters.get(job_id)
                if events is not None:
                    events.discard(event)
                    if not events:
                        del self._waiters[job_id]

    def _wake_soon(self, job_id: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is left to wake
            loop.call_soon_threadsafe(self._wake, job_id)

    def _wake(self, job_id: str) -> None:
        with self._lock:
            events = list(self._waiters.get(job_id, ()))
        for event in events:
            event.set()
