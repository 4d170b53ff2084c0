"""Fault injection: full disks, read-only folders, inputs that change under us, damaged weights, dead workers.

Every fault must end the same way: a non-zero exit, one line on stderr that names the file, no
traceback, no partial or temporary file left beside the output, and the input untouched.

Full disks are made two ways: a per-process file-size limit (``RLIMIT_FSIZE`` with ``SIGXFSZ``
ignored, so writes fail with ``EFBIG``; works for any user) and, where this process may mount, a
small tmpfs (a real ``ENOSPC``). Read-only folders are a read-only tmpfs when we can mount, a
``chmod 0555`` folder otherwise (which does not stop root, so that case is skipped for root).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import pink_noise

from tunesmith.audio import Audio, save
from tunesmith.errors import InputFileError
from tunesmith.provenance import sha256_file

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ helpers
def cli(
    args: list[str], cwd: Path, fault: str = "", preexec: Callable[[], None] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run ``tunesmith ARGS`` in a fresh interpreter, after executing ``fault`` (Python) in it."""
    main = "import sys\nfrom tunesmith.cli import main\nsys.argv = ['tunesmith', *sys.argv[1:]]\nmain()\n"
    code = textwrap.dedent(fault) + "\n" + main
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=preexec,
        timeout=timeout,
        check=False,
    )


def file_size_limit(nbytes: int) -> Callable[[], None]:
    """A ``preexec_fn``: files may not grow past ``nbytes`` (writes fail with EFBIG, no signal)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


def assert_clean_failure(proc: subprocess.CompletedProcess[str], names: str | None, warnings: bool = False) -> str:
    """Exit 1, exactly one ``tunesmith: error:`` line (naming ``names`` when given), no traceback.

    With ``warnings``, one-line warnings before the error are allowed (a later stage saying what
    it could not do on the way down, e.g. the labeller on a full disk).
    """
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    if warnings:
        lines = [line for line in lines if line.startswith("tunesmith: error: ")] or lines
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tunesmith: error: "), lines[0]
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    if names is not None:
        assert names in lines[0], lines[0]
    return lines[0]


def listing(folder: Path) -> set[str]:
    """Every file and folder under ``folder`` (hidden temporaries included), relative."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextlib.contextmanager
def tmpfs(where: Path, size_kib: int, read_only: bool = False) -> Iterator[Path]:
    """A small (or read-only) tmpfs at ``where``; skips the test when this process cannot mount."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kib}k" + (",ro" if read_only else "")
    if not _can_mount():
        pytest.skip("needs root and mount(8) for a size-limited tmpfs")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def has_fluidsynth() -> bool:
    from tunesmith.render import RenderError, find_soundfont

    if shutil.which("fluidsynth") is None:
        return False
    try:
        find_soundfont()
    except RenderError:
        return False
    return True


needs_fluidsynth = pytest.mark.skipif(not has_fluidsynth(), reason="fluidsynth or a GM SoundFont is not installed")


@pytest.fixture(scope="module")
def mix_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3.5 s stereo 'mix' (pink noise at 48 kHz, 16-bit: 672 kB) to master."""
    path = tmp_path_factory.mktemp("inputs") / "mix.wav"
    save(pink_noise(3.5, 48_000, np.random.default_rng(7)), path, encoding="wav16")
    return path


@pytest.fixture(scope="module")
def stems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 2 s stems to mix."""
    folder = tmp_path_factory.mktemp("stems")
    rng = np.random.default_rng(11)
    t = np.arange(2 * 44_100) / 44_100
    save(Audio((0.3 * np.sin(2 * np.pi * 110 * t))[:, None].astype(np.float32), 44_100), folder / "bass.wav")
    save(pink_noise(2.0, 44_100, rng), folder / "drums.wav")
    return folder


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short two-part MIDI song."""
    from tunesmith.score.midi import write_midi
    from tunesmith.score.types import Note, Score, Track

    melody = Track("melody", tuple(Note(i * 0.5, 0.5, 64 + (i % 5)) for i in range(8)), 0, role="melody")
    bass = Track("bass", (Note(0, 2, 40), Note(2, 2, 43)), 33, role="bass")
    path = tmp_path_factory.mktemp("song") / "song.mid"
    write_midi(Score(tracks=(melody, bass)), path)
    return path


# ------------------------------------------------------------------------------------- disk full
def test_master_on_a_full_disk_fails_cleanly(tmp_path: Path, mix_file: Path) -> None:
    before = sha256_file(mix_file)
    proc = cli(["master", str(mix_file), "-o", "out.wav"], tmp_path, preexec=file_size_limit(200_000))
    line = assert_clean_failure(proc, "out.wav")
    assert "cannot write" in line and "File too large" in line
    assert listing(tmp_path) == set()  # no output, no temporary file
    assert sha256_file(mix_file) == before


def test_master_on_a_full_tmpfs_fails_cleanly(tmp_path: Path, mix_file: Path) -> None:
    with tmpfs(tmp_path / "disk", 256) as disk:
        proc = cli(["master", str(mix_file), "-o", str(disk / "out.wav")], tmp_path)
        line = assert_clean_failure(proc, "out.wav")
        assert "No space left on device" in line
        assert listing(disk) == set()


def test_full_disk_after_the_audio_still_names_the_file_it_could_not_write(tmp_path: Path, mix_file: Path) -> None:
    """Room for the master but not for its recipe: the error names the recipe (the master is complete)."""
    with tmpfs(tmp_path / "disk", 1024) as disk:
        # 24-bit stereo, 3.5 s at 48 kHz is 1 008 044 bytes = 247 pages; leave exactly that much.
        (disk / "ballast").write_bytes(b"\0" * ((256 - 247) * 4096))
        proc = cli(["master", str(mix_file), "-o", str(disk / "out.wav")], tmp_path)
        line = assert_clean_failure(proc, "out.wav.recipe.json", warnings=True)
        assert "No space left on device" in line
        assert not any(".part" in name for name in listing(disk))


def test_mix_on_a_full_disk_fails_cleanly(tmp_path: Path, stems: Path) -> None:
    before = {p.name: sha256_file(p) for p in stems.iterdir()}
    with tmpfs(tmp_path / "disk", 64) as disk:
        proc = cli(["mix", str(stems), "-o", str(disk / "mix.wav")], tmp_path)
        assert_clean_failure(proc, "mix.wav")
        assert listing(disk) == set()
    assert {p.name: sha256_file(p) for p in stems.iterdir()} == before


def test_mix_with_a_file_size_limit_fails_in_one_line(tmp_path: Path, stems: Path) -> None:
    proc = cli(["mix", str(stems), "-o", "mix.wav"], tmp_path, preexec=file_size_limit(100_000))
    # The limit also stops the mixer's scratch files in $TMPDIR; one line either way.
    assert_clean_failure(proc, None)
    assert listing(tmp_path) == set()


def test_compose_on_a_full_disk_writes_nothing(tmp_path: Path) -> None:
    proc = cli(["compose", "-o", "song", "--bars", "4"], tmp_path, preexec=file_size_limit(1_000))
    line = assert_clean_failure(proc, "song.mid")
    assert "cannot write" in line
    assert not any(".part" in name or name.endswith(".mid") for name in listing(tmp_path))


@needs_fluidsynth
def test_render_on_a_full_disk_fails_cleanly(tmp_path: Path, song: Path) -> None:
    before = sha256_file(song)
    proc = cli(["render", str(song), "-o", "stems"], tmp_path, preexec=file_size_limit(50_000))
    # FluidSynth notices EFBIG and exits non-zero (its message is all render can pass on); on a
    # full disk it instead stops silently and render finds the stem cut short.
    line = assert_clean_failure(proc, None)
    assert "FluidSynth failed" in line or "cannot write the stems" in line
    assert not any(name.endswith(".wav") for name in listing(tmp_path))
    assert sha256_file(song) == before


# ----------------------------------------------------------------------------- read-only folder
@contextlib.contextmanager
def read_only_folder(where: Path) -> Iterator[Path]:
    if _can_mount():
        with tmpfs(where, 64, read_only=True) as folder:
            yield folder
        return
    if os.geteuid() == 0:
        pytest.skip("root writes through chmod 0555 and cannot mount here")
    where.mkdir()
    where.chmod(0o555)
    try:
        yield where
    finally:
        where.chmod(0o755)


def test_master_into_a_read_only_folder(tmp_path: Path, mix_file: Path) -> None:
    with read_only_folder(tmp_path / "ro") as ro:
        proc = cli(["master", str(mix_file), "-o", str(ro / "out.wav")], tmp_path)
        line = assert_clean_failure(proc, "out.wav")
        assert "Read-only file system" in line or "Permission denied" in line
        assert listing(ro) == set()


def test_compose_into_a_read_only_folder(tmp_path: Path) -> None:
    with read_only_folder(tmp_path / "ro") as ro:
        proc = cli(["compose", "-o", str(ro / "song"), "--bars", "4"], tmp_path)
        assert_clean_failure(proc, str(ro))
        assert listing(ro) == set()


# --------------------------------------------------------------- inputs that change or disappear
_TRUNCATE_AFTER_FIRST_READ = """
import os, soundfile
_read = soundfile.SoundFile.read
def read(self, *args, **kwargs):
    out = _read(self, *args, **kwargs)
    if self.name.endswith("{name}") and not getattr(read, "done", False):
        read.done = True
        os.truncate(self.name, 4096)   # another program cuts the file short while we read it
    return out
soundfile.SoundFile.read = read
"""


def test_master_input_cut_short_while_reading(tmp_path: Path, mix_file: Path) -> None:
    victim = tmp_path / "in" / "victim.wav"
    victim.parent.mkdir()
    shutil.copy(mix_file, victim)  # 168 000 frames: the reader's second block finds the file cut
    proc = cli(
        ["master", str(victim), "-o", "out.wav"], tmp_path, fault=_TRUNCATE_AFTER_FIRST_READ.format(name="victim.wav")
    )
    line = assert_clean_failure(proc, "victim.wav")
    assert "changed while being read" in line
    assert listing(tmp_path) == {"in", "in/victim.wav"}


def test_mix_stem_deleted_between_listening_and_reading(tmp_path: Path, stems: Path) -> None:
    folder = tmp_path / "stems"
    shutil.copytree(stems, folder)
    fault = """
    from pathlib import Path
    from tunesmith.audio import io
    _enter = io.AudioReader.__enter__
    opened = []
    def enter(self):
        if Path(self.path).name == "drums.wav":
            opened.append(1)
            if len(opened) == 2:  # checked once, then gone when the mixer comes to read it
                Path(self.path).unlink()
        return _enter(self)
    io.AudioReader.__enter__ = enter
    """
    proc = cli(["mix", str(folder), "-o", "mix.wav"], tmp_path, fault=fault)
    line = assert_clean_failure(proc, "drums.wav")
    assert "no such file" in line
    assert listing(tmp_path) == {"stems", "stems/bass.wav"}


def test_reader_reports_a_file_that_shrinks_under_it(tmp_path: Path, mix_file: Path) -> None:
    from tunesmith.audio.io import AudioReader

    path = tmp_path / "shrinking.wav"
    shutil.copy(mix_file, path)
    with AudioReader(path) as reader:
        blocks = reader.blocks(block_frames=50_000)
        next(blocks)
        os.truncate(path, 100_000)
        with pytest.raises(InputFileError, match=r"ended after \d+ of 168000 sample frames"):
            list(blocks)


# -------------------------------------------------------------------------- damaged model weights
def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    header = int.from_bytes(data[:8], "little")
    if how == "truncated":
        del data[len(data) // 2 :]
    elif how == "garbage_header":
        data[8:40] = b"\xfe" * 32
    elif how == "nan_weights":
        start = 8 + header + 64
        data[start : start + 4096] = b"\xff" * 4096  # 0xffffffff is a NaN in float32
    elif how == "empty":
        data = bytearray()
    elif how == "missing_tensor":
        from safetensors.numpy import load_file, save_file

        tensors = load_file(str(path))
        tensors.pop(max(tensors, key=lambda k: tensors[k].size))  # the largest: never an optional one
        save_file(tensors, str(path))
        return
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "garbage_header", "nan_weights", "empty", "missing_tensor"])
@pytest.mark.parametrize("model", ["chord", "melody", "chorale"])
def test_damaged_weights_give_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, how: str
) -> None:
    from tunesmith.models import nn

    weights = tmp_path / "weights"
    shutil.copytree(nn.weights_dir(), weights)
    _damage(weights / f"{model}.safetensors", how)
    monkeypatch.setattr(nn, "weights_dir", lambda: weights)
    with pytest.raises(InputFileError) as caught:
        if model == "chord":
            from tunesmith.models.chord import ChordModel

            ChordModel()
        elif model == "melody":
            from tunesmith.models.melody import MelodyModel

            MelodyModel()
        else:
            from tunesmith.models.chorale import load_model

            load_model(str(weights / "chorale.safetensors"))  # the default path is cached per process
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(weights / f"{model}.safetensors"))


def test_harmonize_with_damaged_chord_weights_fails_in_one_line(tmp_path: Path, song: Path) -> None:
    from tunesmith.models import nn

    weights = tmp_path / "weights"
    shutil.copytree(nn.weights_dir(), weights)
    _damage(weights / "chord.safetensors", "truncated")
    fault = f"""
    from pathlib import Path
    from tunesmith.models import nn
    nn.weights_dir = lambda: Path({str(weights)!r})
    """
    proc = cli(["harmonize", str(song), "-o", "harm.mid"], tmp_path, fault=fault)
    line = assert_clean_failure(proc, "chord.safetensors")
    assert "cannot read model weights" in line
    assert "harm" not in "".join(listing(tmp_path))


# ------------------------------------------------------------------------------- killed workers
@needs_fluidsynth
def test_render_worker_killed_mid_job(tmp_path: Path, song: Path) -> None:
    """A FluidSynth process SIGKILLed while it renders: a one-line error, no stem left behind."""
    fault = """
    import subprocess, time
    _run = subprocess.run
    def run(cmd, *args, **kwargs):
        if cmd and "fluidsynth" in str(cmd[0]):
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(0.05)
            proc.kill()
            out, err = proc.communicate()
            return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        return _run(cmd, *args, **kwargs)
    subprocess.run = run
    """
    proc = cli(["render", str(song), "-o", "stems"], tmp_path, fault=fault)
    line = assert_clean_failure(proc, None)
    assert "FluidSynth failed" in line
    assert not any(name.endswith(".wav") for name in listing(tmp_path))


@needs_fluidsynth
def test_produce_side_worker_killed_mid_job(tmp_path: Path) -> None:
    """The process drawing the reports is SIGKILLed: a one-line error and no song folder at all."""
    fault = """
    import os, signal, sys
    import tunesmith.pipeline.produce
    produce = sys.modules["tunesmith.pipeline.produce"]
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    produce.write_leadsheet = die   # runs in the side process
    """
    proc = cli(["produce", "-o", "song", "--bars", "2", "--style", "folk"], tmp_path, fault=fault)
    line = assert_clean_failure(proc, "song")
    assert "helper process died" in line
    assert listing(tmp_path) == set()


# ------------------------------------------------------------------------- the studio's workers
def test_studio_worker_killed_mid_master_job(tmp_path: Path) -> None:
    """SIGKILL the worker of a running master job: the job fails with a message, leaves no partial
    file, and the studio goes on serving and running jobs."""
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from tunesmith.web.app import create_app

    wav = tmp_path / "long.wav"
    save(pink_noise(30.0, 44_100, np.random.default_rng(3)), wav, encoding="wav16")
    app = create_app(tmp_path / "studio", workers=1)
    with TestClient(app, base_url="http://127.0.0.1", headers={"X-Tunesmith": "1"}) as http:
        up = http.post("/api/uploads", params={"name": "long.wav"}, content=wav.read_bytes()).json()["uploads"][0]
        job = http.post("/api/master", json={"upload": up["id"], "formats": ["wav", "flac"]}).json()["job"]
        jobs = app.state.studio.jobs
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until the worker is really mastering
            status = http.get(f"/api/jobs/{job['id']}").json()
            if status["state"] != "queued" and (status["progress"] or 0) > 0.03:
                break
            time.sleep(0.05)
        assert status["state"] == "running", status
        os.kill(jobs.running()[job["id"]], signal.SIGKILL)
        while time.monotonic() < deadline:
            status = http.get(f"/api/jobs/{job['id']}").json()
            if status["state"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.05)
        assert status["state"] == "failed", status
        assert "killed" in status["error"] and "\n" not in status["error"]
        out = tmp_path / "studio" / "jobs" / job["id"] / "out"
        assert not [p.name for p in out.rglob("*") if p.name.startswith(".")]  # no temporary file left
        # The studio carries on: it answers, and the next job runs to the end.
        assert http.get("/api/health").json()["ok"] is True
        nxt = jobs.submit("selftest", {"seconds": 0.1, "text": "still here"})
        while jobs.store.status(nxt["id"])["state"] not in ("done", "failed", "cancelled"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert jobs.store.status(nxt["id"])["state"] == "done"
        assert (tmp_path / "studio" / "jobs" / nxt["id"] / "out" / "echo.txt").read_text() == "still here"
