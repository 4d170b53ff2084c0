"""Run a fuzz target for a while, or replay inputs through it.

Usage::

    .venv/bin/python fuzz/run.py --list
    .venv/bin/python fuzz/run.py midi --seconds 60              # short run (what CI does, shorter)
    .venv/bin/python fuzz/run.py midi --seconds 3600 --campaign # restart after a crash, keep counting
    .venv/bin/python fuzz/run.py midi --seconds 450 --campaign --workers 8  # 1 CPU-hour on 8 cores
    nice -n 19 .venv/bin/python fuzz/run.py midi --cpu-seconds 3600 --campaign  # 1 CPU-hour, on idle cycles
    .venv/bin/python fuzz/run.py midi --replay crash-1234       # run inputs once, report each

The engine is atheris (libFuzzer, coverage-guided: ``tunesmith`` and the
target's parser library are instrumented). Where atheris is not installed,
or with ``--engine hypothesis``, a hypothesis-driven mutator takes its place:
random splices, flips, insertions and truncations of the seed corpus — no
coverage feedback, but the same property and the same corpus.

The run happens in a child process (libFuzzer exits the process when it
stops); the parent counts executions and crash files and prints one JSON line
(``--json`` for only that), exit status 0 when no crash was found, 1 otherwise.
New interesting inputs go to a scratch corpus, never into ``fuzz/corpus``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from targets import TARGETS, Runner, corpus_files  # noqa: E402

#: Seconds one input may take before it counts as a hang.
INPUT_TIMEOUT_S = 20
#: Resident memory that counts as a leak or a blow-up, MB.
RSS_LIMIT_MB = 3072
#: Largest input the mutator makes, bytes (the seeds are smaller; big files only slow it down).
MAX_LEN = 16384


def _have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- child side
def _child_atheris(name: str, engine_args: list[str]) -> None:
    """Run libFuzzer on target ``name`` in this process (never returns)."""
    import importlib

    import atheris

    target = TARGETS[name]
    for module in target.warm:
        importlib.import_module(module)
    # The parser modules are imported afresh under the import hook (a warm import may have pulled
    # them in already); everything else keeps its uninstrumented copy.
    for module in list(sys.modules):
        if any(module == m or module.startswith(m + ".") for m in target.instrument):
            del sys.modules[module]
    with atheris.instrument_imports(include=list(target.instrument)):
        for module in target.instrument:
            importlib.import_module(module)
        runner = Runner(target)
    atheris.Setup([sys.argv[0], *engine_args], runner)
    atheris.Fuzz()


def _child_hypothesis(name: str, seconds: float, artifacts: Path) -> None:
    """Mutate the seed corpus with hypothesis until ``seconds`` pass; save the first crash and exit 1."""
    import hashlib

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    target = TARGETS[name]
    runner = Runner(target)
    seeds = [p.read_bytes() for p in corpus_files(name)] or [b""]
    executed = 0

    op = st.one_of(
        st.tuples(st.just("flip"), st.integers(0, MAX_LEN), st.integers(0, 255)),
        st.tuples(st.just("insert"), st.integers(0, MAX_LEN), st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("delete"), st.integers(0, MAX_LEN), st.integers(1, 256)),
        st.tuples(st.just("splice"), st.integers(0, MAX_LEN), st.sampled_from(seeds)),
        st.tuples(st.just("truncate"), st.integers(0, MAX_LEN), st.just(0)),
    )

    def mutate(data: bytes, ops: list[tuple]) -> bytes:
        buf = bytearray(data)
        for kind, where, arg in ops:
            at = where % (len(buf) + 1)
            if kind == "flip" and buf:
                buf[at % len(buf)] ^= arg or 1
            elif kind == "insert":
                buf[at:at] = arg
            elif kind == "delete":
                del buf[at : at + arg]
            elif kind == "splice":
                buf[at:] = arg[at % (len(arg) + 1) :]
            elif kind == "truncate":
                del buf[at:]
        return bytes(buf[:MAX_LEN])

    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(seeds), st.lists(op, max_size=8), st.binary(max_size=256))
    def one(seed: bytes, ops: list[tuple], raw: bytes) -> None:
        nonlocal executed
        data = mutate(seed, ops) if ops or not raw else raw
        executed += 1
        try:
            runner(data)
        except Exception:
            artifacts.mkdir(parents=True, exist_ok=True)
            (artifacts / f"crash-{hashlib.sha1(data).hexdigest()}").write_bytes(data)
            raise

    deadline = time.monotonic() + seconds
    status = 0
    try:
        while time.monotonic() < deadline:
            one()
    except Exception as exc:  # the crash is saved; report it like libFuzzer does
        print(f"=== Uncaught Python exception: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        status = 1
    print(f"stat::number_of_executed_units: {executed}", file=sys.stderr)
    runner.close()
    sys.exit(status)


# ---------------------------------------------------------------------------- parent side
#: How much of the end of the log the parent reads for the child's final statistics, bytes.
LOG_TAIL_BYTES = 1 << 16


def _log_tail(log: Path) -> str:
    """The last :data:`LOG_TAIL_BYTES` of ``log``, where libFuzzer prints its final statistics.

    Never the whole file: a decoder that reports every bad frame on stderr (libmpg123 does)
    makes an hour's log gigabytes long, and a parent that had read it would hand its peak
    memory on to the next child, whose libFuzzer counts it against ``-rss_limit_mb`` (Linux
    keeps ``ru_maxrss`` across fork and exec) and reports out-of-memory on its first inputs.
    """
    with open(log, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - LOG_TAIL_BYTES))
        return fh.read().decode(errors="replace")


def run_once(
    name: str, seconds: float, engine: str, artifacts: Path, scratch: Path, log: Path, with_ffmpeg: bool = False
) -> dict[str, object]:
    """One child run; returns executions, wall and CPU seconds, and the exit status."""
    if engine == "atheris":
        engine_args = [
            f"-max_total_time={max(1, round(seconds))}",
            f"-timeout={INPUT_TIMEOUT_S}",
            f"-rss_limit_mb={RSS_LIMIT_MB}",
            f"-max_len={MAX_LEN}",
            f"-artifact_prefix={artifacts}/",
            "-print_final_stats=1",
            str(scratch),
            str(HERE / "corpus" / name),
        ]
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--", *engine_args]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child-hypothesis", name, "--seconds", str(seconds)]
        cmd += ["--artifacts", str(artifacts)]
    t0 = time.perf_counter()
    r0 = os.times()
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    # libFuzzer ends the child without running Python's clean-up, so the target's own temporary
    # folders (input files, scratch databases) go inside this run's folder, which the parent removes.
    child_tmp = scratch.parent / "tmp"
    child_tmp.mkdir(exist_ok=True)
    env["TMPDIR"] = str(child_tmp)
    # music21 gives up on a score after this long (a one-line error), well inside the hang timeout.
    env.setdefault("TUNESMITH_SCORE_READ_SECONDS", str(INPUT_TIMEOUT_S // 2))
    if not with_ffmpeg:
        # Inputs libsndfile refuses go to ffmpeg, a subprocess that costs ~0.2 s each and is not
        # ours to fuzz; without it on PATH the reader reports "not an audio file" at once.
        env["PATH"] = ""
    with open(log, "ab") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    r1 = os.times()
    found = re.findall(r"stat::number_of_executed_units: (\d+)", _log_tail(log))
    return {
        "returncode": proc.returncode,
        "executions": int(found[-1]) if found else 0,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system),
    }


# With a CPU budget, no child run is shorter than this (s): each start re-imports the parser and
# re-reads the corpus, so the last stretch is not cut into ever smaller runs.
MIN_CHUNK_S = 60.0


def _worker_loop(
    name: str,
    deadline: float,
    engine: str,
    campaign: bool,
    artifacts: Path,
    scratch: Path,
    log: Path,
    with_ffmpeg: bool,
    cpu_left: Callable[[], float] | None = None,
) -> dict[str, float]:
    """One worker's runs until ``deadline`` (monotonic s): executions, wall and CPU s, runs, status.

    With ``cpu_left`` (CPU seconds the pool may still use, shared by the workers), runs go on until
    it reaches zero, however much wall time that takes on a busy machine; each run is given at most
    the CPU still left as wall time (a child uses one core at most), so the budget overshoots by
    less than ``MIN_CHUNK_S`` per worker.
    """
    total = {"executions": 0, "wall_s": 0.0, "cpu_s": 0.0, "runs": 0, "status": 0}
    chunk_floor = min(MIN_CHUNK_S, cpu_left()) if cpu_left is not None else 0.0
    while True:
        left = deadline - time.monotonic()
        if left < 1 and total["runs"]:
            break
        if cpu_left is not None:
            budget = cpu_left()
            if budget <= 0 and total["runs"]:
                break
            left = min(left, max(budget, chunk_floor))
        one = run_once(name, max(left, 1), engine, artifacts, scratch, log, with_ffmpeg)
        total["runs"] += 1
        for key in ("executions", "wall_s", "cpu_s"):
            total[key] += one[key]
        if one["returncode"] != 0:
            total["status"] = 1
            if not campaign:
                break
        elif not campaign and cpu_left is None:  # a CPU budget goes on until spent
            break
    return total


def fuzz(
    name: str,
    seconds: float,
    engine: str,
    campaign: bool,
    artifacts: Path | None,
    with_ffmpeg: bool = False,
    workers: int = 1,
    cpu_seconds: float | None = None,
) -> dict[str, object]:
    """Fuzz ``name`` for ``seconds``; with ``campaign``, restart after each crash until the time is used.

    With ``cpu_seconds``, the run ends when the fuzzers have used that much CPU time (or at
    ``seconds`` of wall time, whichever comes first): a campaign run at low priority on a machine
    doing other work still gets its full hour of fuzzing, just spread over more wall time.

    With ``workers`` > 1, that many fuzzer processes run side by side on one shared scratch corpus
    (libFuzzer re-reads the corpus folder as it runs, so each picks up what the others found, as
    its own ``-jobs`` mode does); executions and CPU seconds are summed over the workers.
    """
    from concurrent.futures import ThreadPoolExecutor

    work = Path(tempfile.mkdtemp(prefix=f"tunesmith-fuzz-{name}-"))
    artifacts = artifacts or work / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    scratch = work / "corpus"
    scratch.mkdir()
    log = work / "fuzz.log"
    logs = [log] if workers == 1 else [work / f"fuzz-{i}.log" for i in range(workers)]
    deadline = time.monotonic() + seconds
    r0 = os.times()

    def cpu_left() -> float:
        # Reaped children only: a worker's run counts once it has ended.
        now = os.times()
        used = (now.children_user - r0.children_user) + (now.children_system - r0.children_system)
        return (cpu_seconds or 0.0) - used

    budget = cpu_left if cpu_seconds is not None else None
    # Threads only wait on the child processes; the fuzzing happens in the children.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(
            pool.map(
                lambda lg: _worker_loop(name, deadline, engine, campaign, artifacts, scratch, lg, with_ffmpeg, budget),
                logs,
            )
        )
    r1 = os.times()
    total = {key: sum(p[key] for p in parts) for key in ("executions", "runs")}
    # CPU from the whole pool's reaped children: a worker's own os.times() difference would also
    # count the other workers' children that ended meanwhile.
    total["cpu_s"] = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    total["wall_s"] = max(p["wall_s"] for p in parts)
    status = max(p["status"] for p in parts)
    # libFuzzer also saves "slow-unit-*" files (an input over 10 s that still finished): reported,
    # not counted as crashes; crash-, timeout-, oom- and leak- files are.
    found = sorted(p for p in artifacts.iterdir() if p.is_file())
    crashes = [str(p) for p in found if not p.name.startswith("slow-unit-")]
    slow = [str(p) for p in found if p.name.startswith("slow-unit-")]
    summary = {
        "target": name,
        "engine": engine,
        "seconds": seconds,
        "cpu_seconds_budget": cpu_seconds,
        "executions": total["executions"],
        "workers": workers,
        "executions_per_s": round(total["executions"] / max(total["wall_s"], 1e-9), 1),
        "wall_s": round(total["wall_s"], 1),
        "cpu_s": round(total["cpu_s"], 1),
        "child_runs": total["runs"],
        "new_inputs": sum(1 for _ in scratch.iterdir()),
        "crashes": crashes,
        "slow_units": slow,
        "log": str(log if workers == 1 else work),
        "status": "crash" if status or crashes else "ok",
        "ffmpeg": with_ffmpeg,
    }
    if not crashes and not status:
        shutil.rmtree(work, ignore_errors=True)
        summary["log"] = None
    return summary


def replay(name: str, files: list[Path]) -> int:
    """Run each file through the target once; print what happened; 1 if any crashed."""
    import traceback

    runner = Runner(TARGETS[name])
    bad = 0
    try:
        for f in files:
            try:
                runner(f.read_bytes())
                print(f"ok     {f}")
            except Exception as exc:
                bad += 1
                print(f"CRASH  {f}: {exc.__class__.__name__}: {exc}")
                traceback.print_exc()
    finally:
        runner.close()
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child_atheris(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="?", choices=sorted(TARGETS))
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="wall time (default $TUNESMITH_FUZZ_SECONDS or 60; 1 day with --cpu-seconds)",
    )
    parser.add_argument("--engine", choices=("atheris", "hypothesis"), default=None)
    parser.add_argument("--campaign", action="store_true", help="after a crash, start again until time is up")
    parser.add_argument("--artifacts", type=Path, help="folder for crash files (default: a temporary one)")
    parser.add_argument("--replay", nargs="+", type=Path, metavar="FILE", help="run these inputs once")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    parser.add_argument(
        "--cpu-seconds",
        type=float,
        default=None,
        help="stop once the fuzzers have used this much CPU time; --seconds is then a wall-time cap (default 1 day)",
    )
    parser.add_argument("--workers", type=int, default=1, help="fuzzer processes sharing one corpus (default 1)")
    parser.add_argument("--with-ffmpeg", action="store_true", help="let the audio reader fall back to ffmpeg")
    parser.add_argument("--child-hypothesis", dest="child_hypothesis", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.list:
        for name, t in TARGETS.items():
            print(f"{name:14s} {t.suffix:13s} {len(corpus_files(name))} seeds")
        return 0
    if args.target is None:
        parser.error("name a target (see --list)")
    if args.child_hypothesis:
        _child_hypothesis(args.target, args.seconds, args.artifacts)
        return 0
    if args.replay:
        return replay(args.target, args.replay)
    engine = args.engine or ("atheris" if _have_atheris() else "hypothesis")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.cpu_seconds is not None and args.cpu_seconds <= 0:
        parser.error("--cpu-seconds must be positive")
    seconds = args.seconds
    if seconds is None:
        seconds = 86_400.0 if args.cpu_seconds is not None else float(os.environ.get("TUNESMITH_FUZZ_SECONDS", 60))
    summary = fuzz(
        args.target, seconds, engine, args.campaign, args.artifacts, args.with_ffmpeg, args.workers, args.cpu_seconds
    )
    if not args.json:
        print(
            f"{summary['target']}: {summary['executions']} executions in {summary['wall_s']} s "
            f"({summary['cpu_s']} s CPU, {engine}), {len(summary['crashes'])} crash file(s)",
            file=sys.stderr,
        )
        if summary["log"]:
            print(f"log: {summary['log']}", file=sys.stderr)
    print(json.dumps(summary))
    return 0 if summary["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
