"""Recipes: complete, hashed, atomic, and read back with clear errors."""

from __future__ import annotations

import hashlib
import json

import pytest

from tunesmith import __version__
from tunesmith.errors import InputFileError
from tunesmith.provenance import read_recipe, recipe_path, sha256_file, write_recipe


def test_recipe_records_everything(tmp_path) -> None:
    src = tmp_path / "in.wav"
    src.write_bytes(b"input bytes")
    out = tmp_path / "out.wav"
    out.write_bytes(b"output bytes")
    path = write_recipe(
        out,
        "master",
        {"target_lufs": -14.0, "ceiling_dbtp": -1.0},
        inputs=[src],
        seed=3,
        models=[{"id": "chords-v1", "sha256": "ab" * 32}],
        argv=["tunesmith", "master", "in.wav"],
    )
    assert path == recipe_path(out) == tmp_path / "out.wav.recipe.json"
    data = json.loads(path.read_text())
    assert data["tunesmith_version"] == __version__
    assert data["parameters"] == {"target_lufs": -14.0, "ceiling_dbtp": -1.0}
    assert data["seed"] == 3
    assert data["argv"] == ["tunesmith", "master", "in.wav"]
    assert data["inputs"][0]["sha256"] == hashlib.sha256(b"input bytes").hexdigest()
    assert data["output"]["sha256"] == sha256_file(out)
    assert data["models"][0]["id"] == "chords-v1"
    assert read_recipe(out) == data == read_recipe(path)


def test_many_inputs_keep_their_order_and_their_own_hashes(tmp_path) -> None:
    # Several inputs are hashed side by side; each entry must still be its own file's, in order.
    inputs = []
    for i in range(7):
        p = tmp_path / f"stem{i}.wav"
        p.write_bytes(bytes([i]) * (1 + 300_000 * (i % 3)))  # different sizes finish out of order
        inputs.append(p)
    out = tmp_path / "mix.wav"
    out.write_bytes(b"mix")
    data = json.loads(write_recipe(out, "mix", {}, inputs=inputs).read_text())
    assert [e["path"] for e in data["inputs"]] == [str(p) for p in inputs]
    assert [e["sha256"] for e in data["inputs"]] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in inputs]
    assert [e["bytes"] for e in data["inputs"]] == [p.stat().st_size for p in inputs]


def test_read_recipe_errors(tmp_path) -> None:
    with pytest.raises(InputFileError, match="no recipe found"):
        read_recipe(tmp_path / "x.wav")
    bad = tmp_path / "x.wav.recipe.json"
    bad.write_text("{not json")
    with pytest.raises(InputFileError, match="not a valid recipe"):
        read_recipe(bad)
    bad.write_text('{"tool": "other"}')
    with pytest.raises(InputFileError, match="not a tunesmith recipe"):
        read_recipe(bad)


def test_sha256_of_large_file_streams(tmp_path) -> None:
    p = tmp_path / "big.bin"
    data = bytes(range(256)) * 20_000
    p.write_bytes(data)
    assert sha256_file(p, chunk_bytes=4096) == hashlib.sha256(data).hexdigest()
