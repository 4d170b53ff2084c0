"""The studio's job statuses (served from memory) and its clean-up of uploads."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tunesmith.web import jobs as jobs_module
from tunesmith.web.status import StatusBoard

with warnings.catch_warnings():  # starlette's note that it would prefer httpx2 to httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tunesmith.web.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

H = {"X-Tunesmith": "1"}
TERMINAL = ("done", "failed", "cancelled")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path / "studio", workers=2), base_url="http://127.0.0.1") as c:
        yield c


def upload(client: TestClient, name: str, data: bytes) -> dict[str, Any]:
    r = client.post("/api/uploads", params={"name": name}, content=data, headers=H)
    assert r.status_code == 201, r.text
    return r.json()["uploads"][0]


def wait(client: TestClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = client.get(f"/api/jobs/{job_id}/status").json()
        if doc["state"] in TERMINAL:
            return doc
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


# ---------------------------------------------------------------------------------------- the board
def test_board_wakes_a_waiter_from_another_thread() -> None:
    board = StatusBoard()
    doc = {"id": "a" * 32, "created": "2026-01-01T00:00:00", "state": "queued"}

    async def scenario() -> tuple[Any, Any, Any, float]:
        board.bind(asyncio.get_running_loop())
        first = board.put(doc)
        assert await board.next(doc["id"], None, 1.0) is first  # not seen yet: at once
        t0 = time.monotonic()
        timer = threading.Timer(0.2, lambda: board.put(doc | {"state": "running"}))
        timer.start()
        changed = await board.next(doc["id"], first, 5.0)
        waited = time.monotonic() - t0
        unchanged = await board.next(doc["id"], changed, 0.05)  # times out: the same status
        threading.Timer(0.05, lambda: board.drop(doc["id"])).start()
        gone = await board.next(doc["id"], changed, 5.0)
        return changed, unchanged, gone, waited

    changed, unchanged, gone, waited = asyncio.run(scenario())
    assert changed.doc["state"] == "running" and json.loads(changed.encoded) == changed.doc
    assert 0.15 < waited < 2.0  # woken by the put, not by the 5 s timeout
    assert unchanged is changed and gone is None
    assert board.all() == []


# ---------------------------------------------------------------------------------------- status calls
def test_status_calls_never_touch_the_disk(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = client.app.state.studio.jobs
    job = jobs.submit("selftest", {"seconds": 0.3, "text": "x"})
    done = wait(client, job["id"])
    assert done["state"] == "done" and done["progress"] == 1.0 and "params" not in done

    def no_disk(*_: Any, **__: Any) -> Any:
        raise AssertionError("a status call read the disk")

    monkeypatch.setattr(jobs_module, "_read_json", no_disk)
    monkeypatch.setattr(jobs_module.JobStore, "job", no_disk)
    assert client.get(f"/api/jobs/{job['id']}/status").json() == done
    listed = client.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]] and listed[0] == done
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        lines = [line for line in stream.iter_lines() if line.startswith("data: {")]
    assert json.loads(lines[0][6:]) == done
    assert client.get(f"/api/jobs/{'f' * 32}/status").status_code == 404
    assert client.get("/api/jobs/..%2Fjobs/status").status_code == 404


def test_status_follows_the_worker_and_says_when(client: TestClient) -> None:
    jobs = client.app.state.studio.jobs
    job = jobs.submit("selftest", {"seconds": 1.5})
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        doc = client.get(f"/api/jobs/{job['id']}/status").json()
        seen.append(doc)
        if doc["state"] in TERMINAL:
            break
        time.sleep(0.05)
    running = [d for d in seen if d["state"] == "running" and d["stage"] == "waiting"]
    assert len({d["progress"] for d in running}) >= 3  # progress moves while it runs
    assert [d["progress"] for d in running] == sorted(d["progress"] for d in running)
    assert [d["updated"] for d in seen] == sorted(d["updated"] for d in seen)
    assert all(d["updated"] <= time.time() for d in seen)
    assert seen[-1]["state"] == "done" and seen[-1]["progress"] == 1.0
    # The full job comes from its folder, with the same status in it.
    full = client.get(f"/api/jobs/{job['id']}").json()
    assert full["result"]["text"] == "" and full["params"] == {"seconds": 1.5}
    assert {k: full[k] for k in seen[-1]} == seen[-1]


def test_workers_run_at_a_lower_priority(client: TestClient) -> None:
    jobs = client.app.state.studio.jobs
    job = jobs.submit("selftest", {"seconds": 30})
    deadline = time.monotonic() + 20
    while job["id"] not in jobs.running():
        assert time.monotonic() < deadline, "the job never got a worker"
        time.sleep(0.02)
    pid = jobs.running()[job["id"]]
    time.sleep(0.3)  # past the worker's start-up
    try:
        assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0) + jobs_module.WORKER_NICE
    finally:
        client.post(f"/api/jobs/{job['id']}/cancel", headers=H)
        wait(client, job["id"])


# ---------------------------------------------------------------------------------------- uploads
def test_an_upload_lives_until_the_jobs_that_consumed_it_end(client: TestClient) -> None:
    st = client.app.state.studio
    shared = upload(client, "take.wav", b"RIFF take one")
    alone = upload(client, "other.wav", b"RIFF take two")
    path = st.uploads.path(shared["id"])
    short = st.jobs.submit("selftest", {"seconds": 0.2}, inputs={"take.wav": path})
    long = st.jobs.submit("selftest", {"seconds": 30}, inputs={"take.wav": path})
    failing = st.jobs.submit("selftest", {"fail": "no"}, inputs={"other.wav": st.uploads.path(alone["id"])})
    assert wait(client, short["id"])["state"] == "done"
    assert wait(client, failing["id"])["state"] == "failed"
    # One consumer is still running: the upload can start more jobs.
    assert client.get(f"/api/uploads/{shared['id']}").status_code == 200
    assert client.get(f"/api/uploads/{alone['id']}").status_code == 404  # a failed job consumes it too
    client.post(f"/api/jobs/{long['id']}/cancel", headers=H)
    assert wait(client, long["id"])["state"] == "cancelled"
    assert client.get(f"/api/uploads/{shared['id']}").status_code == 404
    assert not (st.uploads.root / shared["id"]).exists()
    # The jobs keep their own copies (hard links), byte for byte.
    for job in (short, long):
        assert (st.jobs.store.root / job["id"] / "in" / "take.wav").read_bytes() == b"RIFF take one"
    # An upload used by no job stays (until it expires), and can still start one.
    unused = upload(client, "later.wav", b"RIFF later")
    time.sleep(0.2)
    assert client.get(f"/api/uploads/{unused['id']}").status_code == 200
    # A job asked for from an upload that is gone is refused (404), no half-made job.
    r = client.post("/api/master", json={"upload": shared["id"]}, headers=H)
    assert r.status_code == 404


def test_stale_and_partial_uploads_are_swept_at_start(tmp_path: Path) -> None:
    data = tmp_path / "studio"
    with TestClient(create_app(data, workers=1), base_url="http://127.0.0.1") as c:
        old = upload(c, "old.wav", b"old")
        fresh = upload(c, "fresh.wav", b"fresh")
    uploads = data / "uploads"
    day_ago = time.time() - 2 * 24 * 3600
    for p in [uploads / old["id"], *(uploads / old["id"]).iterdir()]:
        os.utime(p, (day_ago, day_ago))
    partial = uploads / ("c" * 32)  # a server killed mid-upload leaves this
    partial.mkdir()
    (partial / ".song.wav.part").write_bytes(b"half a song")
    (data / "tmp" / "leftover").mkdir(parents=True)
    with TestClient(create_app(data, workers=1), base_url="http://127.0.0.1") as c:
        assert c.get(f"/api/uploads/{fresh['id']}").json()["name"] == "fresh.wav"
        assert c.get(f"/api/uploads/{old['id']}").status_code == 404
    assert sorted(p.name for p in uploads.iterdir()) == [fresh["id"]]
    assert not (data / "tmp").exists()


def test_an_upload_cut_off_by_the_client_leaves_nothing(tmp_path: Path) -> None:
    from tunesmith.web.background import running_studio

    data = tmp_path / "studio"
    with running_studio(data, workers=1) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as s:
            s.sendall(
                b"POST /api/uploads?name=big.wav HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Tunesmith: 1\r\n"
                b"Content-Type: application/octet-stream\r\nContent-Length: 50000000\r\n\r\n"
            )
            s.sendall(b"x" * (3 << 20))  # 3 MiB of the promised 50 MB, then the client goes away
            deadline = time.monotonic() + 10
            while not any(p.suffix == ".part" for p in (data / "uploads").rglob("*")):
                assert time.monotonic() < deadline, "the upload never started"
                time.sleep(0.02)
        deadline = time.monotonic() + 10
        while list((data / "uploads").iterdir()):
            assert time.monotonic() < deadline, f"left behind: {list((data / 'uploads').rglob('*'))}"
            time.sleep(0.05)
