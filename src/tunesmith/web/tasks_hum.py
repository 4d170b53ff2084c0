"""The Hum page's job: a recorded or uploaded voice → its pitch track and notes → the song it becomes.

It calls :mod:`tunesmith.voice` (``tunesmith hum``): ``transcribe`` gives the pitch track and the
notes the page draws over each other, then ``hum`` arranges, renders, mixes and masters the song
(it transcribes the recording again itself; that costs a few per cent of making the song). Where
the voice package, or its song stage, or FluidSynth is missing, the page says what is not
available yet and shows what can be done.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from typing import Any

from tunesmith.errors import UsageError
from tunesmith.web.worker import JobContext

MAX_POINTS = 4000  # pitch-track points sent to the page (a canvas is narrower than that)


def _has(module: str, name: str) -> bool:
    try:
        if importlib.util.find_spec(module) is None:
            return False
        return callable(getattr(importlib.import_module(module), name, None))
    except Exception:  # a half-installed voice package: report it as missing, do not break the studio
        return False


def availability() -> dict[str, Any]:
    """What of the Hum page works here: ``notes`` (pitch track and notes) and ``song`` (arranging it)."""
    notes = _has("tunesmith.voice.transcribe", "transcribe")
    song = notes and _has("tunesmith.voice.song", "hum")
    reason = None
    if not notes:
        reason = "singing and humming (tunesmith.voice) is not available yet in this installation"
    elif not song:
        reason = "the pitch track and notes work; making them a song (tunesmith.voice.song.hum) is not available yet"
    else:
        from tunesmith.web.routes_compose import can_render

        if not can_render():
            song = False
            reason = "making the song needs FluidSynth and a General MIDI SoundFont (make install)"
    return {"notes": notes, "song": song, "reason": reason}


def _thin(values: list[float], step: int) -> list[float | None]:
    return [None if v is None or not math.isfinite(v) else round(float(v), 3) for v in values[::step]]


def run_hum(ctx: JobContext) -> dict[str, Any]:
    """Transcribe ``in/<input>``; then, where available, make the song into ``out/song/``.

    Parameters (``ctx.params``)
    ---------------------------
    input : str
        The recording, a file name in ``in/``.
    style, seed, target : optional
        As ``tunesmith hum``.
    """
    can = availability()
    if not can["notes"]:
        raise UsageError(can["reason"])
    from tunesmith.voice.transcribe import transcribe

    p = ctx.params
    src = ctx.in_dir / p["input"]
    heard = transcribe(src, progress=lambda f: ctx.progress("listening", 0.02 + 0.2 * f))
    track = heard.track
    step = max(1, -(-len(track.hz) // MAX_POINTS))
    result: dict[str, Any] = {
        "pitch": {
            "frame_s": track.frame_s * step,
            "midi": _thin(track.midi.tolist(), step),
            "confidence": _thin(track.confidence.tolist(), step),
            "tracker": track.tracker,
            "duration_s": track.duration_s,
        },
        "notes": [
            {
                "onset_s": round(n.onset_s, 3),
                "offset_s": round(n.offset_s, 3),
                "pitch": round(n.pitch, 2),
                "confidence": round(n.confidence, 3),
            }
            for n in heard.notes
        ],
        "transcription": heard.to_dict() | {"source": src.name},
        "warnings": list(heard.warnings),
        "song": None,
        "song_reason": can["reason"],
        "files": {},
    }
    if not can["song"]:
        return result
    from tunesmith.score import read_score
    from tunesmith.voice.song import HumOptions, hum
    from tunesmith.web.pianoroll import score_view

    ctx.progress("making the song", 0.25, force=True)
    options = HumOptions(
        style=p.get("style") or "pop", seed=int(p.get("seed") or 0), target=p.get("target") or "streaming"
    )
    song_dir = ctx.out_dir / "song"
    report = hum(src, song_dir, options, progress=ctx.sub(0.25, 0.98), argv=["tunesmith", "serve"])
    doc = report.to_dict()
    doc["out_dir"] = "song"
    result["song"] = doc
    result["song_reason"] = None
    result["files"] = {
        f.name: f"song/{f.name}"
        for f in sorted(song_dir.iterdir())
        if f.is_file() and not f.name.startswith(".") and not f.name.endswith(".recipe.json")
    }
    if (song_dir / "song.mid").is_file():
        result["view"] = score_view(read_score(song_dir / "song.mid"))
    return result
