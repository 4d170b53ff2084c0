"""Singing and humming → notes → a song: pitch tracking, note segmentation, rhythm, key and range.

``tunesmith.voice.transcribe.transcribe(path)`` turns a recording of a voice into notes (the
function shares its module's name, so import it from the module); ``hum(path, out_dir)`` builds a
whole produced song around them (``tunesmith hum``). Names load on first use (PEP 562), so
importing the package does not start ONNX Runtime or numba.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Transcription": "tunesmith.voice.transcribe",
    "hum": "tunesmith.voice.song",
    "HumOptions": "tunesmith.voice.song",
    "HumReport": "tunesmith.voice.song",
    "track_pitch": "tunesmith.voice.pitch",
    "segment": "tunesmith.voice.notes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tunesmith.voice' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
