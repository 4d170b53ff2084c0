"""Load test of the studio on 127.0.0.1: many clients mastering at once, many more watching.

What it does (a fixed amount of work; it stops by itself):

1. starts ``tunesmith serve`` on a free port of 127.0.0.1 over a fresh data folder and waits for
   ``/api/health``; notes the server's resident memory (the baseline) after a warm-up job;
2. ``--clients`` (50) clients at once each upload a short WAV of their own (a sine at a frequency
   no other client uses, so outputs can be told apart), start a master job on it, follow it to the
   end (its status every 0.25 s), fetch the full job (result and files) once, as a page does, and
   download ``master.wav``;
3. meanwhile ``--watchers`` (200) connections at once follow those jobs: half by server-sent
   events (``/api/jobs/{id}/events`` until ``event: end``, as the pages do), half by polling
   ``/api/jobs/{id}/status`` every 0.5 s (what a page polls when it cannot stream; at most
   ``--polls`` each), timing every status call; each SSE event's delay is measured from the
   moment the change happened (the status's ``updated`` time: the worker's progress report, or
   the server's state change) to its arrival;
4. when everything has finished, waits for the server to settle and reads its memory again.

Checks: every job ends ``done`` (none lost), each client's job names its own upload, and the
master each client downloads peaks at its own frequency (none mixed up); status-call latency
p50/p95/p99 (target: p95 ≤ 50 ms; the clients' own status calls are timed too); the full-job
call; the SSE delay; server memory before, at peak and after (target: back to the baseline
within 10 % + 20 MB). Prints a table and writes ``benchmarks/results/studio_load.json``.

Usage::

    .venv/bin/python benchmarks/studio_load.py                      # 50 clients, 200 watchers
    .venv/bin/python benchmarks/studio_load.py --clients 5 --watchers 20 --seconds-of-audio 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

if TYPE_CHECKING:
    import httpx

HOST = "127.0.0.1"
#: The studio refuses writes without it (its guard against cross-site requests).
HEADERS = {"X-Tunesmith": "1"}
RATE = 44_100


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of one process, MB (from /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return float("nan")


def tone_wav(freq_hz: float, seconds: float) -> bytes:
    """A stereo 16-bit WAV of a sine at ``freq_hz`` with a little noise (so it is music-like enough)."""
    t = np.arange(round(seconds * RATE)) / RATE
    rng = np.random.default_rng(int(freq_hz))
    x = 0.4 * np.sin(2 * np.pi * freq_hz * t) + 0.01 * rng.standard_normal(len(t))
    buf = io.BytesIO()
    sf.write(buf, np.stack([x, 0.9 * x], axis=1).astype(np.float32), RATE, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def peak_frequency(wav: bytes) -> float:
    """Frequency of the strongest FFT bin of a WAV's first channel, Hz."""
    x, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    spec = np.abs(np.fft.rfft(x[:, 0] * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


def percentile(values: list[float], q: float) -> float:
    """The ``q`` percentile (0–100) of ``values``; nan when empty."""
    return float(np.percentile(values, q)) if values else float("nan")


@dataclass
class Tally:
    """What the clients and watchers saw."""

    status_ms: list[float] = field(default_factory=list)
    client_status_ms: list[float] = field(default_factory=list)
    full_ms: list[float] = field(default_factory=list)
    sse_delay_ms: list[float] = field(default_factory=list)
    upload_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    job_s: list[float] = field(default_factory=list)
    done: int = 0
    lost: list[str] = field(default_factory=list)
    mixed_up: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sse_streams_completed: int = 0
    sse_events: int = 0
    polls: int = 0
    requests: int = 0


async def client(
    http: httpx.AsyncClient, index: int, freq: float, seconds: float, jobs: asyncio.Queue, tally: Tally
) -> None:
    """Upload, master, follow, download, check."""
    body = tone_wav(freq, seconds)
    name = f"client{index:03d}.wav"
    t0 = time.perf_counter()
    r = await http.post("/api/uploads", params={"name": name}, content=body)
    tally.upload_ms.append(1000 * (time.perf_counter() - t0))
    tally.requests += 1
    r.raise_for_status()
    upload = r.json()["uploads"][0]
    t0 = time.perf_counter()
    r = await http.post("/api/master", json={"upload": upload["id"], "formats": ["wav"], "report": False})
    tally.submit_ms.append(1000 * (time.perf_counter() - t0))
    tally.requests += 1
    r.raise_for_status()
    job_id = r.json()["job"]["id"]
    await jobs.put(job_id)
    started = time.perf_counter()
    state = "queued"
    host, port = str(http.base_url).removeprefix("http://").rstrip("/").rsplit(":", 1)
    conn = KeepAlive(host, int(port))
    try:
        while state not in ("done", "failed", "cancelled"):
            await asyncio.sleep(0.25)
            t0 = time.perf_counter()
            _, body = await conn.get(f"/api/jobs/{job_id}/status")
            tally.client_status_ms.append(1000 * (time.perf_counter() - t0))
            tally.requests += 1
            state = json.loads(body)["state"]
    finally:
        await conn.close()
    tally.job_s.append(time.perf_counter() - started)
    t0 = time.perf_counter()
    r = await http.get(f"/api/jobs/{job_id}")  # the full job, once, as a page fetches it at the end
    tally.full_ms.append(1000 * (time.perf_counter() - t0))
    tally.requests += 1
    doc = r.json()
    if state != "done":
        tally.lost.append(f"{name}: job {job_id} ended {state}: {doc.get('error')}")
        return
    if doc["params"]["input"] != name:
        tally.mixed_up.append(f"{name}: job {job_id} mastered {doc['params']['input']}")
        return
    r = await http.get(f"/api/jobs/{job_id}/files/master.wav")
    tally.requests += 1
    r.raise_for_status()
    heard = peak_frequency(r.content)
    if abs(heard - freq) > 3.0:  # one FFT bin of a 1 s file is 1 Hz; tones are 7 Hz apart
        tally.mixed_up.append(f"{name}: sent {freq:.0f} Hz, got back {heard:.1f} Hz")
        return
    tally.done += 1


async def sse_watcher(http: httpx.AsyncClient, job_id: str, tally: Tally) -> None:
    """Follow one job's events until the server says it ended."""
    async with http.stream("GET", f"/api/jobs/{job_id}/events", timeout=None) as r:
        tally.requests += 1
        event = None
        first = True  # the first event is the state at connecting (maybe long unchanged): no delay to time
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                tally.sse_events += 1
                if event is None:
                    updated = json.loads(line[5:]).get("updated")
                    if updated is not None and not first:  # same machine, same clock
                        tally.sse_delay_ms.append(1000 * (time.time() - updated))
                    first = False
                if event == "end":
                    tally.sse_streams_completed += 1
                    return
                event = None


class KeepAlive:
    """One keep-alive HTTP/1.1 connection for GETs answered with a Content-Length body.

    What a browser tab polling the studio holds. Written on asyncio streams because the load
    client shares the cores with the server: httpx spends about 1 ms of CPU per call, and a
    starved client would time its own waiting as the server's latency.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        """``GET path``: the status code and the body."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nX-Tunesmith: 1\r\n\r\n"
        self.writer.write(head.encode())
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        code = int(lines[0].split()[1])
        length = next(int(h.split(":", 1)[1]) for h in lines[1:] if h.lower().startswith("content-length:"))
        return code, await self.reader.readexactly(length)

    async def close(self) -> None:
        """Close the connection."""
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


async def poller(base: str, job_id: str, polls: int, interval: float, tally: Tally) -> None:
    """Ask for one job's status every ``interval`` s (at most ``polls`` times), timing each answer.

    Pollers start at a random phase and jitter by ±10 %, as independent browser tabs do, so the
    load is a steady rate rather than synchronised bursts of every poller at once.
    """
    rng = np.random.default_rng(abs(hash(job_id)) % 2**32 + len(tally.status_ms))
    host, port = base.removeprefix("http://").rsplit(":", 1)
    conn = KeepAlive(host, int(port))
    await asyncio.sleep(rng.uniform(0, interval))
    try:
        for _ in range(polls):
            t0 = time.perf_counter()
            code, body = await conn.get(f"/api/jobs/{job_id}/status")
            tally.status_ms.append(1000 * (time.perf_counter() - t0))
            tally.polls += 1
            tally.requests += 1
            if code != 200:
                tally.errors.append(f"status {code} for job {job_id}")
                return
            if json.loads(body)["state"] in ("done", "failed", "cancelled"):
                return
            await asyncio.sleep(interval * rng.uniform(0.9, 1.1))
    finally:
        await conn.close()


def _is_sse(watcher: int, percent: int) -> bool:
    """Whether watcher number ``watcher`` follows by SSE: ``percent`` of them, spread evenly."""
    return (watcher + 1) * percent // 100 != watcher * percent // 100


async def load(base: str, args: argparse.Namespace, tally: Tally) -> float:
    """Run the clients and the watchers; returns the wall time, s."""
    import httpx

    limits = httpx.Limits(max_connections=args.clients + args.watchers + 10, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=httpx.Timeout(300.0), headers=HEADERS) as http:
        jobs: asyncio.Queue[str] = asyncio.Queue()
        freqs = [200.0 + 7.0 * i for i in range(args.clients)]  # distinct, and far from each other's bins
        t0 = time.perf_counter()
        clients = [
            asyncio.create_task(client(http, i, f, args.seconds_of_audio, jobs, tally)) for i, f in enumerate(freqs)
        ]
        watchers = []
        followed: list[str] = []  # watchers take the jobs in the order they appear, then go round again
        for w in range(args.watchers):
            if w < args.clients:
                followed.append(await jobs.get())
            job_id = followed[w % len(followed)]
            if _is_sse(w, args.sse_percent):
                watchers.append(asyncio.create_task(sse_watcher(http, job_id, tally)))
            else:
                watchers.append(asyncio.create_task(poller(base, job_id, args.polls, args.poll_interval, tally)))
        for result in await asyncio.gather(*clients, *watchers, return_exceptions=True):
            if isinstance(result, BaseException):
                cause = result.__cause__ or result.__context__
                why = f" ({cause.__class__.__name__}: {cause})" if cause else ""
                tally.errors.append(f"{result.__class__.__name__}: {result}{why}")
        return time.perf_counter() - t0


def wait_healthy(base: str, timeout: float = 60.0) -> None:
    """Block until ``/api/health`` answers."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the studio did not come up")


def warm_up(base: str) -> None:
    """One master job end to end, so the baseline includes everything a first job loads."""
    import httpx

    with httpx.Client(base_url=base, timeout=120, headers=HEADERS) as http:
        up = http.post("/api/uploads", params={"name": "warmup.wav"}, content=tone_wav(99.0, 1.0))
        up.raise_for_status()
        job = http.post(
            "/api/master", json={"upload": up.json()["uploads"][0]["id"], "formats": ["wav"], "report": False}
        )
        job.raise_for_status()
        job_id = job.json()["job"]["id"]
        while http.get(f"/api/jobs/{job_id}").json()["state"] not in ("done", "failed", "cancelled"):
            time.sleep(0.2)
        for _ in range(50):  # and some status calls
            http.get(f"/api/jobs/{job_id}")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children…), from /proc."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parent[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        here = frontier.pop()
        kids = [p for p, pp in parent.items() if pp == here]
        found += kids
        frontier += kids
    return found


def settle(pid: int, seconds: float) -> float:
    """Lowest resident memory of ``pid`` seen over ``seconds`` (the server frees as requests end), MB."""
    low = rss_mb(pid)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.5)
        low = min(low, rss_mb(pid))
    return low


def main() -> None:
    """Run the load test and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="clients mastering at once")
    parser.add_argument("--watchers", type=int, default=200, help="status/SSE connections at once")
    parser.add_argument("--polls", type=int, default=400, help="most status calls per polling watcher")
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, help="s between a poller's calls (the jobs page: 0.5 s)"
    )
    parser.add_argument("--sse-percent", type=int, default=50, help="share of watchers following by SSE, %%")
    parser.add_argument("--seconds-of-audio", type=float, default=1.0, help="length of each client's file, s")
    parser.add_argument("--workers", type=int, default=None, help="studio job workers (default: its own)")
    parser.add_argument("--keep", action="store_true", help="keep the studio's data folder")
    parser.add_argument(
        "--nice-workers",
        type=int,
        default=0,
        help="renice the studio's job processes (not the server) by this much: what a worker-side os.nice() would do",
    )
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="tunesmith-load-"))
    port = free_port()
    base = f"http://{HOST}:{port}"
    cmd = [sys.executable, "-m", "tunesmith.cli", "serve", "--host", HOST, "--port", str(port), "--data-dir", str(data)]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tally = Tally()
    peak = [0.0]
    try:
        wait_healthy(base)
        warm_up(base)
        if args.nice_workers:
            # The job processes are forked from the studio's forkserver (a child of the server):
            # a nice value set on it is inherited by every worker it starts from now on.
            for child in descendants(server.pid):
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, child, args.nice_workers)
        baseline = settle(server.pid, 2.0)
        cpu0 = cpu_s(server.pid)
        me0 = time.process_time()

        async def sample_memory(stop: asyncio.Event) -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb(server.pid))
                await asyncio.sleep(0.2)

        async def run() -> float:
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_memory(stop))
            try:
                return await load(base, args, tally)
            finally:
                stop.set()
                await sampler

        load_before = os.getloadavg()[0]
        wall = asyncio.run(run())
        load_after = os.getloadavg()[0]
        server_cpu = cpu_s(server.pid) - cpu0
        client_cpu = time.process_time() - me0
        after = settle(server.pid, 5.0)
        alive = server.poll() is None
    finally:
        server.terminate()
        try:
            out, _ = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)

    p50, p95, p99 = (percentile(tally.status_ms, q) for q in (50, 95, 99))
    everyone = tally.status_ms + tally.client_status_ms
    d50, d95, d99 = (percentile(tally.sse_delay_ms, q) for q in (50, 95, 99))
    n_sse = sum(1 for w in range(args.watchers) if _is_sse(w, args.sse_percent))
    memory_ok = after <= baseline * 1.10 + 20.0
    results = {
        "clients": args.clients,
        "watchers": args.watchers,
        "sse_watchers": n_sse,
        "seconds_of_audio": args.seconds_of_audio,
        "poll_interval_s": args.poll_interval,
        "nice_workers": args.nice_workers,
        "wall_s": round(wall, 1),
        "server_cpu_s": round(server_cpu, 1),
        "load_client_cpu_s": round(client_cpu, 1),
        "machine_load_average": [round(load_before, 1), round(load_after, 1)],
        "cores": os.cpu_count(),
        "requests": tally.requests,
        "jobs_done": tally.done,
        "jobs_lost": tally.lost,
        "jobs_mixed_up": tally.mixed_up,
        "errors": tally.errors[:20],
        "status_calls": len(tally.status_ms),
        "status_ms": {
            "p50": round(p50, 1),
            "p95": round(p95, 1),
            "p99": round(p99, 1),
            "max": round(max(tally.status_ms, default=float("nan")), 1),
        },
        "all_status_calls": len(everyone),
        "all_status_ms": {q: round(percentile(everyone, v), 1) for q, v in (("p50", 50), ("p95", 95), ("p99", 99))},
        "full_job_ms": {q: round(percentile(tally.full_ms, v), 1) for q, v in (("p50", 50), ("p95", 95), ("max", 100))},
        "sse_delay_ms": {
            "p50": round(d50, 1),
            "p95": round(d95, 1),
            "p99": round(d99, 1),
            "events": len(tally.sse_delay_ms),
        },
        "upload_ms_p95": round(percentile(tally.upload_ms, 95), 1),
        "submit_ms_p95": round(percentile(tally.submit_ms, 95), 1),
        "job_s": {
            "median": round(statistics.median(tally.job_s), 1) if tally.job_s else None,
            "max": round(max(tally.job_s, default=0), 1),
        },
        "sse_streams_completed": tally.sse_streams_completed,
        "sse_events": tally.sse_events,
        "server_rss_mb": {"baseline": round(baseline, 1), "peak": round(peak[0], 1), "after": round(after, 1)},
        "server_alive_after": alive,
        "targets": {
            "no_lost_or_mixed_up_job": not tally.lost and not tally.mixed_up and tally.done == args.clients,
            "status_p95_le_50ms": percentile(everyone, 95) <= 50.0,
            "memory_back_to_baseline": memory_ok,
        },
        "server_log_tail": (out or "")[-2000:],
    }
    path = write_result("studio_load" + (f"_nice{args.nice_workers}" if args.nice_workers else ""), results)
    rows = [
        ("clients mastering / watchers", f"{args.clients} / {args.watchers}"),
        ("jobs done / lost / mixed up", f"{tally.done} / {len(tally.lost)} / {len(tally.mixed_up)}"),
        (
            "requests, wall",
            f"{tally.requests} in {wall:.1f} s (server CPU {server_cpu:.1f} s, load client {client_cpu:.1f} s)",
        ),
        ("machine load average", f"{load_before:.1f} → {load_after:.1f} on {os.cpu_count()} cores"),
        ("status calls p50 / p95 / p99", f"{p50:.1f} / {p95:.1f} / {p99:.1f} ms ({len(tally.status_ms)} calls)"),
        (
            "all status calls p50 / p95 / p99",
            "{p50} / {p95} / {p99} ms ({n} calls, clients' too)".format(n=len(everyone), **results["all_status_ms"]),
        ),
        ("full job (once each) p50 / p95", "{p50} / {p95} ms".format(**results["full_job_ms"])),
        ("SSE delay p50 / p95 / p99", f"{d50:.0f} / {d95:.0f} / {d99:.0f} ms ({len(tally.sse_delay_ms)} events)"),
        ("SSE streams to the end", f"{tally.sse_streams_completed} of {n_sse}"),
        ("server RSS base / peak / after", f"{baseline:.0f} / {peak[0]:.0f} / {after:.0f} MB"),
        ("errors", str(len(tally.errors))),
    ]
    for label, value in rows:
        print(f"{label:32s} {value}")
    print(f"targets: {json.dumps(results['targets'])}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
