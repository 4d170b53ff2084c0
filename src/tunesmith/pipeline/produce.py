"""``tunesmith produce``: compose → render → mix → master, in one go.

The song is composed from the style, each track rendered to a dry stem through
FluidSynth, the stems mixed by the automatic mixer (roles known from the score,
so nothing is guessed), and the mix mastered to the chosen loudness target as a
24-bit WAV and a 320 kbit/s MP3. Everything is built in a hidden folder beside
the output and moved into place only when every step has succeeded, so a failure
leaves no half-made song. With ``--loop`` the stems are rendered with their
release tails wrapped to the start, and mix and master are computed on three
copies of the loop with the middle one kept — the steady state of the loop played
forever — so the WAVs repeat sample-exactly; their loop points are written in a
``smpl`` chunk.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from tunesmith.audio.io import encode_mp3
from tunesmith.compose import ComposeOptions, Composition, compose, write_song
from tunesmith.compose.song import write_leadsheet
from tunesmith.errors import TunesmithError
from tunesmith.score.types import Track

#: Mix-bus tonal target per style (a key of ``tunesmith.mix.engineer.GENRES``).
MIX_GENRE = {
    "pop": "pop",
    "rock": "rock",
    "jazz": "jazz",
    "blues": "rnb",
    "funk": "rnb",
    "lofi": "hiphop",
    "house": "electronic",
    "bossa": "jazz",
    "folk": "folk",
    "ambient": "ambient",
    "chorale": "classical",
}
LOOP_COPIES = 3
MP3_HEADROOM_DB = 0.5  # MP3 at 320 kbit/s overshoots the source's true peak by up to a few tenths of a dB


@dataclass
class ProduceOptions:
    """What ``produce`` makes: the composition options plus the production ones."""

    compose: ComposeOptions = field(default_factory=ComposeOptions)
    target: str | None = "streaming"
    sample_rate: int = 44_100
    soundfont: str | None = None


@dataclass
class ProduceReport:
    """What was produced; ``to_dict`` is the ``--json`` document."""

    out_dir: str
    song: dict[str, Any]
    files: dict[str, str]
    mix: dict[str, Any]
    master: dict[str, Any]
    timings_s: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def mix_role(track: Track) -> str:
    """The mixer's role for a composed track (the score says what each part is)."""
    if track.is_drum:
        return "drums"
    if track.role == "bass":
        return "bass"
    if track.role == "melody":
        return "synth_lead"  # the lead line, whatever plays it: the mixer keeps it on top
    family = track.program // 8
    return {
        0: "keys",
        1: "keys",
        2: "keys",
        3: "guitar",
        4: "bass",
        5: "pad",
        6: "pad",
        7: "brass",
        8: "brass",
        9: "brass",
        10: "keys",
        11: "pad",
        12: "pad",
    }.get(family, "fx")


def produce(
    options: ProduceOptions,
    out_dir: str | os.PathLike[str],
    progress: Callable[[str, float], None] | None = None,
    argv: list[str] | None = None,
) -> ProduceReport:
    """Compose, render, mix and master a song into ``out_dir``.

    Writes ``song.mid``, ``leadsheet.musicxml``, ``stems/*.wav``, ``mix.wav``,
    ``master.wav``, ``master.mp3``, ``report.html`` (with ``mix-report.html`` and
    ``master-report.html``) and a ``.recipe.json`` beside each file.

    Raises
    ------
    UsageError
        Bad composition options (before anything is written).
    RenderError
        FluidSynth or a SoundFont missing.
    """
    from tunesmith.master import MasterSettings, master
    from tunesmith.master.report import write_report_html
    from tunesmith.master.targets import parse_target
    from tunesmith.mix import MixOptions, automix
    from tunesmith.mix.report import write_mix_report_html
    from tunesmith.render import render

    step = progress or (lambda stage, frac: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    comp = compose(options.compose)
    timings["compose"] = time.perf_counter() - t0
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    # The lead sheet and the reports are pure Python (and matplotlib) and need nothing from the
    # audio chain but its reports: a side process draws them on the second core meanwhile. It is
    # forked here, before any thread of ours exists (and so with no lock held by one), and
    # unlike "spawn" it does not re-run the caller's main module.
    side = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    try:
        step("compose", 0.05)
        write_song(comp, work, argv, leadsheet=False)
        # Side jobs go where the main process leaves a core free: the lead sheet and the mix report
        # beside the (mostly single-threaded) master, the other reports beside the MP3 encoder;
        # the render and the mix have both cores to themselves.
        side_jobs: list[Any] = [side.submit(int)]  # start (fork) the worker now, before any thread exists
        stems_dir = work / "stems"
        t = time.perf_counter()
        step("render", 0.1)
        rendered = render(comp.score, stems_dir, options.soundfont, options.sample_rate)
        timings["render"] = time.perf_counter() - t
        tracks = [tr for tr in comp.score.tracks if tr.notes]
        roles = {name: mix_role(tr) for name, tr in zip(rendered.stems, tracks, strict=True)}
        loop_frames = None
        if options.compose.loop:
            loop_frames = _wrap_stems(comp, stems_dir, rendered.stems, options.sample_rate)
        t = time.perf_counter()
        step("mix", 0.35)
        genre = MIX_GENRE.get(comp.style.name, "pop")
        # The mix is written as 32-bit float: lossless headroom for the master, and no conversion pass.
        mix_opts = MixOptions(roles=roles, genre=genre, encoding="wav32f")
        stem_paths = [stems_dir / s for s in rendered.stems]
        mix_path = work / "mix.wav"
        if loop_frames is None:
            mix_report, _ = automix(stem_paths, mix_path, mix_opts, _sub(step, "mix", 0.35, 0.75))
        else:
            mix_report = _loop_process(
                lambda src, dst: automix(src, dst, mix_opts)[0], stem_paths, mix_path, loop_frames, work
            )
        side_jobs.append(side.submit(write_leadsheet, comp, work / "leadsheet.musicxml", argv))
        side_jobs.append(side.submit(write_mix_report_html, mix_report, work / "mix-report.html"))
        timings["mix"] = time.perf_counter() - t
        t = time.perf_counter()
        step("master", 0.75)
        # One master serves both files: its ceiling sits MP3_HEADROOM_DB under the target's so the
        # MP3 encoded from it (while the side process draws the reports) stays under the ceiling.
        target = parse_target(options.target)
        settings = MasterSettings(
            target=options.target, ceiling_dbtp=target.ceiling_dbtp - MP3_HEADROOM_DB, encoding="wav24"
        )
        master_path = work / "master.wav"
        if loop_frames is None:
            master_report, _ = master(mix_path, master_path, settings, output_spectrum=True)
        else:
            master_report = _loop_process(
                lambda src, dst: master(src[0], dst, settings, output_spectrum=True)[0],
                [mix_path],
                master_path,
                loop_frames,
                work,
            )
        timings["master_wav"] = time.perf_counter() - t
        step("report", 0.9)
        side_jobs.append(side.submit(write_report_html, master_report, work / "master-report.html"))
        # Imported here: the report's plots and meters cost ~0.5 s of imports that `tunesmith batch`,
        # which imports this module in its parent and its forkserver, should not pay for other jobs.
        from tunesmith.compose.report import write_song_report_html

        side_jobs.append(side.submit(write_song_report_html, comp, mix_report, master_report, work / "report.html"))
        t_mp3 = time.perf_counter()
        mp3_peak = encode_mp3(master_path, work / "master.mp3")  # ffmpeg runs beside the side process
        timings["mp3"] = time.perf_counter() - t_mp3
        if mp3_peak > target.ceiling_dbtp:
            # Rare: the encoder overshot the headroom; master straight to MP3, which measures and retries.
            master(mix_path, work / "master.mp3", MasterSettings(target=options.target, encoding="mp3"))
        timings["master"] = time.perf_counter() - t
        t = time.perf_counter()
        for job in side_jobs:
            job.result()
        timings["notation_and_reports_wait"] = time.perf_counter() - t
        files = _move_into(work, out)
    except BrokenProcessPool:  # the side process was killed (by a user, or the OOM killer)
        raise TunesmithError(
            "a helper process died mid-job (killed, or out of memory?); nothing was written", out
        ) from None
    finally:
        side.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(work, ignore_errors=True)
    _write_recipes(comp, options, out, files, argv)
    timings["total"] = time.perf_counter() - t0
    step("done", 1.0)
    return ProduceReport(
        out_dir=str(out),
        song=comp.to_dict(),
        files={k: str(out / v) for k, v in files.items()},
        mix={
            "lufs": mix_report.output_loudness_lufs,
            "true_peak_dbtp": mix_report.output_true_peak_dbtp,
            "lead": Path(mix_report.lead).name if mix_report.lead else None,
        },
        master={
            k: master_report.output_loudness.get(k) for k in ("integrated_lufs", "true_peak_dbtp", "loudness_range_lu")
        },
        timings_s={k: round(v, 3) for k, v in timings.items()},
    )


def _sub(step: Callable[[str, float], None], stage: str, lo: float, hi: float) -> Callable[[str, float], None]:
    return lambda s, frac: step(f"{stage}: {s}", lo + (hi - lo) * frac)


def _wrap_stems(comp: Composition, stems_dir: Path, stems: list[str], rate: int) -> int:
    """Fold each stem's tail past the loop end onto its start; return the loop length in frames."""
    from tunesmith.audio.loops import wrap_tail, write_loop_points

    total_beats = sum(s.bars for s in comp.sections) * comp.style.bar_beats
    frames = round(comp.score.seconds(total_beats) * rate)
    for name in stems:
        path = stems_dir / name
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
        looped = wrap_tail(audio, frames)
        tmp = path.with_name(f".{path.name}.loop.wav")
        sf.write(str(tmp), looped, sr, subtype="FLOAT")
        os.replace(tmp, path)
        write_loop_points(path, 0, frames, sr)
    return frames


def _loop_process(
    process: Callable[[list[Path], Path], Any], inputs: list[Path], output: Path, frames: int, work: Path
) -> Any:
    """Run ``process`` on three copies of each loop input and keep the middle copy of its output.

    Compressors, reverb and the limiter then see the loop as it is when played forever:
    the tail of the last bar feeds the first, and the result repeats without a seam.
    """
    from tunesmith.audio.io import AudioWriter
    from tunesmith.audio.loops import tile, write_loop_points

    tmpdir = Path(tempfile.mkdtemp(prefix=".loop-", dir=work))
    try:
        tiled = []
        for i, p in enumerate(inputs):
            audio, sr = sf.read(str(p), dtype="float32", always_2d=True)
            dst = tmpdir / f"{i:02d}-{p.name}"
            sf.write(str(dst), tile(audio[:frames], LOOP_COPIES), sr, subtype="FLOAT")
            tiled.append(dst)
        long_out = tmpdir / ("long-" + output.name)
        report = process(tiled, long_out)
        audio, sr = sf.read(str(long_out), dtype="float32", always_2d=True)
        middle = audio[frames : 2 * frames]
        with AudioWriter(output, sr, middle.shape[1], "wav24") as writer:
            writer.write(middle)
        write_loop_points(output, 0, middle.shape[0], sr)
        report.output = str(output)
        return report
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _move_into(work: Path, out: Path) -> dict[str, str]:
    """Move everything made in ``work`` into ``out`` (replacing files of the same name)."""
    out.mkdir(parents=True, exist_ok=True)
    if (work / "stems").is_dir() and (out / "stems").is_dir():
        # A previous song's stems would linger beside the new ones (another style, other parts).
        stale = out.parent / f".{out.name}.old-stems-{os.getpid()}"
        os.replace(out / "stems", stale)
        shutil.rmtree(stale, ignore_errors=True)
    moved: dict[str, str] = {}
    for src in sorted(work.rglob("*")):
        if src.is_dir() or src.name.startswith("."):
            continue
        rel = src.relative_to(work)
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        moved[str(rel)] = str(rel)
    return moved


def _write_recipes(
    comp: Composition, options: ProduceOptions, out: Path, files: dict[str, str], argv: list[str] | None
) -> None:
    from tunesmith.provenance.recipe import write_recipe

    params = asdict(options.compose) | {
        "key": comp.key.short(),
        "tempo": comp.tempo,
        "target": options.target,
        "sample_rate_hz": options.sample_rate,
        "soundfont": options.soundfont,
        "originality": comp.originality,
    }
    song = out / "song.mid"
    for rel in files:
        path = out / rel
        if rel.endswith(".recipe.json") or rel in ("song.mid", "leadsheet.musicxml"):
            continue
        inputs = [] if path == song else [song]
        write_recipe(
            path, "produce", params, inputs=inputs, seed=comp.seed, models=comp.models, argv=argv, ai_generated=True
        )
