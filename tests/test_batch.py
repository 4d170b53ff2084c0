"""``tunesmith batch``: one per-item function on two engines, bit-identical, resumable, isolated failures.

The catalogue is made here with numpy (a few seconds of audio per item), so nothing needs
``../shared/data``. Worker processes are real (spawned), and the Ray tests share one local
Ray session for the module, because starting Ray takes seconds.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from tunesmith.errors import InputFileError, UsageError
from tunesmith.pipeline.batch import (
    RAY_OBJECT_STORE_BYTES,
    WorkerDiedError,
    _drive,
    make_tasks,
    read_items,
    run_batch,
    worker_env,
)
from tunesmith.pipeline.jobs import JOBS, Task, item_seed
from tunesmith.pipeline.manifest import BatchItem, ItemResult

RATE = 44_100
SONGS = ("alpha", "bravo", "charlie", "album/delta")  # one nested, to check ids keep sub-folders


def _song(rng: np.random.Generator, seconds: float, level_db: float, tone_hz: float) -> np.ndarray:
    """A stand-in for a mix: a tone with harmonics over pink-ish noise, with a beat of level changes."""
    t = np.arange(round(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * tone_hz * k * t) / k for k in range(1, 5))
    noise = np.cumsum(rng.standard_normal((len(t), 2)), axis=0)
    noise -= np.linspace(noise[0], noise[-1], len(t))  # remove the random walk's drift
    noise /= np.abs(noise).max()
    beat = 0.6 + 0.4 * (np.sin(2 * np.pi * 2.0 * t) > 0)
    x = (0.5 * tone[:, None] + 0.3 * noise) * beat[:, None]
    x *= 10 ** (level_db / 20) / np.abs(x).max()
    return x.astype(np.float32)


def _sha(path: Path) -> str:
    """SHA-256 of the file's bytes, its provenance label left out when it has one.

    A label (C2PA content credentials) holds a fresh instance id and signature for every file
    written, by design; everything else — header, audio, every byte of the music — is compared.
    """
    try:
        from tunesmith.provenance.content import content_sha256
    except ImportError:  # no labels in this build: the whole file
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return content_sha256(path)


def _outputs(out: Path) -> dict[str, str]:
    """Content SHA-256 of every audio output under ``out``, by relative path."""
    found = sorted(p for p in out.rglob("*") if p.suffix in (".wav", ".flac") and not p.name.startswith("."))
    return {p.relative_to(out).as_posix(): _sha(p) for p in found}


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "batch.csv", newline="") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 2.5 s songs at different levels (one in a sub-folder) and one file that is not audio."""
    folder = tmp_path_factory.mktemp("catalogue")
    rng = np.random.default_rng(20261122)
    for i, name in enumerate(SONGS):
        path = folder / f"{name}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, _song(rng, 2.5, -3.0 - 4 * i, 110.0 * (i + 2)), RATE, subtype="PCM_16")
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really a wave file")
    return folder


@pytest.fixture(scope="module")
def reference(catalogue: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """The catalogue mastered on the local pool with two workers: what every other run must equal."""
    out = tmp_path_factory.mktemp("ref") / "out"
    report = run_batch("master", catalogue, out, {"target": "streaming"}, workers=2)
    return report, out


def test_item_seeds_depend_on_the_item_not_the_order() -> None:
    items = [BatchItem("b"), BatchItem("a"), BatchItem("c", options={"seed": 7})]
    forward = {t.item_id: t.params["seed"] for t in make_tasks("master", items, Path("/o"), {"seed": 3}, [], True)}
    backward = {
        t.item_id: t.params["seed"] for t in make_tasks("master", items[::-1], Path("/o"), {"seed": 3}, [], True)
    }
    assert forward == backward
    assert forward["a"] == item_seed(3, "a") != item_seed(3, "b") == forward["b"]
    assert forward["c"] == 7  # a manifest row's own seed wins


def test_bad_file_fails_only_its_item_and_is_in_the_manifest(reference: tuple[Any, Path]) -> None:
    report, out = reference
    assert (report.items, report.ok, report.failed, report.pending) == (5, 4, 1, 0)
    rows = _rows(out)
    assert rows["broken"]["status"] == "failed"
    assert "broken.wav" in rows["broken"]["error"] and "\n" not in rows["broken"]["error"]
    assert not (out / "broken.wav").exists()
    for name in SONGS:
        row = rows[name]
        assert row["status"] == "ok", row
        assert abs(float(row["integrated_lufs"]) + 14.0) <= 0.1  # the streaming target
        assert float(row["true_peak_dbtp"]) <= -1.0
        assert float(row["duration_s"]) == pytest.approx(2.5, abs=0.01)
        assert (out / f"{name}.wav").is_file() and (out / f"{name}.wav.recipe.json").is_file()
    lines = [json.loads(line) for line in (out / "batch.jsonl").read_text().splitlines()]
    assert {d["id"]: d["status"] for d in lines} == {r["id"]: r["status"] for r in rows.values()}
    assert not list(out.rglob(".*.part*")), "no temporary file may be left behind"


def test_one_and_two_local_workers_give_identical_bytes(
    catalogue: Path, reference: tuple[Any, Path], tmp_path: Path
) -> None:
    report = run_batch("master", catalogue, tmp_path / "out", {"target": "streaming"}, workers=1)
    assert report.workers == 1 and report.ok == 4
    expected = _outputs(reference[1])
    assert len(expected) == len(SONGS)
    assert _outputs(tmp_path / "out") == expected


def test_interrupted_batch_resumes_without_redoing_finished_items(
    catalogue: Path, reference: tuple[Any, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    seen: list[str] = []

    def stop_after_two(result: ItemResult, finished: int, total: int) -> None:
        seen.append(result.id)
        if finished == 2:
            raise KeyboardInterrupt  # what Ctrl-C does in the driver

    first = run_batch("master", catalogue, out, {"target": "streaming"}, workers=1, progress=stop_after_two)
    assert first.interrupted and first.pending >= 1
    rows = _rows(out)
    done_first = {i for i, r in rows.items() if r["status"] == "ok"}
    assert done_first and {r["status"] for r in rows.values()} <= {"ok", "failed", "pending"}
    expected = _outputs(reference[1])
    # Whatever the interrupted run left is complete and correct; nothing half-written.
    assert all(expected[k] == v for k, v in _outputs(out).items())
    mtimes = {i: (out / f"{i}.wav").stat().st_mtime_ns for i in done_first}
    # A kill -9 would leave a temporary file; and an output damaged since must be made again.
    (out / ".alpha.wav.x1y2z3.part.wav").write_bytes(b"half a file")
    damaged = sorted(done_first)[0]
    with open(out / f"{damaged}.wav", "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02\x03")

    second = run_batch("master", catalogue, out, {"target": "streaming"}, workers=2)
    assert not second.interrupted and second.pending == 0
    rows = _rows(out)
    for item in done_first - {damaged}:
        assert rows[item]["status"] == "skipped"
        assert (out / f"{item}.wav").stat().st_mtime_ns == mtimes[item]  # not redone
        assert rows[item]["integrated_lufs"] != ""  # figures carried over from the first run
    assert rows[damaged]["status"] == "ok"
    assert _outputs(out) == expected
    assert not (out / ".alpha.wav.x1y2z3.part.wav").exists()
    assert second.skipped == len(done_first) - 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("input,loudness\na.wav,-9\n", "unknown column 'loudness'"),
        ("input,id\na.wav,x\nb.wav,x\n", "used twice"),
        ("id,target\nx,-9\n", "'input' column"),
        ("input,id\na.wav,../escape\n", "cannot name an output"),
        ("input,ceiling\na.wav,high\n", "not a valid value"),
    ],
)
def test_bad_manifests_are_usage_errors_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(UsageError, match=problem) as err:
        read_items("master", manifest, tmp_path / "out")
    assert "m.csv" in str(err.value)


def test_produce_and_hum_manifests_carry_their_options(tmp_path: Path) -> None:
    songs = tmp_path / "songs.csv"
    songs.write_text("style,bars,seed\nrock,4,11\n,8,\n")
    first, second = read_items("produce", songs, tmp_path / "out")
    assert (first.id, second.id) == ("song-00001", "song-00002")  # rows without an id are numbered
    tasks = make_tasks("produce", [first, second], tmp_path / "out", {"style": "pop", "seed": 5}, [], True)
    assert tasks[0].params == {"style": "rock", "bars": 4, "seed": 11}
    assert tasks[1].params == {"style": "pop", "bars": 8, "seed": item_seed(5, "song-00002")}
    assert [p.name for p in JOBS["produce"].outputs(tasks[0])] == ["mix.wav", "master.wav", "master.mp3"]

    voices = tmp_path / "voices.csv"
    voices.write_text("input,keep_voice,tempo,key\nme.wav,yes,96,am\n")
    [item] = read_items("hum", voices, tmp_path / "out")
    assert item.options == {"keep_voice": True, "tempo": 96.0, "key": "am"}
    [task] = make_tasks("hum", [item], tmp_path / "out", {"style": "rock"}, [], True)
    parameters, seed = JOBS["hum"].recipe(task)
    # What hum() records, so that a re-run can tell a finished song: the key as it spells it.
    assert parameters["key"] == "Am" and parameters["tempo_bpm"] == 96.0 and parameters["keep_voice"] is True
    assert seed == item_seed(0, "me")
    # Batch options are checked before any work: nothing is created.
    with pytest.raises(UsageError, match="tempo"):
        run_batch("hum", voices, tmp_path / "out", {"tempo": 500.0})
    assert not (tmp_path / "out").exists()


def test_input_and_output_folders_are_checked(catalogue: Path, tmp_path: Path) -> None:
    with pytest.raises(InputFileError):
        read_items("master", tmp_path / "missing", tmp_path / "out")
    with pytest.raises(UsageError, match="must not be the input folder"):
        read_items("master", catalogue, catalogue)
    with pytest.raises(UsageError, match="CSV manifest"):
        read_items("produce", catalogue, tmp_path / "out")
    # An output folder inside the input folder is not read back as input on a re-run.
    inside = catalogue / "masters"
    ids = [i.id for i in read_items("master", catalogue, inside)]
    assert sorted(ids) == sorted([*SONGS, "broken"])


class _FakeEngine:
    """Runs tasks inline; a task named 'crash' takes its worker pool (and everything in it) down."""

    name = "fake"
    slots, window = 2, 4

    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.live: set[int] = set()  # submitted, not yet collected
        self.restarts = 0

    def submit(self, task: Task) -> int:
        self.tasks.append(task)
        self.live.add(len(self.tasks) - 1)
        return len(self.tasks) - 1

    def wait(self, handles: list[int], timeout: float) -> list[int]:
        return handles[:1]

    def outcome(self, handle: int, task: Task) -> ItemResult:
        if any(self.tasks[h].item_id == "crash" for h in self.live):
            raise WorkerDiedError
        self.live.discard(handle)
        return ItemResult(task.item_id, "ok")

    def restart(self) -> None:
        self.restarts += 1
        self.live.clear()

    def cancel_queued(self, handles: list[int]) -> list[int]:
        return []

    def close(self, abandon: bool = False, handles: Any = ()) -> None:
        pass


def test_a_worker_crash_fails_only_the_item_that_caused_it() -> None:
    engine = _FakeEngine()
    tasks = [Task("master", name, (), "/o", {}) for name in ("a", "crash", "b", "c", "d")]
    results: dict[str, ItemResult] = {}
    interrupted = _drive(engine, tasks, lambda r: results.__setitem__(r.id, r), lambda text: None)  # type: ignore[arg-type]
    assert not interrupted
    assert results["crash"].status == "failed" and "worker process died" in (results["crash"].error or "")
    assert all(results[n].status == "ok" for n in ("a", "b", "c", "d"))
    assert engine.restarts == 2  # once with four in flight, once more when it ran alone


def test_cli_csv_manifest_rows_override_options_and_one_json_summary(catalogue: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tunesmith.cli import app

    manifest = tmp_path / "jobs.csv"
    relative = "../" + (catalogue / "bravo.wav").relative_to(catalogue.parent).as_posix()
    manifest.write_text(
        "input,id,target,format\n"
        f"{catalogue / 'alpha.wav'},a-loud,-10,\n"
        f"{relative},,,flac\n"  # relative to the manifest's folder; empty cells keep the batch's options
        f"{catalogue / 'broken.wav'},,,\n"
    )
    items = read_items("master", manifest, tmp_path / "out")
    assert [i.id for i in items] == ["a-loud", "bravo", "broken"]
    assert items[0].options == {"target": "-10"} and items[1].options == {"format": "flac"}
    assert Path(items[1].inputs[0]) == (catalogue / "bravo.wav").resolve()

    out = tmp_path / "out"
    args = ["batch", "master", str(manifest), "-o", str(out), "--target", "streaming", "--workers", "2", "--json"]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 1, run.output  # one item failed
    doc = json.loads(run.stdout)
    assert (doc["ok"], doc["failed"], doc["engine"], doc["workers"]) == (2, 1, "local", 2)
    assert doc["failures"][0]["id"] == "broken"
    rows = _rows(out)
    assert abs(float(rows["a-loud"]["integrated_lufs"]) + 10.0) <= 0.1
    assert abs(float(rows["bravo"]["integrated_lufs"]) + 14.0) <= 0.1
    assert sf.info(str(out / "bravo.flac")).format == "FLAC"
    recipe = json.loads((out / "a-loud.wav.recipe.json").read_text())
    assert recipe["parameters"]["target"] == "-10" and recipe["seed"] == item_seed(0, "a-loud")


def test_cli_bad_option_is_one_line_exit_2_and_writes_nothing(catalogue: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "tunesmith.cli", "batch", "master", str(catalogue), "-o", str(tmp_path / "o")]
    bad = subprocess.run([*cmd, "--target", "loudest"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "loudest" in bad.stderr
    assert not (tmp_path / "o").exists()


def test_ray_option_takes_an_optional_address() -> None:
    from tunesmith.cli_batch import with_ray_value

    assert with_ray_value(["master", "songs", "--ray", "-o", "o"]) == ["master", "songs", "--ray=local", "-o", "o"]
    assert with_ray_value(["master", "--ray", "songs", "-o", "o"]) == ["master", "--ray=local", "songs", "-o", "o"]
    assert with_ray_value(["master", "s", "--ray"]) == ["master", "s", "--ray=local"]
    assert with_ray_value(["master", "s", "--ray", "auto"]) == ["master", "s", "--ray=auto"]
    assert with_ray_value(["master", "s", "--ray", "ray://head:10001"]) == ["master", "s", "--ray=ray://head:10001"]
    assert with_ray_value(["master", "s", "--ray=10.0.0.1:6379"]) == ["master", "s", "--ray=10.0.0.1:6379"]


# ---------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_session() -> Any:
    """One local Ray for the module (two CPUs, a small object store), as ``--ray`` would start it."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tunesmith[scale]')")
    ray.init(
        num_cpus=2,
        object_store_memory=RAY_OBJECT_STORE_BYTES,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        runtime_env={"env_vars": worker_env(1)},
    )
    yield ray
    ray.shutdown()


def test_ray_engine_gives_the_same_bytes_as_the_local_pool(
    ray_session: Any, catalogue: Path, reference: tuple[Any, Path], tmp_path: Path
) -> None:
    report = run_batch("master", catalogue, tmp_path / "out", {"target": "streaming"}, engine="ray")
    assert report.engine == "ray" and report.workers == 2
    assert (report.ok, report.failed) == (4, 1)
    assert _outputs(tmp_path / "out") == _outputs(reference[1])
    assert _rows(tmp_path / "out")["broken"]["status"] == "failed"
    # The same folder again: everything complete, nothing redone.
    again = run_batch("master", catalogue, tmp_path / "out", {"target": "streaming"}, engine="ray")
    assert (again.skipped, again.ok) == (4, 0)


def test_workers_share_the_cores_among_their_own_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from tunesmith.cores import THREADS_ENV, usable_cores

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert usable_cores() == cores
    monkeypatch.setenv(THREADS_ENV, "1")
    assert usable_cores() == 1
    for bad in ("0", "-2", "many", ""):
        monkeypatch.setenv(THREADS_ENV, bad)
        assert usable_cores() == cores  # a nonsense value is ignored, not obeyed
    env = worker_env(0)
    assert env[THREADS_ENV] == "1" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert worker_env(cores)[THREADS_ENV] == str(cores)
    # A worker process started by the pool sees its share: all cores alone, one each when they are all busy.
    probe = [sys.executable, "-c", "from tunesmith.cores import usable_cores; print(usable_cores())"]
    for share in (cores, 1):
        out = subprocess.run(probe, env={**os.environ, **worker_env(share)}, capture_output=True, text=True, check=True)
        assert int(out.stdout) == share
