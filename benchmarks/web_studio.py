"""The web studio (``tunesmith serve``) under use, against 127.0.0.1 only.

* **page load**: every page, navigation timing in headless Chromium (Playwright driving
  ``/usr/bin/chromium``): the first (cold) load and the median of five more; target ≤ 1 s;
* **3-minute master round trip**: upload a 3-minute 44.1 kHz 16-bit stereo WAV (the shared Vibe
  Ace recording tiled to 180 s) → master job → wait (server-sent events) → download the master;
  target ≤ 10 s on 2 cores. Run with the page's defaults (WAV + FLAC + HTML report), with the MP3
  added, and with the WAV alone; beside it, the baseline: ``tunesmith master`` on the same file from the
  command line (a fresh process), reported as a ratio;
* **10 clients at once**: 10 threads, each its own HTTP client, upload a different 20 s excerpt,
  master it, wait and download; every job must finish and every client must get the master of
  its own upload (SHA-256 of the upload = the recipe's input; SHA-256 of the download = the
  recipe's output). Bounded: 10 jobs, 2 workers, 127.0.0.1.

CPU time (workers' user + system, from each job's result) is given beside wall time: the
machine may be shared, and ``uptime``'s load average is recorded before and after.

Usage: python benchmarks/web_studio.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf
from _common import SHARED_DATA, write_result

from tunesmith.web.background import running_studio

PAGES = ("/", "/master", "/mix", "/compose", "/hum", "/discover", "/jobs")
H = {"X-Tunesmith": "1"}
CHROMIUM = "/usr/bin/chromium"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def sha(path: Path | bytes) -> str:
    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    return hashlib.sha256(data).hexdigest()


def make_inputs(folder: Path, quick: bool) -> tuple[Path, list[Path]]:
    """The 3-minute WAV and ten 20-second excerpts, from the shared Vibe Ace recording."""
    src = SHARED_DATA / "mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
    if not src.exists():
        sys.exit(f"shared data not available: {src}")
    x, rate = sf.read(src, dtype="float32", always_2d=True)
    seconds = 60 if quick else 180
    long = np.concatenate([x] * (seconds // int(len(x) / rate) + 1))[: seconds * rate]
    three = folder / f"vibe_ace_{seconds}s.wav"
    sf.write(three, long, rate, subtype="PCM_16")
    excerpts = []
    for k in range(10):
        start = int((2.5 + 5.0 * k) * rate)
        path = folder / f"client{k:02d}.wav"
        sf.write(path, x[start : start + 20 * rate], rate, subtype="PCM_16")
        excerpts.append(path)
    return three, excerpts


def page_loads(url: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    out: dict[str, Any] = {}
    script = (
        "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        for path in PAGES:
            times = []
            for _ in range(6):
                page.goto(url + path)
                page.wait_for_load_state("load")
                times.append(page.evaluate(script))
            out[path] = {"cold_ms": round(times[0], 1), "median_ms": round(statistics.median(times[1:]), 1)}
        browser.close()
    return out


def wait_events(http: httpx.Client, job_id: str) -> None:
    with http.stream("GET", f"/api/jobs/{job_id}/events", timeout=600) as stream:
        for line in stream.iter_lines():
            if line.startswith("event: end"):
                return


def round_trip(url: str, wav: Path, formats: list[str], report: bool, out: Path) -> dict[str, Any]:
    """Upload → master → wait → download, timed per step."""
    with httpx.Client(base_url=url, headers=H, timeout=600) as http:
        t0 = time.perf_counter()
        with open(wav, "rb") as fh:  # streamed: httpx sends the file in chunks
            up = http.post("/api/uploads", params={"name": wav.name}, content=fh).json()["uploads"][0]
        t1 = time.perf_counter()
        job = http.post("/api/master", json={"upload": up["id"], "formats": formats, "report": report}).json()
        job_id = job["job"]["id"]
        wait_events(http, job_id)
        t2 = time.perf_counter()
        doc = http.get(f"/api/jobs/{job_id}").json()
        assert doc["state"] == "done", doc["error"]
        with (
            http.stream("GET", f"/api/jobs/{job_id}/files/master.wav", params={"download": 1}) as r,
            open(out, "wb") as f,
        ):
            for chunk in r.iter_bytes(1 << 20):
                f.write(chunk)
        t3 = time.perf_counter()
        recipe = http.get(f"/api/jobs/{job_id}/files/master.wav.recipe.json").json()
    assert recipe["output"]["sha256"] == sha(out)
    return {
        "formats": formats,
        "report": report,
        "upload_s": round(t1 - t0, 3),
        "job_wait_s": round(t2 - t1, 3),
        "download_s": round(t3 - t2, 3),
        "total_s": round(t3 - t0, 3),
        "job_s": doc["result"]["seconds"],
        "job_cpu_s": doc["result"]["cpu_s"],
        "upload_mb": round(wav.stat().st_size / 1e6, 1),
        "master_lufs": doc["result"]["report"]["output_loudness"]["integrated_lufs"],
    }


def cli_master(wav: Path, out: Path) -> dict[str, Any]:
    exe = Path(sys.executable).with_name("tunesmith")
    t0 = time.perf_counter()
    before = os.times()
    subprocess.run([str(exe), "master", str(wav), "-o", str(out), "--json"], check=True, capture_output=True)
    after = os.times()
    return {
        "total_s": round(time.perf_counter() - t0, 3),
        "cpu_s": round(after.children_user - before.children_user + after.children_system - before.children_system, 3),
    }


def ten_clients(url: str, excerpts: list[Path], out: Path) -> dict[str, Any]:
    results: dict[int, dict[str, Any]] = {}
    errors: list[str] = []

    def client(k: int) -> None:
        try:
            with httpx.Client(base_url=url, headers=H, timeout=600) as http:
                data = excerpts[k].read_bytes()
                up = http.post("/api/uploads", params={"name": excerpts[k].name}, content=data).json()["uploads"][0]
                body = {"upload": up["id"], "formats": ["wav"], "report": False}
                job_id = http.post("/api/master", json=body).json()["job"]["id"]
                wait_events(http, job_id)
                doc = http.get(f"/api/jobs/{job_id}").json()
                got = http.get(f"/api/jobs/{job_id}/files/master.wav").content
                (out / f"master{k:02d}.wav").write_bytes(got)
                recipe = http.get(f"/api/jobs/{job_id}/files/master.wav.recipe.json").json()
                results[k] = {
                    "state": doc["state"],
                    "own_input": recipe["inputs"][0]["sha256"] == sha(data) == up["sha256"],
                    "own_output": recipe["output"]["sha256"] == sha(got),
                    "job_s": doc["result"]["seconds"] if doc["result"] else None,
                    "cpu_s": doc["result"]["cpu_s"] if doc["result"] else None,
                }
        except Exception as exc:  # reported, not raised: the table shows what was lost
            errors.append(f"client {k}: {exc}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(len(excerpts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    done = sum(1 for r in results.values() if r["state"] == "done")
    right = sum(1 for r in results.values() if r["own_input"] and r["own_output"])
    outputs = {sha(out / f"master{k:02d}.wav") for k in results}
    return {
        "clients": len(excerpts),
        "done": done,
        "own_results": right,
        "distinct_outputs": len(outputs),
        "errors": errors,
        "wall_s": round(wall, 3),
        "sum_job_s": round(sum(r["job_s"] or 0 for r in results.values()), 3),
        "sum_cpu_s": round(sum(r["cpu_s"] or 0 for r in results.values()), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 60 s file instead of 3 minutes")
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="tunesmith-web-bench-") as tmp:
        folder = Path(tmp)
        three, excerpts = make_inputs(folder, args.quick)
        with running_studio(folder / "studio", workers=2) as url:
            pages = page_loads(url) if Path(CHROMIUM).exists() else {}
            warm = round_trip(url, excerpts[0], ["wav"], False, folder / "warm.wav")  # starts the forkserver
            full = round_trip(url, three, ["wav", "flac"], True, folder / "full.wav")
            every = round_trip(url, three, ["wav", "flac", "mp3"], True, folder / "every.wav")
            lean = round_trip(url, three, ["wav"], False, folder / "lean.wav")
            cli = cli_master(three, folder / "cli.wav")
            clients = ten_clients(url, excerpts, folder)
    load_after = load_average()
    seconds = 60 if args.quick else 180
    doc = {
        "load_average_before": load_before,
        "load_average_after": load_after,
        "page_load_ms": pages,
        "master_round_trip": {
            "file_s": seconds,
            "defaults": full,
            "with_mp3": every,
            "wav_only": lean,
            "cli_master": cli,
            "ratio_defaults_vs_cli": round(full["total_s"] / cli["total_s"], 2),
            "ratio_with_mp3_vs_cli": round(every["total_s"] / cli["total_s"], 2),
            "ratio_wav_only_vs_cli": round(lean["total_s"] / cli["total_s"], 2),
            "warm_up_20s": warm,
        },
        "ten_clients": clients,
    }
    path = write_result("web_studio", doc)
    print(f"load average before {load_before}, after {load_after}")
    print(f"\n{'page':<12}{'cold ms':>10}{'median ms':>12}")
    for p, v in pages.items():
        print(f"{p:<12}{v['cold_ms']:>10.1f}{v['median_ms']:>12.1f}")
    print(f"\n{seconds} s master round trip   upload   job(cpu)        download  total   vs CLI")
    for name, r in (("page defaults (wav+flac+report)", full), ("+ mp3", every), ("wav only", lean)):
        print(
            f"{name:<32}{r['upload_s']:>6.2f}  {r['job_wait_s']:>6.2f} ({r['job_cpu_s']:.2f})  "
            f"{r['download_s']:>8.2f}  {r['total_s']:>5.2f}  {r['total_s'] / cli['total_s']:.2f}x"
        )
    print(f"{'CLI tunesmith master':<32}{'':>6}  {cli['total_s']:>6.2f} ({cli['cpu_s']:.2f})")
    c = clients
    print(
        f"\n10 clients: {c['done']}/{c['clients']} done, {c['own_results']} got their own master, "
        f"{c['distinct_outputs']} distinct outputs, wall {c['wall_s']} s, jobs {c['sum_job_s']} s, "
        f"cpu {c['sum_cpu_s']} s, errors {c['errors'] or 'none'}"
    )
    print(f"\nwritten {path}")
    print(json.dumps({"ok": c["done"] == c["own_results"] == c["clients"]}))


if __name__ == "__main__":
    main()
