"""Shared fixtures: the seeded RNG, signal makers, and access to ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tunesmith.audio import Audio

SHARED_DATA = Path(os.environ.get("TUNESMITH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def shared(*parts: str) -> Path:
    """Path inside ../shared/data, skipping the test when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


@pytest.fixture(autouse=True, scope="session")
def _private_config_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every recipe is signed, and the local signing key is made on first use: keep it out of ~/.config."""
    if "TUNESMITH_CONFIG_DIR" not in os.environ:
        os.environ["TUNESMITH_CONFIG_DIR"] = str(tmp_path_factory.mktemp("tunesmith-config"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so every test is deterministic."""
    return np.random.default_rng(20261122)


def sine(
    freq_hz: float,
    seconds: float,
    sample_rate: int = 48_000,
    amplitude: float = 0.5,
    channels: int = 2,
    phase: float = 0.0,
) -> Audio:
    """A steady sine on every channel."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    x = amplitude * np.sin(2 * np.pi * freq_hz * t + phase)
    return Audio(np.repeat(x[:, None], channels, axis=1).astype(np.float32), sample_rate)


def pink_noise(seconds: float, sample_rate: int, rng: np.random.Generator, channels: int = 2) -> Audio:
    """Pink-ish (1/f) noise, normalised to a -12 dBFS peak: a stand-in for music."""
    n = int(seconds * sample_rate)
    spec = np.fft.rfft(rng.standard_normal((n, channels)), axis=0)
    f = np.fft.rfftfreq(n, 1 / sample_rate)
    spec[1:] /= np.sqrt(f[1:, None])
    spec[0] = 0
    x = np.fft.irfft(spec, n=n, axis=0)
    x *= 10 ** (-12 / 20) / np.abs(x).max()
    return Audio(x.astype(np.float32), sample_rate)
