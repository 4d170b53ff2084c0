"""Score -> one dry audio stem per track, through FluidSynth and a General MIDI SoundFont.

Each track is written as its own MIDI file (with the score's tempo map and
metre) and rendered by the ``fluidsynth`` program (Debian's ``fluidsynth``,
built on ``libfluidsynth3``) with reverb and chorus off, so the stems are dry
and the mixing stage decides the space. Tracks render in parallel, one
FluidSynth process per core. Every stem starts at time 0 and all are padded to
the same length, which includes the longest release tail, so they line up
sample for sample.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from tunesmith.audio.io import AudioWriter
from tunesmith.errors import TunesmithError, UsageError
from tunesmith.score.midi import write_midi
from tunesmith.score.types import Score, Track

#: Where Debian (and common distributions) put General MIDI SoundFonts, best first.
SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
    "/usr/share/sounds/sf2/MuseScore_General.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
)
SILENCE = 10 ** (-100 / 20)  # trailing samples below -100 dBFS on every stem are trimmed
GAIN = 0.5  # FluidSynth master gain: headroom for dense parts (its default 0.2 is very quiet)


class RenderError(TunesmithError):
    """Rendering cannot run (missing FluidSynth or SoundFont, nothing to render)."""


def find_soundfont(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The SoundFont to use: ``explicit``, else ``$TUNESMITH_SOUNDFONT``, else the first GM one installed.

    Raises
    ------
    RenderError
        When none is found, naming the Debian package that provides one.
    """
    chosen = explicit or os.environ.get("TUNESMITH_SOUNDFONT")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise RenderError("SoundFont not found", path)
        return path
    for candidate in SOUNDFONT_PATHS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise RenderError(
        "no General MIDI SoundFont found: install the Debian package fluid-soundfont-gm "
        "(or timgm6mb-soundfont), or pass --soundfont PATH"
    )


def _fluidsynth() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise RenderError("FluidSynth not found: install the Debian package fluidsynth (it uses libfluidsynth3)")
    return exe


def stem_name(index: int, track: Track) -> str:
    """``<nn>-<track>.wav`` with a file-system-safe track name."""
    slug = re.sub(r"[^a-z0-9]+", "-", track.name.lower()).strip("-") or ("drums" if track.is_drum else "track")
    return f"{index + 1:02d}-{slug}.wav"


@dataclass
class RenderReport:
    """What was rendered. ``to_dict`` is the ``--json`` document."""

    stems: list[str]
    sample_rate_hz: int
    duration_s: float
    soundfont: str
    mix: str | None = None
    tracks: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "stems": self.stems,
            "sample_rate_hz": self.sample_rate_hz,
            "duration_s": round(self.duration_s, 3),
            "soundfont": self.soundfont,
            "mix": self.mix,
            "tracks": self.tracks,
        }


@dataclass
class _Rendered:
    path: Path  # temporary file in the output folder
    frames: int
    last_sound: int  # index after the last sample above SILENCE
    peak: float


def _render_track(exe: str, soundfont: Path, score: Score, track: Track, rate: int, midi: Path, wav: Path) -> _Rendered:
    """Render one track straight into ``wav`` (float WAV) and scan it once for its peak and tail."""
    # FluidSynth's file renderer keeps going after the last event until every
    # voice has been released, so the stems include their release tails.
    write_midi(replace(score, tracks=(track,), chords=(), sections=()), midi)
    cmd = [
        exe,
        "-ni",
        "-q",
        "-o",
        "synth.dynamic-sample-loading=1",  # load only the samples this track plays
        "-R",
        "0",
        "-C",
        "0",
        "-g",
        str(GAIN),
        "-r",
        str(rate),
        "-O",
        "float",
        "-T",
        "wav",
        "-F",
        str(wav),
        str(soundfont),
        str(midi),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not wav.exists():
        message = " ".join((proc.stderr or proc.stdout or "no output").split())[:200]
        raise RenderError(f"FluidSynth failed on track {track.name!r}: {message}")
    return _scan(wav)


def _scan(wav: Path, block: int = 1 << 17) -> _Rendered:
    """Frames, end of sound and peak of a float WAV, reading it once into one reused buffer.

    Only the peak needs every sample, and max/min need no temporary arrays; the
    end of sound is searched from the end backwards, where only the release tail is.
    """
    with sf.SoundFile(str(wav)) as f:
        frames = f.frames
        buf = np.empty((block, f.channels), np.float32)
        peak = 0.0
        while True:
            n = f.read(out=buf)
            if n is None or len(n) == 0:
                break
            peak = max(peak, float(n.max()), -float(n.min()))
        last = 0
        for start in range((frames - 1) // block * block, -1, -block):
            f.seek(start)
            chunk = f.read(block, dtype="float32", always_2d=True)
            loud = np.flatnonzero((np.abs(chunk) > SILENCE).any(axis=1))
            if len(loud):
                last = start + int(loud[-1]) + 1
                break
    return _Rendered(wav, frames, last, peak)


def render(
    score: Score,
    out_dir: str | os.PathLike[str],
    soundfont: str | os.PathLike[str] | None = None,
    sample_rate: int = 44_100,
    mix_path: str | os.PathLike[str] | None = None,
    workers: int | None = None,
) -> RenderReport:
    """Render every track of ``score`` to ``out_dir/<nn>-<track>.wav`` (32-bit float, stereo).

    Parameters
    ----------
    score : Score
        The music; tracks without notes are skipped.
    out_dir : str or os.PathLike
        Folder for the stems (created if missing).
    soundfont : str or os.PathLike, optional
        SoundFont (.sf2/.sf3); see :func:`find_soundfont`.
    sample_rate : int
        Hz, 8000–96000.
    mix_path : str or os.PathLike, optional
        Also write the plain sum of the stems here.
    workers : int, optional
        Parallel FluidSynth processes (default: CPU count).

    Raises
    ------
    RenderError
        No notes, no FluidSynth, no SoundFont, or FluidSynth failing.
    """
    if not 8_000 <= sample_rate <= 96_000:
        raise UsageError(f"--sample-rate {sample_rate} Hz is outside 8000..96000 Hz (FluidSynth's range)")
    tracks = [t for t in score.tracks if t.notes]
    if not tracks:
        raise RenderError("nothing to render: the score has no notes")
    exe = _fluidsynth()
    sf_path = find_soundfont(soundfont)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [stem_name(i, t) for i, t in enumerate(tracks)]
    rendered: list[_Rendered] = []
    with tempfile.TemporaryDirectory(prefix="tunesmith-render-") as tmp:
        try:
            # Heaviest tracks (most note-beats: sustained pads, dense comping) start first,
            # so the last process to finish is not the slowest one started late.
            order = sorted(range(len(tracks)), key=lambda i: -sum(n.duration for n in tracks[i].notes))
            with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
                futures = {
                    i: pool.submit(
                        _render_track,
                        exe,
                        sf_path,
                        score,
                        tracks[i],
                        sample_rate,
                        Path(tmp) / f"{i:02d}.mid",
                        out / f".{names[i]}.part.wav",
                    )
                    for i in order
                }
                rendered = [futures[i].result() for i in range(len(tracks))]
            # Equal length: the longest render, less the trailing silence common to all stems,
            # never shorter than the music. Files are padded or cut in place, then renamed.
            length = max(r.frames for r in rendered)
            length = min(length, max(max(r.last_sound for r in rendered), round(score.duration_s * sample_rate)))
            for r, name in zip(rendered, names, strict=True):
                with sf.SoundFile(str(r.path), "r+") as f:
                    if r.frames < length:
                        f.seek(0, sf.SEEK_END)
                        f.write(np.zeros((length - r.frames, f.channels), np.float32))
                    elif r.frames > length:
                        f.truncate(length)
                os.replace(r.path, out / name)
        except sf.LibsndfileError as exc:  # FluidSynth stops silently on a full disk: its file is cut short
            raise RenderError(
                f"cannot write the stems ({' '.join(str(exc).split())}); is the disk full?", out
            ) from None
        finally:
            for name in names:
                (out / f".{name}.part.wav").unlink(missing_ok=True)
    if mix_path is not None:
        with AudioWriter(mix_path, sample_rate, 2, "wav32f") as writer:
            readers = [sf.SoundFile(str(out / n)) for n in names]
            try:
                for _ in range(0, length, 1 << 17):
                    total = None
                    for f in readers:
                        block = f.read(1 << 17, dtype="float32", always_2d=True)
                        block = block if block.shape[1] == 2 else np.repeat(block, 2, axis=1)
                        total = block if total is None else total + block
                    writer.write(total)
            finally:
                for f in readers:
                    f.close()
    info = [
        {
            "stem": name,
            "track": track.name,
            "program": track.program,
            "is_drum": track.is_drum,
            "notes": len(track.notes),
            "peak_dbfs": round(20 * np.log10(r.peak), 2) if r.peak > 0 else None,
        }
        for name, track, r in zip(names, tracks, rendered, strict=True)
    ]
    return RenderReport(
        names, sample_rate, length / sample_rate, str(sf_path), None if mix_path is None else str(mix_path), info
    )


__all__ = ["RenderError", "RenderReport", "find_soundfont", "render", "stem_name"]
