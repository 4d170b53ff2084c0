"""The web studio's API (``tunesmith serve``): every endpoint, the job workers, and the security rules.

Jobs run in real worker processes, on short synthetic audio, so these tests exercise the same
paths a browser does: upload → job → progress events → result → download.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import threading
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from tunesmith.audio import Audio, load, measure_loudness
from tunesmith.compose import ComposeOptions, compose
from tunesmith.score.theory import parse_chord
from tunesmith.web.pianoroll import score_view
from tunesmith.web.regenerate import rebuild, regenerate_section, regenerate_track
from tunesmith.web.security import is_loopback, safe_join, safe_name
from tunesmith.web.tasks_master import loudness_match_db
from tunesmith.web.uploads import extract_zip
from tunesmith.web.waveform import waveform

with warnings.catch_warnings():  # starlette's note that it would prefer httpx2 to httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tunesmith.web.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

H = {"X-Tunesmith": "1"}
RATE = 44_100
TERMINAL = ("done", "failed", "cancelled")


# ---------------------------------------------------------------------------------------- helpers
def wav_bytes(x: np.ndarray, rate: int = RATE, subtype: str = "PCM_24") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, subtype=subtype, format="WAV")
    return buf.getvalue()


def music(seconds: float, seed: int = 1, level: float = 0.25) -> np.ndarray:
    """A stand-in for a mix: chords of partials with a pulse and some noise, stereo."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    x = np.zeros_like(t)
    for f in (110.0, 220.0, 277.2, 329.6, 440.0, 1320.0):
        x += np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) / (1 + f / 400)
    x *= 0.6 + 0.4 * (np.sin(2 * np.pi * 2 * t) > 0)
    x += 0.05 * rng.standard_normal(len(t))
    x *= level / np.abs(x).max()
    return np.stack([x, np.roll(x, 40)], axis=1).astype(np.float32)


def upload(client: TestClient, name: str, data: bytes) -> dict[str, Any]:
    r = client.post("/api/uploads", params={"name": name}, content=data, headers=H)
    assert r.status_code == 201, r.text
    return r.json()["uploads"][0]


def wait(client: TestClient, job_id: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = client.get(f"/api/jobs/{job_id}").json()
        if doc["state"] in TERMINAL:
            return doc
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def wait_state(client: TestClient, job_id: str, state: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = client.get(f"/api/jobs/{job_id}").json()
        if doc["state"] == state:
            return doc
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never became {state}")


def start(client: TestClient, path: str, body: dict[str, Any]) -> str:
    r = client.post(path, json=body, headers=H)
    assert r.status_code == 202, r.text
    return r.json()["job"]["id"]


def worker_pid(jobs: Any, job_id: str) -> int:
    deadline = time.monotonic() + 10
    while job_id not in jobs.running():
        assert time.monotonic() < deadline, "the job never got a worker"
        time.sleep(0.02)
    return jobs.running()[job_id]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(tmp_path_factory.mktemp("studio"), workers=2)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def mastered(client: TestClient) -> dict[str, Any]:
    """One master job of 8 s of synthetic music (shared by the master tests)."""
    data = wav_bytes(music(6.0))
    up = upload(client, "My Mix (final).wav", data)
    body = {"upload": up["id"], "target": "streaming", "intensity": 0.4, "formats": ["wav", "flac", "mp3"]}
    job_id = start(client, "/api/master", body)
    events = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: ") and line != "data: {}":
                events.append(json.loads(line[6:]))
    job = wait(client, job_id)
    assert job["state"] == "done", job["error"]
    return {"job": job, "events": events, "upload": up, "data": data}


# ---------------------------------------------------------------------------------------- pure helpers
def test_safe_names_and_paths(tmp_path: Path) -> None:
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\boot.ini") == "boot.ini"
    assert safe_name(".hidden.wav") == "hidden.wav"
    assert safe_name("a/b/My Song (final).wav") == "My Song (final).wav"
    assert safe_name("naïve <script>.wav") == "na_ve _script_.wav"
    assert safe_name("..") == "upload" and safe_name("") == "upload"
    assert len(safe_name("x" * 500 + ".flac")) <= 120 and safe_name("x" * 500 + ".flac").endswith(".flac")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.wav").write_bytes(b"1")
    (tmp_path / "secret.txt").write_text("no")
    (tmp_path / "out" / "link.txt").symlink_to(tmp_path / "secret.txt")
    root = tmp_path / "out"
    assert safe_join(root, "a.wav") == (root / "a.wav").resolve()
    for bad in ("../secret.txt", "link.txt", "", "a.wav/..", "/etc/passwd", "..", ".hidden", "%2e%2e/secret.txt"):
        assert safe_join(root, bad) is None, bad
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.8.9.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.com")


def test_extract_zip_is_flat_safe_and_bounded(tmp_path: Path) -> None:
    archive = tmp_path / "stems.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escape.wav", b"a" * 10)
        zf.writestr("band/drums/Kick.wav", b"b" * 10)
        zf.writestr("band/bass/Kick.wav", b"c" * 10)
        zf.writestr("__MACOSX/._Kick.wav", b"d")
        zf.writestr("notes.txt", b"not audio")
    out = extract_zip(archive, tmp_path / "x", {".wav"}, 1000)
    assert sorted(p.name for p in out) == ["Kick-2.wav", "Kick.wav", "escape.wav"]
    assert all(p.parent == tmp_path / "x" for p in out)
    assert not (tmp_path / "escape.wav").exists()
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.wav", b"\0" * 50_000)
    from tunesmith.errors import InputFileError

    with pytest.raises(InputFileError, match="more than"):
        extract_zip(bomb, tmp_path / "y", {".wav"}, 10_000)


def test_waveform_envelope(tmp_path: Path) -> None:
    x = np.zeros((RATE, 2), np.float32)
    x[RATE // 2 : RATE // 2 + 100] = 0.5
    x[RATE // 4, :] = -0.8
    sf.write(tmp_path / "w.wav", x, RATE, subtype="FLOAT")
    w = waveform(tmp_path / "w.wav", columns=100)
    assert len(w["min"]) == len(w["max"]) == 100
    assert w["max"][50] == pytest.approx(0.5) and w["min"][25] == pytest.approx(-0.8)
    assert max(w["max"][:25]) == 0.0 and w["duration_s"] == pytest.approx(1.0)


def test_loudness_match_only_turns_down() -> None:
    m = loudness_match_db(-20.0, -14.0)
    assert m == {"original_db": 0.0, "master_db": -6.0, "matched_lufs": -20.0}
    m = loudness_match_db(-9.0, -14.0)
    assert m["original_db"] == -5.0 and m["master_db"] == 0.0


def test_regenerate_section_keeps_the_other_sections() -> None:
    comp = compose(ComposeOptions(style="pop", structure="verse:4 chorus:4 verse:4", seed=11, melody="rules"))
    new = regenerate_section(comp, 1, 99)
    lo, hi = comp.score.bar_start(4), comp.score.bar_start(8)
    assert new.key == comp.key and new.tempo == comp.tempo
    changed = 0
    for old_t, new_t in zip(comp.score.tracks, new.score.tracks, strict=True):
        outside = [n for n in old_t.notes if n.end <= lo + 1e-9 or n.start >= hi - 1e-9]
        assert outside == [n for n in new_t.notes if n.end <= lo + 1e-9 or n.start >= hi - 1e-9], old_t.name
        inside_old = [n for n in old_t.notes if lo <= n.start < hi]
        inside_new = [n for n in new_t.notes if lo <= n.start < hi]
        assert all(n.end <= hi + 1e-9 for n in inside_new)  # nothing rings into the next section
        changed += inside_old != inside_new
    assert changed >= 2  # the melody and at least one band part changed
    keep = [c for c in comp.score.chords if not lo <= c.start < hi]
    assert keep == [c for c in new.score.chords if not lo <= c.start < hi]


def test_regenerate_track_keeps_the_others_and_replays_exactly() -> None:
    options = ComposeOptions(style="pop", bars=8, seed=4, melody="rules")
    comp = compose(options)
    for name in ("melody", "piano", "bass"):
        new = regenerate_track(comp, name, 1234)
        assert new.score.chords == comp.score.chords
        for a, b in zip(comp.score.tracks, new.score.tracks, strict=True):
            assert (a.notes == b.notes) == (a.name != name), (name, a.name)
        key_pcs = set(comp.key.scale)
        if name == "melody":  # the new tune is still in the key (the writer's own guarantee)
            in_key = np.mean([n.pitch % 12 in key_pcs for n in new.score.track("melody").notes])
            assert in_key > 0.8
    edits = [{"section": 0, "seed": 5}, {"track": "bass", "seed": 6}]
    a, b = rebuild(options, edits), rebuild(options, edits)
    assert a.score == b.score
    assert a.score != comp.score
    from tunesmith.errors import UsageError

    with pytest.raises(UsageError):
        regenerate_track(comp, "tuba", 1)
    with pytest.raises(UsageError):
        regenerate_section(comp, 9, 1)


def test_score_view_has_what_the_piano_roll_draws() -> None:
    comp = compose(ComposeOptions(style="jazz", bars=8, seed=2, melody="rules"))
    view = score_view(comp.score)
    assert sum(len(t["notes"]) for t in view["tracks"]) == sum(len(t.notes) for t in comp.score.tracks)
    assert [parse_chord(c[2]) for c in view["chords"]] == [c.chord for c in comp.score.chords]
    assert view["sections"][0]["start"] == 0.0 and view["end_beats"] >= 8 * view["bar_beats"]
    json.dumps(view)


# ---------------------------------------------------------------------------------------- pages and guard
def test_pages_are_served_offline(client: TestClient) -> None:
    for path in ("/", "/master", "/mix", "/compose", "/hum", "/discover", "/jobs"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/nope").status_code == 404
    assert client.get("/docs").status_code == 404  # FastAPI's docs page would load a CDN
    static = Path(__file__).resolve().parents[1] / "src" / "tunesmith" / "web" / "static"
    for f in static.iterdir():
        text = f.read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text, f.name
        assert client.get(f"/static/{f.name}").status_code == 200
    assert client.get("/static/../app.py").status_code == 404


def test_health_and_capabilities(client: TestClient) -> None:
    assert client.get("/api/health").json()["ok"] is True
    caps = client.get("/api/capabilities").json()
    assert set(caps) >= {"render", "ffmpeg", "hum", "max_upload_bytes", "workers"}
    assert caps["max_upload_bytes"] == 2 * 1024**3


def test_no_cors_and_writes_need_the_header(client: TestClient) -> None:
    r = client.get("/api/health", headers={"Origin": "http://evil.example"})
    assert not any(k.lower().startswith("access-control-") for k in r.headers)
    r = client.options(
        "/api/uploads", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert not any(k.lower().startswith("access-control-") for k in r.headers)
    r = client.post("/api/uploads", params={"name": "x.wav"}, content=b"abc")
    assert r.status_code == 403 and "X-Tunesmith" in r.json()["detail"]
    r = client.post("/api/compose", json={"style": "pop"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403


def test_other_host_names_are_refused(client: TestClient) -> None:
    # A page on another domain re-pointed at 127.0.0.1 (DNS rebinding) sends its own Host.
    r = client.get("/api/jobs", headers={"Host": "evil.example:8765"})
    assert r.status_code == 403
    assert client.get("/api/health", headers={"Host": "localhost:8765"}).status_code == 200


def test_token_is_required_off_loopback(tmp_path: Path) -> None:
    app = create_app(tmp_path, token="s3cret-token", workers=1)
    with TestClient(app, base_url="http://192.168.1.20:8765") as c:
        assert c.get("/api/health").status_code == 401
        assert c.get("/").status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        assert c.get("/api/health", headers={"X-Tunesmith-Token": "s3cret-token"}).status_code == 200
        r = c.get("/master", params={"token": "s3cret-token"})
        assert r.status_code == 200 and "HttpOnly" in r.headers["set-cookie"]
        assert c.get("/api/health").status_code == 200  # the cookie now carries it
        c.cookies.clear()
        assert c.get("/api/health").status_code == 401


# ---------------------------------------------------------------------------------------- uploads
def test_uploads_raw_and_multipart(client: TestClient) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    up = upload(client, "../../Take 1 (vocal)?.wav", data)
    assert up["name"] == "Take 1 (vocal)_.wav" and up["bytes"] == len(data) and up["sha256"] == sha(data)
    assert client.get(f"/api/uploads/{up['id']}").json() == up
    files = [("file", ("a.wav", b"one")), ("file", ("..\\b c.flac", b"two")), ("note", (None, "ignored"))]
    r = client.post("/api/uploads", files=files, headers=H)
    assert r.status_code == 201
    got = r.json()["uploads"]
    assert [(u["name"], u["bytes"]) for u in got] == [("a.wav", 3), ("b c.flac", 3)]
    assert client.delete(f"/api/uploads/{got[0]['id']}", headers=H).status_code == 200
    assert client.get(f"/api/uploads/{got[0]['id']}").status_code == 404
    for bad in ("../uploads", "0" * 31, "Z" * 32, "..%2F..%2Fetc", "%2e%2e"):
        assert client.get(f"/api/uploads/{bad}").status_code in (404, 405), bad  # 405: the client folded ".."


def test_oversize_upload_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    app = create_app(tmp_path, workers=1, max_upload_bytes=100_000)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        r = c.post("/api/uploads", params={"name": "big.wav"}, content=b"x" * 100_001, headers=H)
        assert r.status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
            for _ in range(10):
                yield b"y" * 30_000

        r = c.post("/api/uploads", params={"name": "big.wav"}, content=chunks(), headers=H)
        assert r.status_code == 413
        r = c.post("/api/uploads", files={"file": ("big.wav", b"z" * 150_000)}, headers=H)
        assert r.status_code == 413
        assert list((tmp_path / "uploads").iterdir()) == []
        assert upload(c, "small.wav", b"s" * 99_000)["bytes"] == 99_000


# ---------------------------------------------------------------------------------------- master
def test_master_job_end_to_end(client: TestClient, mastered: dict[str, Any]) -> None:
    job = mastered["job"]
    r = job["result"]
    events = mastered["events"]
    assert events[-1]["state"] == "done"
    progress = [e["progress"] for e in events if e["state"] == "running"]
    assert progress == sorted(progress) and len(events) >= 2
    out = r["report"]["output_loudness"]
    assert out["integrated_lufs"] == pytest.approx(-14.0, abs=0.1)
    assert out["true_peak_dbtp"] <= -1.5 + 1e-6  # with an MP3 asked for: 0.5 dB under the ceiling
    assert r["target"]["ceiling_dbtp"] == -1.5 and any("MP3" in n for n in r["report"]["notes"])
    assert r["files"] == {
        "wav": "master.wav",
        "flac": "master.flac",
        "mp3": "master.mp3",
        "report": "master-report.html",
    }
    wav = client.get(f"/api/jobs/{job['id']}/files/master.wav")
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    recipe = json.loads(client.get(f"/api/jobs/{job['id']}/files/master.wav.recipe.json").content)
    assert recipe["output"]["sha256"] == sha(wav.content)
    assert recipe["inputs"][0]["sha256"] == mastered["upload"]["sha256"]
    x, rate = sf.read(io.BytesIO(wav.content), dtype="float32")
    assert measure_loudness(Audio(x, rate)).integrated_lufs == pytest.approx(out["integrated_lufs"], abs=0.02)
    flac = client.get(f"/api/jobs/{job['id']}/files/master.flac").content
    assert np.array_equal(
        sf.read(io.BytesIO(flac), dtype="int32")[0], sf.read(io.BytesIO(wav.content), dtype="int32")[0]
    )
    mp3 = client.get(f"/api/jobs/{job['id']}/files/master.mp3")
    assert mp3.headers["content-type"] == "audio/mpeg"
    with open(client.app.state.studio.data_dir / "check.mp3", "wb") as fh:
        fh.write(mp3.content)
    decoded = measure_loudness(load(client.app.state.studio.data_dir / "check.mp3"))
    assert decoded.true_peak_dbtp <= -1.0 and decoded.integrated_lufs == pytest.approx(-14.0, abs=0.1)
    report = client.get(f"/api/jobs/{job['id']}/files/master-report.html")
    assert report.headers["content-security-policy"].startswith("sandbox")
    original = client.get(f"/api/jobs/{job['id']}/files/{r['playback']['original']}")
    assert sha(original.content) == mastered["upload"]["sha256"]
    m = r["match"]
    lufs_in = r["report"]["input_loudness"]["integrated_lufs"]
    assert lufs_in + m["original_db"] == pytest.approx(out["integrated_lufs"] + m["master_db"], abs=0.02)
    assert len(r["waveforms"]["original"]["max"]) == len(r["waveforms"]["master"]["max"]) == 1200
    assert set(r["spectra"]) >= {"centres_hz", "input_mid_db", "target_mid_db", "output_mid_db"}
    assert len(r["series"]["output_short_term_lufs"]) > 20  # 10 a second once the first 3 s are in
    dl = client.get(f"/api/jobs/{job['id']}/files/master.wav", params={"download": 1})
    assert 'attachment; filename="master.wav"' in dl.headers["content-disposition"]
    assert dl.headers.get("accept-ranges") == "bytes"  # the <audio> element can seek
    part = client.get(f"/api/jobs/{job['id']}/files/master.wav", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == wav.content[:100]


def test_downloads_refuse_traversal(client: TestClient, mastered: dict[str, Any]) -> None:
    job_id = mastered["job"]["id"]
    studio = client.app.state.studio
    folder = studio.jobs.store.root / job_id
    (folder / "out" / "escape.wav").symlink_to(folder / "job.json")
    for path in (
        "../job.json",
        "..%2Fjob.json",
        "%2e%2e/job.json",
        "%2E%2E%2Fjob.json",
        "..%5Cjob.json",
        "in/My%20Mix%20(final).wav",
        "../in/My Mix (final).wav",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "escape.wav",
        ".hidden",
        "",
    ):
        r = client.get(f"/api/jobs/{job_id}/files/{path}")
        assert r.status_code == 404, path
        assert b"kind" not in r.content
    for bad_id in ("..", "..%2F..%2Fuploads", job_id.upper(), job_id[:-1], "0" * 32, "../" + job_id):
        assert client.get(f"/api/jobs/{bad_id}/files/master.wav").status_code == 404, bad_id
        assert client.get(f"/api/jobs/{bad_id}").status_code in (404, 405), bad_id
    assert client.post(f"/api/jobs/{'f' * 32}/cancel", headers=H).status_code == 404


def test_master_bad_requests(client: TestClient, tmp_path: Path) -> None:
    up = upload(client, "mix.wav", wav_bytes(music(1.0)))
    r = client.post("/api/master", json={"upload": up["id"], "target": "loud"}, headers=H)
    assert r.status_code == 400 and "target" in r.json()["detail"]
    r = client.post("/api/master", json={"upload": up["id"], "intensity": 2}, headers=H)
    assert r.status_code == 422
    r = client.post("/api/master", json={"upload": "f" * 32}, headers=H)
    assert r.status_code == 404
    opts = client.get("/api/master/options").json()
    assert {t["name"] for t in opts["targets"]} >= {"streaming", "cd", "broadcast"} and "warm" in opts["styles"]
    bad = upload(client, "not audio.wav", b"RIFF....this is not a wave file at all" * 10)
    job = wait(client, start(client, "/api/master", {"upload": bad["id"]}))
    assert job["state"] == "failed" and job["error"].startswith("not audio.wav: ") and "\n" not in job["error"]
    assert job["files"] == []  # no partial output


# ---------------------------------------------------------------------------------------- mix
def stems(seconds: float = 3.0) -> dict[str, bytes]:
    t = np.arange(round(seconds * RATE)) / RATE
    rng = np.random.default_rng(3)
    kick = np.zeros_like(t)
    hit = np.arange(round(0.25 * RATE)) / RATE
    body = np.sin(2 * np.pi * 55 * hit) * np.exp(-hit * 14)
    for s in np.arange(0, seconds - 0.3, 0.5):
        kick[round(s * RATE) : round(s * RATE) + len(body)] += body
    bass = 0.4 * np.sin(2 * np.pi * np.where((t // 1) % 2, 55.0, 73.4) * t)
    vox = 0.3 * np.sin(2 * np.pi * 440 * t + 3 * np.sin(2 * np.pi * 5 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    vox += 0.01 * rng.standard_normal(len(t))
    return {
        "Kick.wav": wav_bytes(0.8 * kick[:, None]),
        "Bass DI.wav": wav_bytes(bass[:, None]),
        "Lead Vox.wav": wav_bytes(np.stack([vox, vox], axis=1)),
    }


def test_mix_decide_edit_mute_and_redecide(client: TestClient) -> None:
    ups = [upload(client, name, data) for name, data in stems().items()]
    first = wait(client, start(client, "/api/mix", {"stems": [u["id"] for u in ups], "genre": "pop"}))
    assert first["state"] == "done", first["error"]
    r = first["result"]
    roles = {s["file"]: s["role"] for s in r["report"]["stems"]}
    assert roles == {"Kick.wav": "kick", "Bass DI.wav": "bass", "Lead Vox.wav": "lead_vocal"}
    assert r["report"]["lead"] == "Lead Vox.wav"
    assert {s["file"] for s in r["settings"]["stems"]} == set(roles)  # names only, no server paths
    mix1 = client.get(f"/api/jobs/{first['id']}/files/mix.wav").content

    # Unedited settings re-render the same mix, sample for sample.
    same = wait(client, start(client, f"/api/mix/{first['id']}/apply", {"settings": r["settings"]}))
    assert same["state"] == "done", same["error"]
    mix2 = client.get(f"/api/jobs/{same['id']}/files/mix.wav").content
    assert np.array_equal(sf.read(io.BytesIO(mix1), dtype="int32")[0], sf.read(io.BytesIO(mix2), dtype="int32")[0])

    # An edit is followed exactly; a muted stem keeps its fader in the settings.
    edited = json.loads(json.dumps(r["settings"]))
    bass = next(s for s in edited["stems"] if s["file"] == "Bass DI.wav")
    bass["gain_db"] -= 6.0
    job = wait(client, start(client, f"/api/mix/{first['id']}/apply", {"settings": edited, "muted": ["Kick.wav"]}))
    assert job["state"] == "done", job["error"]
    got = {s["file"]: s for s in job["result"]["settings"]["stems"]}
    assert got["Bass DI.wav"]["gain_db"] == pytest.approx(bass["gain_db"])
    kick_before = next(s for s in r["settings"]["stems"] if s["file"] == "Kick.wav")["gain_db"]
    assert got["Kick.wav"]["gain_db"] == pytest.approx(kick_before)
    report = {s["file"]: s for s in job["result"]["report"]["stems"]}
    assert report["Kick.wav"]["muted"] and (report["Kick.wav"]["mix_lufs"] or -200) < -80

    bad = json.loads(json.dumps(r["settings"]))
    bad["stems"][0]["pan"] = 3
    resp = client.post(f"/api/mix/{first['id']}/apply", json={"settings": bad}, headers=H)
    assert resp.status_code == 400 and "pan" in resp.json()["detail"]

    again = wait(client, start(client, "/api/mix", {"from_job": first["id"], "roles": {"Bass DI.wav": "keys"}}))
    assert again["state"] == "done", again["error"]
    assert {s["file"]: s["role"] for s in again["result"]["report"]["stems"]}["Bass DI.wav"] == "keys"
    opts = client.get("/api/mix/options").json()
    assert "lead_vocal" in opts["roles"] and "pop" in opts["genres"]


def band_db(wav: bytes, lo_hz: float, hi_hz: float) -> float:
    """Energy of a WAV's mid signal between ``lo_hz`` and ``hi_hz``, dB (re. full scale, summed bins)."""
    x, rate = sf.read(io.BytesIO(wav), dtype="float64", always_2d=True)
    spec = np.abs(np.fft.rfft(x.mean(axis=1) * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(10 * np.log10(spec[(freqs >= lo_hz) & (freqs <= hi_hz)].sum() + 1e-30))


def test_mix_mute_and_solo_render_on_the_server(client: TestClient) -> None:
    ups = [upload(client, name, data) for name, data in stems().items()]
    first = wait(client, start(client, "/api/mix", {"stems": [u["id"] for u in ups], "genre": "pop"}))
    assert first["state"] == "done", first["error"]
    settings = first["result"]["settings"]
    full = client.get(f"/api/jobs/{first['id']}/files/mix.wav").content

    def apply(body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        job = wait(client, start(client, f"/api/mix/{first['id']}/apply", {"settings": settings, **body}))
        assert job["state"] == "done", job["error"]
        return job, client.get(f"/api/jobs/{job['id']}/files/mix.wav").content

    # The vocal (440 Hz with vibrato) muted: its band loses its energy; the rest plays on.
    muted_job, muted = apply({"muted": ["Lead Vox.wav"]})
    assert band_db(full, 420, 460) - band_db(muted, 420, 460) > 30
    assert abs(band_db(full, 40, 90) - band_db(muted, 40, 90)) < 12  # kick and bass still there
    report = {s["file"]: s for s in muted_job["result"]["report"]["stems"]}
    assert report["Lead Vox.wav"]["muted"] and report["Lead Vox.wav"]["mix_lufs"] is None
    assert report["Kick.wav"]["mix_lufs"] is not None and not report["Kick.wav"]["muted"]
    kept = {s["file"]: s["gain_db"] for s in muted_job["result"]["settings"]["stems"]}
    assert kept == {s["file"]: s["gain_db"] for s in settings["stems"]}  # every fader kept for the next edit

    # Solo the kick: exactly the mix with the other two muted, and no vocal in it.
    solo_job, solo = apply({"solo": ["Kick.wav"]})
    _, others_muted = apply({"muted": ["Bass DI.wav", "Lead Vox.wav"]})
    assert np.array_equal(
        sf.read(io.BytesIO(solo), dtype="int32")[0], sf.read(io.BytesIO(others_muted), dtype="int32")[0]
    )
    assert band_db(full, 420, 460) - band_db(solo, 420, 460) > 30
    flags = {s["file"]: (s["soloed"], s["silenced"]) for s in solo_job["result"]["report"]["stems"]}
    assert flags == {"Kick.wav": (True, False), "Bass DI.wav": (False, True), "Lead Vox.wav": (False, True)}

    for body, word in (
        ({"muted": ["Nope.wav"]}, "Nope.wav"),
        ({"solo": ["../Kick.wav"]}, "Kick.wav"),
        ({"muted": ["Kick.wav", "Bass DI.wav", "Lead Vox.wav"]}, "nothing would play"),
    ):
        r = client.post(f"/api/mix/{first['id']}/apply", json={"settings": settings, **body}, headers=H)
        assert r.status_code == 400 and word in r.json()["detail"], r.text


def test_mix_from_a_zip(client: TestClient) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in stems(3.0).items():
            zf.writestr(f"session/{name}", data)
        zf.writestr("../../evil.wav", stems(1.0)["Kick.wav"])
    up = upload(client, "stems.zip", buf.getvalue())
    job = wait(client, start(client, "/api/mix", {"stems": [up["id"]]}))
    assert job["state"] == "done", job["error"]
    assert sorted(job["result"]["stems"]) == ["Bass DI.wav", "Kick.wav", "Lead Vox.wav", "evil.wav"]
    folder = client.app.state.studio.jobs.store.root / job["id"]
    assert (folder / "in" / "stems" / "evil.wav").is_file() and not (folder.parent / "evil.wav").exists()


# ---------------------------------------------------------------------------------------- compose / produce
def test_compose_regenerate_and_bad_options(client: TestClient) -> None:
    body = {"style": "pop", "structure": "verse:4 chorus:4", "seed": 21, "melody": "rules"}
    first = wait(client, start(client, "/api/compose", body))
    assert first["state"] == "done", first["error"]
    view = first["result"]["view"]
    assert [s["name"] for s in view["sections"]] == ["verse", "chorus"]
    assert view["chords"] and all(t["notes"] for t in view["tracks"] if t["name"] in ("melody", "bass"))
    midi = client.get(f"/api/jobs/{first['id']}/files/song.mid").content
    assert midi[:4] == b"MThd"
    assert client.get(f"/api/jobs/{first['id']}/files/leadsheet.musicxml").content.lstrip().startswith(b"<?xml")
    recipe = json.loads(client.get(f"/api/jobs/{first['id']}/files/song.mid.recipe.json").content)
    assert recipe["ai_generated"] is True and recipe["seed"] == 21 and recipe["parameters"]["edits"] == []
    twin = wait(client, start(client, "/api/compose", body))  # same options, same seed: the same song
    assert client.get(f"/api/jobs/{twin['id']}/files/song.mid").content == midi

    regen = wait(client, start(client, f"/api/compose/{first['id']}/regenerate", {"track": "melody", "seed": 7}))
    assert regen["state"] == "done", regen["error"]
    new_view = regen["result"]["view"]
    for a, b in zip(view["tracks"], new_view["tracks"], strict=True):
        assert (a["notes"] == b["notes"]) == (a["name"] != "melody")
    assert new_view["chords"] == view["chords"]
    assert regen["result"]["song"]["edits"] == [{"seed": 7, "track": "melody"}]
    assert regen["parent"] == first["id"]

    sec = wait(client, start(client, f"/api/compose/{regen['id']}/regenerate", {"section": 0, "seed": 8}))
    assert sec["state"] == "done", sec["error"]
    bar = view["bar_beats"]
    for a, b in zip(new_view["tracks"], sec["result"]["view"]["tracks"], strict=True):
        assert [n for n in a["notes"] if n[0] >= 4 * bar] == [n for n in b["notes"] if n[0] >= 4 * bar]
    assert len(sec["result"]["song"]["edits"]) == 2

    for bad, status in (
        ({"style": "polka"}, 400),
        ({"style": "pop", "bars": 8, "structure": "verse:8"}, 400),
        ({"style": "pop", "key": "H#"}, 400),
        ({"style": "pop", "tempo": 900}, 422),
    ):
        assert client.post("/api/compose", json=bad, headers=H).status_code == status, bad
    r = client.post(f"/api/compose/{first['id']}/regenerate", json={"section": 5}, headers=H)
    assert r.status_code == 400
    r = client.post(f"/api/compose/{first['id']}/regenerate", json={"track": "tuba"}, headers=H)
    assert r.status_code == 400
    opts = client.get("/api/compose/options").json()
    assert "pop" in [s["name"] for s in opts["styles"]] and "streaming" in opts["targets"]


def test_produce_a_short_song(client: TestClient) -> None:
    from tunesmith.web.routes_compose import can_render

    if not can_render():
        pytest.skip("FluidSynth or a General MIDI SoundFont is not installed")
    song = wait(client, start(client, "/api/compose", {"style": "rock", "bars": 4, "seed": 5, "melody": "rules"}))
    job = wait(client, start(client, f"/api/compose/{song['id']}/produce", {"target": "streaming"}))
    assert job["state"] == "done", job["error"]
    r = job["result"]
    assert r["master"]["integrated_lufs"] == pytest.approx(-14.0, abs=0.15)
    assert r["master"]["true_peak_dbtp"] <= -1.0
    names = {f["path"] for f in job["files"]}
    assert {"song.mid", "mix.wav", "master.wav", "master.mp3", "stems.zip"} <= names
    stems_zip = zipfile.ZipFile(io.BytesIO(client.get(f"/api/jobs/{job['id']}/files/stems.zip").content))
    assert sorted(stems_zip.namelist()) == sorted(r["files"]["stems"])
    first = r["files"]["stems"][0]
    assert stems_zip.read(first) == client.get(f"/api/jobs/{job['id']}/files/{first}").content
    assert r["view"] == song["result"]["view"]  # the produced song is the composed one
    recipe = json.loads(client.get(f"/api/jobs/{job['id']}/files/master.wav.recipe.json").content)
    assert recipe["ai_generated"] is True and recipe["command"] == "produce"


# ---------------------------------------------------------------------------------------- hum / discover
def test_hum(client: TestClient) -> None:
    can = client.get("/api/hum/options").json()
    up = upload(client, "hum.wav", b"")
    if not can["notes"]:
        r = client.post("/api/hum", json={"upload": up["id"]}, headers=H)
        assert r.status_code == 503 and "not available" in r.json()["detail"]
        return
    rate = 16_000
    pitches = [60, 64, 67, 72]
    parts = []
    for p in pitches:  # hummed: a few harmonics, slight vibrato, gaps between notes
        t = np.arange(int(0.5 * rate)) / rate
        f = 440 * 2 ** ((p - 69) / 12) * (1 + 0.003 * np.sin(2 * np.pi * 5.5 * t))
        phase = 2 * np.pi * np.cumsum(f) / rate
        tone = sum(np.sin(k * phase) / k for k in (1, 2, 3)) * np.minimum(1, np.minimum(t, t[::-1]) * 40)
        parts += [0.3 * tone, np.zeros(int(0.15 * rate))]
    up = upload(client, "hum.wav", wav_bytes(np.concatenate(parts)[:, None].astype(np.float32), rate))
    job = wait(client, start(client, "/api/hum", {"upload": up["id"], "style": "pop", "seed": 1}))
    assert job["state"] == "done", job["error"]
    r = job["result"]
    assert [round(n["pitch"]) for n in r["notes"]] == pitches
    assert len(r["pitch"]["midi"]) > 10 and r["transcription"]["notes"] == len(pitches)
    if can["song"]:  # the song around the tune: its melody is the hummed one
        assert {"song.mid", "master.wav", "notes.csv"} <= set(r["files"])
        melody = max(r["view"]["tracks"], key=lambda t: t["role"] == "melody")
        assert [n[2] for n in melody["notes"]][: len(pitches)] == pitches
        assert client.get(f"/api/jobs/{job['id']}/files/song/master.wav").status_code == 200
    else:
        assert r["song"] is None and r["song_reason"]


def test_discover_import_playlist_and_similar(client: TestClient) -> None:
    rng = np.random.default_rng(9)
    rows = ["user\titem\tplays"]
    for u in range(30):  # three tastes; each user plays most of their scene's artists
        scene = u % 3
        for a in rng.choice(8, 6, replace=False):
            rows.append(f"u{u:02d}\tscene{scene}-artist{a}\t{int(rng.integers(5, 60))}")
    up = upload(client, "plays.tsv", "\n".join(rows).encode())
    imp = wait(client, start(client, "/api/discover/import", {"upload": up["id"], "format": "generic"}))
    assert imp["state"] == "done", imp["error"]
    assert imp["result"]["import"]["users"] == 30
    assert client.get("/api/discover/users").json()["users"][:2] == ["u00", "u01"]
    pl = wait(client, start(client, "/api/discover/playlist", {"user": "u00", "n": 4, "per_artist": None}))
    assert pl["state"] == "done", pl["error"]
    entries = pl["result"]["playlist"]["entries"]
    played = {r.split("\t")[1] for r in rows[1:] if r.startswith("u00\t")}
    assert entries and all(e["item"] not in played for e in entries)
    # u00 has played 6 of its scene's 8 artists: the other two are what listeners like u00 play.
    mine = {f"scene0-artist{a}" for a in range(8)} - played
    assert {e["item"] for e in entries[:2]} == mine
    assert all(e["explanation"] for e in entries)
    m3u = client.get(f"/api/jobs/{pl['id']}/files/playlist.m3u8").text
    assert m3u.startswith("#EXTM3U")
    sim = wait(client, start(client, "/api/discover/similar", {"item": "scene1-artist0", "n": 3}))
    assert sim["state"] == "done", sim["error"]
    assert [s["item"].split("-")[0] for s in sim["result"]["similar"]] == ["scene1"] * 3
    assert client.post("/api/discover/playlist", json={"user": "u00", "n": 0}, headers=H).status_code == 422


# ---------------------------------------------------------------------------------------- jobs
def test_jobs_list_events_cancel_delete(client: TestClient) -> None:
    jobs = client.app.state.studio.jobs
    quick = jobs.submit("selftest", {"seconds": 0.6, "text": "hello"})
    states = []
    with client.stream("GET", f"/api/jobs/{quick['id']}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith('data: {"'):
                states.append(json.loads(line[6:]))
    assert states[-1]["state"] == "done" and states[-1]["progress"] == 1.0
    assert any(s["stage"] == "waiting" for s in states)
    assert client.get(f"/api/jobs/{quick['id']}/files/echo.txt").text == "hello"
    listed = client.get("/api/jobs", params={"kind": "selftest"}).json()["jobs"]
    assert quick["id"] in [j["id"] for j in listed] and all(j["kind"] == "selftest" for j in listed)

    long1 = jobs.submit("selftest", {"seconds": 60})
    long2 = jobs.submit("selftest", {"seconds": 60})
    waiting = jobs.submit("selftest", {"seconds": 60})
    wait_state(client, long1["id"], "running")
    wait_state(client, long2["id"], "running")
    pid = worker_pid(jobs, long1["id"])
    assert client.get(f"/api/jobs/{waiting['id']}").json()["state"] == "queued"
    r = client.post(f"/api/jobs/{waiting['id']}/cancel", headers=H)
    assert r.json()["job"]["state"] == "cancelled"
    assert client.delete(f"/api/jobs/{long1['id']}", headers=H).status_code == 409
    t0 = time.monotonic()
    client.post(f"/api/jobs/{long1['id']}/cancel", headers=H)
    client.post(f"/api/jobs/{long2['id']}/cancel", headers=H)
    assert wait(client, long1["id"])["state"] == "cancelled" and wait(client, long2["id"])["state"] == "cancelled"
    assert time.monotonic() - t0 < 10
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert client.delete(f"/api/jobs/{quick['id']}", headers=H).status_code == 200
    assert client.get(f"/api/jobs/{quick['id']}").status_code == 404
    assert not (jobs.store.root / quick["id"]).exists()


def test_a_killed_worker_fails_its_job_and_the_server_goes_on(client: TestClient) -> None:
    jobs = client.app.state.studio.jobs
    job = jobs.submit("selftest", {"seconds": 60})
    wait_state(client, job["id"], "running")
    time.sleep(0.3)  # let it get going
    os.kill(worker_pid(jobs, job["id"]), signal.SIGKILL)
    done = wait(client, job["id"])
    assert done["state"] == "failed" and "killed (SIGKILL)" in done["error"]
    assert client.get("/api/health").json()["ok"]
    after = wait(client, jobs.submit("selftest", {"seconds": 0.1, "text": "still here"})["id"])
    assert after["state"] == "done" and after["result"]["text"] == "still here"
    failing = wait(client, jobs.submit("selftest", {"fail": "nothing to do"})["id"])
    assert failing["state"] == "failed" and failing["error"] == "nothing to do"


def test_jobs_survive_a_restart(tmp_path: Path) -> None:
    with TestClient(create_app(tmp_path, workers=1), base_url="http://127.0.0.1") as c:
        jobs = c.app.state.studio.jobs
        done = wait(c, jobs.submit("selftest", {"seconds": 0.1, "text": "kept"})["id"])
        interrupted = jobs.submit("selftest", {"seconds": 1.5, "text": "again"})
        wait_state(c, interrupted["id"], "running")
        with pytest.raises(Exception, match="another tunesmith studio"):
            create_app(tmp_path).state.studio.jobs.start()  # one studio per data folder
    with TestClient(create_app(tmp_path, workers=1), base_url="http://127.0.0.1") as c:
        again = c.get(f"/api/jobs/{done['id']}").json()
        assert again["state"] == "done" and again["result"]["text"] == "kept"
        assert c.get(f"/api/jobs/{done['id']}/files/echo.txt").text == "kept"
        rerun = wait(c, interrupted["id"])
        assert rerun["state"] == "done" and rerun["attempts"] == 2 and rerun["result"]["text"] == "again"


def test_concurrent_clients_get_their_own_results(tmp_path: Path) -> None:
    import httpx

    from tunesmith.web.background import running_studio

    n = 6
    results: dict[int, Any] = {}
    with running_studio(tmp_path, workers=2) as url:

        def client_run(k: int) -> None:
            with httpx.Client(base_url=url, headers=H, timeout=120) as http:
                data = wav_bytes(music(1.5, seed=k, level=0.1 + 0.05 * k))
                up = http.post("/api/uploads", params={"name": f"client{k}.wav"}, content=data).json()["uploads"][0]
                job_id = http.post("/api/master", json={"upload": up["id"], "formats": ["wav"], "report": False}).json()
                job_id = job_id["job"]["id"]
                while (doc := http.get(f"/api/jobs/{job_id}").json())["state"] not in TERMINAL:
                    time.sleep(0.1)
                original = http.get(f"/api/jobs/{job_id}/files/original.wav").content
                recipe = http.get(f"/api/jobs/{job_id}/files/master.wav.recipe.json").json()
                results[k] = (sha(data), doc, sha(original), recipe["inputs"][0]["sha256"])

        threads = [threading.Thread(target=client_run, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(results) == list(range(n))
    for sent, doc, original, recorded in results.values():
        assert doc["state"] == "done", doc["error"]
        assert sent == original == recorded


def test_serve_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from tunesmith.cli import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda a, **kw: seen.update(app=a, **kw))
    runner = CliRunner()
    r = runner.invoke(app, ["serve", "--data-dir", str(tmp_path / "a"), "--port", "9911"])
    assert r.exit_code == 0, r.output
    assert "http://127.0.0.1:9911/" in r.output and "token" not in r.output
    assert seen["host"] == "127.0.0.1" and seen["port"] == 9911
    r = runner.invoke(app, ["serve", "--data-dir", str(tmp_path / "b"), "--host", "0.0.0.0"])
    assert r.exit_code == 0 and "?token=" in r.output
    token = r.output.split("?token=")[1].split()[0]
    assert seen["app"].state.studio.token == token and len(token) >= 24
    r = runner.invoke(app, ["serve", "--data-dir", str(tmp_path / "c"), "--host", "0.0.0.0", "--token", "mine"])
    assert "?token=mine" in r.output
    r = runner.invoke(app, ["serve", "--port", "0"])
    assert r.exit_code != 0
