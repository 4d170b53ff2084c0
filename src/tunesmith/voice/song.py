"""``hum``: a sung or hummed recording → a produced song around the tune.

1. :func:`~tunesmith.voice.transcribe.transcribe` finds the notes, the key, the voice's range
   and a beat grid (tempo, metre, beat 0 in the recording).
2. The tune goes to the harmonizer (:func:`tunesmith.compose.harmonize.harmonize_score`): the
   learned chord model picks a chord per beat and the style's band is arranged around the
   *unchanged* melody, in the singer's key and register — the voice is never transposed.
3. The band is rendered (FluidSynth), mixed (``automix``) and mastered (``master``), the
   same steps ``tunesmith produce`` takes. The melody is played by the style's lead
   instrument, or ``--instrument``; with ``--keep-voice`` the singer's own recording is a stem
   of the mix (role: lead vocal), cut or padded so that beat 0 of the arrangement falls on the
   sample of the recording where the grid put it — the band plays in time with the voice,
   and the melody instrument only doubles it when ``--instrument`` asks for it.

Everything is built in a hidden folder beside ``OUT_DIR`` and moved in only when every step
has worked, so a failure (no voice in the file, a missing SoundFont) leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tunesmith.atomic import check_not_input
from tunesmith.errors import UsageError

if TYPE_CHECKING:  # the transcriber (numba, ONNX) loads on first use: usage errors answer at once
    from tunesmith.score.types import Score
    from tunesmith.voice.transcribe import Transcription

VOICE_STEM = "voice.wav"


@dataclass(frozen=True)
class HumOptions:
    """What ``tunesmith hum`` makes (its command-line options).

    Attributes
    ----------
    style : str
        Style of the band (``tunesmith styles list``).
    tempo_bpm : float, optional
        Tempo, BPM; found from the singing when absent (``--tempo auto``).
    key : str, optional
        Key; found from the notes when absent (``--key auto``).
    keep_voice : bool
        Mix the singer's own recording in, time-aligned.
    instrument : int, optional
        GM program (0–127) that plays the melody (with ``keep_voice``: doubles the voice).
    expressive : bool
        Keep the sung timing of the melody instead of snapping it to sixteenths.
    seed : int
        Seed of the band's choices.
    target : str
        Mastering target (``streaming``, ``cd``… or a LUFS value).
    tracker : str
        Pitch tracker: ``auto``, ``swift-f0`` or ``pyin``.
    sample_rate : int
        Rate of the stems, mix and master, Hz.
    soundfont : str, optional
        SoundFont to render with.
    """

    style: str = "pop"
    tempo_bpm: float | None = None
    key: str | None = None
    keep_voice: bool = False
    instrument: int | None = None
    expressive: bool = False
    seed: int = 0
    target: str = "streaming"
    tracker: str = "auto"
    sample_rate: int = 44_100
    soundfont: str | None = None


@dataclass
class HumReport:
    """What ``hum`` did; ``to_dict`` is the ``--json`` document."""

    out_dir: str
    transcription: dict[str, Any]
    song: dict[str, Any]
    files: dict[str, str]
    mix: dict[str, Any]
    master: dict[str, Any]
    warnings: list[str]
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def check_options(options: HumOptions) -> None:
    """Refuse bad options before any work.

    Raises
    ------
    UsageError
        Unknown style or target, instrument outside 0–127, tempo outside 30–300 BPM, bad key.
    """
    from tunesmith.score.theory import Key

    # The cheap checks first: a mistyped number is answered before anything heavy loads.
    if options.instrument is not None and not 0 <= options.instrument <= 127:
        raise UsageError(f"--instrument must be a General MIDI program 0..127, got {options.instrument}")
    if options.tempo_bpm is not None and not 30.0 <= options.tempo_bpm <= 300.0:
        raise UsageError(f"--tempo must be 30..300 BPM or auto, got {options.tempo_bpm:g}")
    if options.key is not None:
        try:
            Key.parse(options.key)
        except ValueError as exc:
            raise UsageError(f"--key: {exc}") from None
    if not 8_000 <= options.sample_rate <= 96_000:
        raise UsageError(f"--sample-rate must be 8000..96000 Hz, got {options.sample_rate}")
    from tunesmith.compose.style import get_style
    from tunesmith.master.targets import parse_target
    from tunesmith.voice.pitch import choose_tracker

    get_style(options.style)
    choose_tracker(options.tracker)
    parse_target(options.target)


def arrange(result: Transcription, options: HumOptions) -> tuple[Any, Score, Score]:
    """Chords and band around the transcribed tune.

    Returns
    -------
    tuple
        The :class:`~tunesmith.compose.harmonize.Harmonization`, the whole song (melody
        included, on ``--instrument`` when given) and the score to render (without the
        melody when the voice itself sings it and no instrument doubles it).
    """
    from tunesmith.compose.harmonize import harmonize_score
    from tunesmith.voice.transcribe import melody_score

    tune = melody_score(result)
    harm = harmonize_score(tune, result.source, options.style, False, result.key.short(), options.seed)
    tracks = []
    for t in harm.score.tracks:
        if t.role == "melody" and options.instrument is not None:
            t = replace(t, program=options.instrument, name="melody")
        tracks.append(t)
    title = f"{Path(result.source).stem} (sung, arranged in {harm.style})"
    song = replace(harm.score, tracks=tuple(tracks), title=title)
    to_render = song
    if options.keep_voice and options.instrument is None:
        to_render = replace(song, tracks=tuple(t for t in tracks if t.role != "melody"))
    return harm, song, to_render


def write_voice_stem(source: str | os.PathLike[str], path: Path, beat0_s: float, frames: int, sample_rate: int) -> None:
    """The recording as a mono stem whose sample 0 is the arrangement's beat 0, ``frames`` long.

    Streamed block by block: folded to mono, high-passed at 60 Hz (DC and handling noise),
    resampled to ``sample_rate`` (libsoxr), cut (``beat0_s`` > 0) or padded with silence
    (``beat0_s`` < 0) at the start and cut or padded to ``frames`` at the end.
    """
    import soxr

    from tunesmith.audio.iir import highpass, sosfilt_block
    from tunesmith.audio.io import AudioReader, AudioWriter

    skip = round(beat0_s * sample_rate)
    written = 0
    with AudioReader(source) as reader, AudioWriter(path, sample_rate, 1, "wav32f") as writer:
        rate = reader.info.sample_rate
        stream = None if rate == sample_rate else soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
        sos = highpass(60.0, 2, sample_rate)
        zi = np.zeros((len(sos), 1, 2))
        if skip < 0:
            pad = min(-skip, frames)
            writer.write(np.zeros((pad, 1), np.float32))
            written += pad
            skip = 0

        def put(mono: np.ndarray) -> None:
            nonlocal skip, written
            block = np.ascontiguousarray(mono.reshape(-1, 1), dtype=np.float32)
            sosfilt_block(sos, block, zi)
            if skip > 0:
                cut = min(skip, len(block))
                block, skip = block[cut:], skip - cut
            block = block[: max(0, frames - written)]
            if len(block):
                writer.write(block)
                written += len(block)

        for block in reader.blocks():
            mono = block.mean(axis=1, dtype=np.float32)
            put(mono if stream is None else stream.resample_chunk(mono))
            if written >= frames:
                break
        if stream is not None and written < frames:
            put(stream.resample_chunk(np.zeros(0, np.float32), last=True))
        if written < frames:
            writer.write(np.zeros((frames - written, 1), np.float32))


def hum(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    options: HumOptions | None = None,
    progress: Callable[[str, float], None] | None = None,
    argv: list[str] | None = None,
) -> HumReport:
    """Turn a sung or hummed recording into a song in ``out_dir``.

    Writes ``notes.csv`` (notes as detected), ``melody.mid`` (the tune, quantised),
    ``song.mid`` (the arrangement), ``stems/*.wav``, ``mix.wav``, ``master.wav`` and
    ``report.html``, each with a ``.recipe.json``.

    Raises
    ------
    InputFileError
        Unreadable recording, or no singing or humming in it.
    UsageError
        Bad options, or ``out_dir`` is the recording itself.
    RenderError
        FluidSynth or a SoundFont missing.
    """
    import soundfile as sf

    from tunesmith.atomic import write_text_atomic
    from tunesmith.master import MasterSettings, master
    from tunesmith.master.targets import parse_target
    from tunesmith.mix import MixOptions, automix
    from tunesmith.pipeline.produce import MIX_GENRE, _move_into, mix_role
    from tunesmith.render import render
    from tunesmith.score.midi import write_midi
    from tunesmith.voice.report import write_hum_report_html
    from tunesmith.voice.transcribe import melody_score, notes_csv_text, transcribe

    opts = options or HumOptions()
    check_options(opts)
    out = Path(out_dir)
    check_not_input(out, [path])
    step = progress or (lambda stage, frac: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    step("listen", 0.0)
    from tunesmith.compose.style import get_style

    # The band plays in its style's metre, so the tune is laid on a grid of that many quarter notes a bar.
    result = transcribe(
        path,
        opts.tracker,
        opts.tempo_bpm,
        opts.key,
        opts.expressive,
        numerator=max(1, round(get_style(opts.style).bar_beats)),
        progress=lambda f: step("listen", 0.3 * f),
    )
    timings["transcribe"] = time.perf_counter() - t0
    t = time.perf_counter()
    step("arrange", 0.3)
    harm, song, to_render = arrange(result, opts)
    timings["arrange"] = time.perf_counter() - t
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        write_text_atomic(work / "notes.csv", notes_csv_text(result.notes))
        write_midi(melody_score(result), work / "melody.mid", label=f"transcription of {Path(path).name}")
        write_midi(
            song, work / "song.mid", label=f"AI-generated arrangement by tunesmith around the tune of {Path(path).name}"
        )
        t = time.perf_counter()
        step("render", 0.4)
        stems_dir = work / "stems"
        rendered = render(to_render, stems_dir, opts.soundfont, opts.sample_rate)
        timings["render"] = time.perf_counter() - t
        tracks = [tr for tr in to_render.tracks if tr.notes]
        roles = {name: mix_role(tr) for name, tr in zip(rendered.stems, tracks, strict=True)}
        stem_paths = [stems_dir / s for s in rendered.stems]
        if opts.keep_voice:
            frames = sf.info(str(stem_paths[0])).frames
            write_voice_stem(path, stems_dir / VOICE_STEM, result.grid.beat0_s, frames, opts.sample_rate)
            roles[VOICE_STEM] = "lead_vocal"
            stem_paths.append(stems_dir / VOICE_STEM)
        t = time.perf_counter()
        step("mix", 0.55)
        genre = MIX_GENRE.get(harm.style, "pop")
        mix_report, _ = automix(stem_paths, work / "mix.wav", MixOptions(roles=roles, genre=genre, encoding="wav32f"))
        timings["mix"] = time.perf_counter() - t
        t = time.perf_counter()
        step("master", 0.75)
        target = parse_target(opts.target)
        settings = MasterSettings(target=opts.target, ceiling_dbtp=target.ceiling_dbtp, encoding="wav24")
        master_report, _ = master(work / "mix.wav", work / "master.wav", settings)
        timings["master"] = time.perf_counter() - t
        t = time.perf_counter()
        step("report", 0.9)
        loud = {k: master_report.output_loudness.get(k) for k in ("integrated_lufs", "true_peak_dbtp")}
        write_hum_report_html(result, work / "report.html", list(harm.chords), harm.style, loud, opts.keep_voice)
        timings["report"] = time.perf_counter() - t
        files = _move_into(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _write_recipes(path, out, files, result, harm, opts, argv)
    timings["total"] = time.perf_counter() - t0
    step("done", 1.0)
    return HumReport(
        out_dir=str(out),
        transcription=result.to_dict(),
        song=harm.to_dict() | {"title": song.title, "tempo_bpm": result.grid.tempo_bpm},
        files={k: str(out / v) for k, v in files.items()},
        mix={
            "lufs": mix_report.output_loudness_lufs,
            "true_peak_dbtp": mix_report.output_true_peak_dbtp,
            "lead": Path(mix_report.lead).name if mix_report.lead else None,
        },
        master={
            k: master_report.output_loudness.get(k) for k in ("integrated_lufs", "true_peak_dbtp", "loudness_range_lu")
        },
        warnings=list(result.warnings),
        timings_s={k: round(v, 3) for k, v in timings.items()},
    )


def _write_recipes(
    source: str | os.PathLike[str],
    out: Path,
    files: dict[str, str],
    result: Transcription,
    harm: Any,
    opts: HumOptions,
    argv: list[str] | None,
) -> None:
    """A recipe beside every file: transcriptions are the singer's, the arrangement and audio are AI-made."""
    from tunesmith.provenance.recipe import write_recipe
    from tunesmith.voice.notes import SegmentParams

    heard = {
        "content": "a transcription of the singer's own voice (not AI-generated music)",
        "tracker": result.track.tracker,
        "segmentation": asdict(SegmentParams()),
        "tuning_cents": round(result.tuning_cents, 2),
        "tempo_bpm": result.grid.tempo_bpm,
        "beat0_s": round(result.grid.beat0_s, 6),
        "metre": f"{result.grid.numerator}/{result.grid.denominator}",
        "key": result.key.short(),
        "expressive": opts.expressive,
    }
    made = asdict(opts) | {
        "content": "AI-generated arrangement and production around the singer's tune"
        + (" with the singer's recording mixed in" if opts.keep_voice else ""),
        "key": result.key.short(),
        "tempo_bpm": result.grid.tempo_bpm,
        "beat0_s": round(result.grid.beat0_s, 6),
    }
    for rel in files:
        if rel.endswith(".recipe.json"):
            continue
        target = out / rel
        if rel in ("notes.csv", "melody.mid"):
            write_recipe(target, "hum", heard, inputs=[source], argv=argv, ai_generated=False)
        elif rel == "report.html":
            write_recipe(target, "hum", heard | {"report": True}, inputs=[source], argv=argv, ai_generated=False)
        else:
            write_recipe(
                target, "hum", made, inputs=[source], seed=opts.seed, models=harm.models, argv=argv, ai_generated=True
            )
