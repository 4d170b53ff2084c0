"""Short fuzz runs of every parser that reads user files, and their committed corpora.

Three layers, all asserting the bad-input contract (a result, or a one-line ``TunesmithError``
naming the file — never another exception, never a hang):

* every committed seed and crash reproducer in ``fuzz/corpus/<target>/`` goes through its target;
* each target is fuzzed for ``TUNESMITH_FUZZ_SECONDS`` (default 8 s) by ``fuzz/run.py``
  (atheris/libFuzzer, coverage-guided; a hypothesis mutator where atheris is missing);
* structure-aware fuzzing of the JSON and TOML formats with hypothesis: the seed documents with
  subtrees swapped for hostile values (wrong types, 400-digit integers, infinities, deep nesting),
  which byte-level mutation of text rarely produces.

``TUNESMITH_FUZZ_SECONDS=0`` skips the timed runs (the corpus and structured tests still run).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fuzz"))

from targets import TARGETS, Runner, corpus_files  # noqa: E402

FUZZ_SECONDS = float(os.environ.get("TUNESMITH_FUZZ_SECONDS", "8"))


@pytest.fixture(scope="module")
def runners() -> dict[str, Runner]:
    made: dict[str, Runner] = {}
    yield made
    for runner in made.values():
        runner.close()


def _runner(runners: dict[str, Runner], name: str) -> Runner:
    if name not in runners:
        runners[name] = Runner(TARGETS[name])
    return runners[name]


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_committed_corpus_passes(runners: dict[str, Runner], name: str) -> None:
    files = corpus_files(name)
    assert files, f"fuzz/corpus/{name} has no seeds (run fuzz/make_corpus.py)"
    for path in files:
        _runner(runners, name)(path.read_bytes())  # raises on a crash


@pytest.mark.skipif(FUZZ_SECONDS <= 0, reason="TUNESMITH_FUZZ_SECONDS=0")
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_short_fuzz_run_finds_no_crash(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "run.py"), name, "--seconds", str(FUZZ_SECONDS), "--json"],
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 120,
        check=False,
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    log = Path(summary["log"]).read_text(errors="replace")[-3000:] if summary.get("log") else ""
    assert summary["status"] == "ok", f"{name}: crash found: {summary['crashes']}\n{log}"
    assert summary["executions"] > 0


@pytest.mark.skipif(FUZZ_SECONDS <= 0, reason="TUNESMITH_FUZZ_SECONDS=0")
def test_cpu_budget_ends_the_campaign_once_spent(tmp_path: Path) -> None:
    """``--cpu-seconds`` runs until the fuzzers have used the budget, and not much longer; and a
    clean run leaves no temporary folder behind (libFuzzer skips the child's own clean-up)."""
    budget = 4.0
    proc = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "run.py"), "history_csv", "--cpu-seconds", str(budget), "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=os.environ | {"TMPDIR": str(tmp_path)},
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "ok"
    assert summary["cpu_seconds_budget"] == budget
    # At least the budget; at most one more run's worth (a run is given the CPU still left, here
    # the whole budget, as wall time) plus the child's start-up (imports before fuzzing starts).
    assert budget <= summary["cpu_s"] <= 2 * budget + 6.0, summary


def test_parent_reads_only_the_end_of_a_huge_log(tmp_path: Path) -> None:
    """The parent finds the child's final statistics without reading the log whole.

    A campaign of ``audio_ogg`` wrote 1.8 GB of libmpg123 complaints to its log; the parent read
    it after every child run, and each next child inherited the parent's peak memory (Linux keeps
    ``ru_maxrss`` across fork and exec), so libFuzzer reported out-of-memory at once, 24 times.
    """
    import tracemalloc

    from run import LOG_TAIL_BYTES, _log_tail

    log = tmp_path / "fuzz.log"
    noise = b"[src/libmpg123/layer1.c:I_step_one():56] error: 256 bits needed, 16 available\n" * 400_000
    with open(log, "wb") as fh:
        fh.write(noise)
        fh.write(b"stat::number_of_executed_units: 41\n")
        fh.write(noise)  # a second child's run
        fh.write(b"stat::number_of_executed_units: 1234567\nstat::peak_rss_mb: 80\n")
    assert log.stat().st_size > 50 * 2**20
    tracemalloc.start()
    tail = _log_tail(log)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "stat::number_of_executed_units: 1234567" in tail and "units: 41\n" not in tail
    assert len(tail) <= LOG_TAIL_BYTES and peak < 4 * LOG_TAIL_BYTES


# ------------------------------------------------------------------------- structure-aware fuzzing
_text = st.text(max_size=8)
_hostile_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([10**400, -(10**400), 2**63, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
)
_DEEP = "\x00deeply nested\x00"
_value = st.recursive(
    _hostile_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3), max_leaves=5
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a document (dict keys, list indices), the root included."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn, seed: Any) -> Any:
    """``seed`` with one to three subtrees replaced by hostile values, deleted, or buried deep."""
    doc = json.loads(json.dumps(seed))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        action = draw(st.sampled_from(["replace", "replace", "delete", "nest"]))
        if action == "delete" and path:
            doc = _set(doc, path, None, delete=True)
        elif action == "nest":  # a placeholder the writers expand into 5000 nested arrays
            doc = _set(doc, path, _DEEP, delete=False)
        else:
            doc = _set(doc, path, draw(_value), delete=False)
    return doc


def _seed_documents(name: str, parse: Any) -> list[Any]:
    docs = []
    for path in corpus_files(name):
        if path.name.startswith("regress_"):
            continue
        try:
            docs.append(parse(path.read_bytes()))
        except (ValueError, tomllib.TOMLDecodeError):
            continue
    return docs


def _expand(text: str) -> bytes:
    return text.replace(json.dumps(_DEEP), "[" * 5000 + "1" + "]" * 5000).encode()


def _json_bytes(doc: Any) -> bytes:
    return _expand(json.dumps(doc))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    return '""'  # TOML has no null


def _toml_bytes(doc: Any) -> bytes:
    """A TOML document of ``doc`` (top-level keys, everything below as inline tables and arrays)."""
    if not isinstance(doc, dict):
        doc = {"value": doc}
    return _expand("\n".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items() if v is not None))


_STRUCTURED = [
    ("mix_settings", json.loads, _json_bytes),
    ("recipe", json.loads, _json_bytes),
    ("history_json", json.loads, _json_bytes),
    ("style", lambda b: tomllib.loads(b.decode()), _toml_bytes),
]


@pytest.mark.parametrize(("name", "parse", "dump"), _STRUCTURED, ids=[s[0] for s in _STRUCTURED])
def test_structured_fuzz(runners: dict[str, Runner], name: str, parse: Any, dump: Any) -> None:
    seeds = _seed_documents(name, parse)
    assert seeds
    runner = _runner(runners, name)

    @settings(
        max_examples=int(os.environ.get("TUNESMITH_FUZZ_STRUCTURED_EXAMPLES", "150")),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.sampled_from(seeds).flatmap(mutated))
    def run(doc: Any) -> None:
        runner(dump(doc))

    run()
