"""Audio values, file I/O, resampling and measurement.

The names below are imported on first use (PEP 562), so importing a light submodule
(``tunesmith.audio.keys``, ``tunesmith.audio.types``) does not load the compiled meter
and its numba start-up: ``tunesmith compose`` answers in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Audio": "tunesmith.audio.types",
    "AudioInfo": "tunesmith.audio.io",
    "AudioReader": "tunesmith.audio.io",
    "AudioWriter": "tunesmith.audio.io",
    "info": "tunesmith.audio.io",
    "load": "tunesmith.audio.io",
    "save": "tunesmith.audio.io",
    "Loudness": "tunesmith.audio.meter",
    "LoudnessMeter": "tunesmith.audio.meter",
    "integrated_loudness": "tunesmith.audio.meter",
    "measure_loudness": "tunesmith.audio.meter",
    "true_peak": "tunesmith.audio.meter",
    "resample": "tunesmith.audio.resample",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from tunesmith.audio.io import AudioInfo, AudioReader, AudioWriter, info, load, save
    from tunesmith.audio.meter import Loudness, LoudnessMeter, integrated_loudness, measure_loudness, true_peak
    from tunesmith.audio.resample import resample
    from tunesmith.audio.types import Audio


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tunesmith.audio' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "Audio",
    "AudioInfo",
    "AudioReader",
    "AudioWriter",
    "Loudness",
    "LoudnessMeter",
    "info",
    "integrated_loudness",
    "load",
    "measure_loudness",
    "resample",
    "save",
    "true_peak",
]
