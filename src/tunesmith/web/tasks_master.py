"""The Master page's job: ``tunesmith master`` on an upload, plus what the A/B player needs.

One master is made (24-bit WAV at the target); the FLAC is the same samples losslessly packed,
the MP3 is encoded from it and, should the encoder push a true peak over the ceiling, mastered
straight to MP3 instead (the chain then measures the decoded file). Waveforms of original and
master, the HTML report and the downloads are made side by side in threads (libsndfile, ffmpeg
and numpy release the GIL), so a three-minute song costs little more than the master itself.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from tunesmith.web.worker import JobContext

#: Suffixes a browser's <audio> element plays as they are; anything else is played from a FLAC copy.
BROWSER_PLAYABLE = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".webm"}
FORMATS = ("wav", "flac", "mp3")
#: What a master job makes when the page does not say: MP3 costs an encode and a decode (about as
#: much CPU as the master itself), so it is made when asked for.
DEFAULT_FORMATS = ("wav", "flac")


def loudness_match_db(input_lufs: float | None, output_lufs: float | None) -> dict[str, float]:
    """Playback gains (dB) that put original and master at the same loudness: the quieter one's.

    Only ever turning down keeps both clear of clipping in the browser.
    """
    if input_lufs is None or output_lufs is None:
        return {"original_db": 0.0, "master_db": 0.0, "matched_lufs": math.nan}
    matched = min(input_lufs, output_lufs)
    return {
        "original_db": round(matched - input_lufs, 2),
        "master_db": round(matched - output_lufs, 2),
        "matched_lufs": round(matched, 2),
    }


def _flac_copy(src: Path, dst: Path) -> None:
    from tunesmith.audio.io import AudioReader, AudioWriter

    with AudioReader(src) as reader, AudioWriter(dst, reader.info.sample_rate, reader.info.channels, "flac") as w:
        for block in reader.blocks():
            w.write(block)


def _playable_original(src: Path, out: Path) -> str:
    """The original as the <audio> element will play it: a hard link, or a FLAC copy."""
    if src.suffix.lower() in BROWSER_PLAYABLE:
        name = f"original{src.suffix.lower()}"
        try:
            os.link(src, out / name)
        except OSError:
            import shutil

            shutil.copyfile(src, out / name)
        return name
    _flac_copy(src, out / "original.flac")
    return "original.flac"


def run_master(ctx: JobContext) -> dict[str, Any]:
    """Master ``in/<input>`` into ``out/master.{wav,flac,mp3}`` with a report and the player's data.

    Parameters (``ctx.params``)
    ---------------------------
    input : str
        The mix, a file name in ``in/``.
    references : list of str
        Reference tracks in ``in/``.
    target, ceiling_dbtp, style, intensity, width, sample_rate, seed
        As ``tunesmith master``.
    formats : list of str
        Any of ``wav``, ``flac``, ``mp3`` (the WAV is always made: it is what the others come from);
        with ``mp3`` the ceiling is lowered by the MP3's headroom, as ``tunesmith produce`` does.
    report : bool
        Also write ``master-report.html``.
    """
    from tunesmith.audio.io import encode_mp3
    from tunesmith.master import MasterSettings, master
    from tunesmith.master.report import write_report_html
    from tunesmith.master.targets import parse_target
    from tunesmith.pipeline.produce import MP3_HEADROOM_DB
    from tunesmith.provenance import write_recipe
    from tunesmith.web.waveform import waveform

    p = ctx.params
    src = ctx.in_dir / p["input"]
    refs = [ctx.in_dir / r for r in p.get("references", [])]
    out = ctx.out_dir
    formats = set(p.get("formats") or DEFAULT_FORMATS)
    seed = int(p.get("seed", 0))
    ceiling = p.get("ceiling_dbtp")
    notes = []
    if "mp3" in formats:
        # As `tunesmith produce` does: one master serves WAV, FLAC and MP3, its ceiling kept under the
        # target's by the MP3 encoder's usual overshoot, so the MP3 made from it needs no second pass.
        asked = parse_target(p.get("target"), ceiling, -14.0 if refs else None).ceiling_dbtp
        ceiling = asked - MP3_HEADROOM_DB
        notes.append(
            f"true-peak ceiling {ceiling:g} dBTP ({MP3_HEADROOM_DB:g} dB under {asked:g}) so that the MP3 "
            "made from this master stays under the ceiling too; leave MP3 out for the full ceiling"
        )
    settings = MasterSettings(
        target=p.get("target"),
        ceiling_dbtp=ceiling,
        references=[str(r) for r in refs],
        style=p.get("style", "auto"),
        intensity=float(p.get("intensity", 0.5)),
        width=float(p.get("width", 1.0)),
        encoding="wav24",
        sample_rate=p.get("sample_rate"),
        seed=seed,
    )
    wav = out / "master.wav"
    report, _ = master(src, wav, settings, progress=ctx.sub(0.02, 0.8), output_spectrum=True)
    parameters = {
        "target": report.target,
        "style": settings.style,
        "intensity": settings.intensity,
        "width": settings.width,
        "sample_rate_hz": report.sample_rate_hz,
        "references": [r.name for r in refs],
        "format": "wav24",
    }
    inputs = [src, *refs]
    write_recipe(wav, "master", parameters, inputs=inputs, seed=seed, argv=["tunesmith", "serve"])
    ctx.progress("encoding and drawing", 0.82, force=True)

    files = {"wav": "master.wav"}
    ceiling = report.target["ceiling_dbtp"] + (MP3_HEADROOM_DB if "mp3" in formats else 0.0)

    def flac() -> None:
        _flac_copy(wav, out / "master.flac")
        write_recipe(out / "master.flac", "master", parameters | {"format": "flac"}, inputs=inputs, seed=seed)

    def mp3() -> None:
        peak = encode_mp3(wav, out / "master.mp3")
        if peak > ceiling:  # rare: the encoder overshot; the chain masters to MP3 and measures the decoded file
            master(src, out / "master.mp3", replace(settings, ceiling_dbtp=ceiling, encoding="mp3"))
        write_recipe(out / "master.mp3", "master", parameters | {"format": "mp3"}, inputs=inputs, seed=seed)

    def html() -> None:
        write_report_html(report, out / "master-report.html")
        write_recipe(out / "master-report.html", "master-report", parameters, inputs=[src, wav], seed=seed)

    with ThreadPoolExecutor(2) as pool:
        jobs = {
            "original_wave": pool.submit(waveform, src),
            "master_wave": pool.submit(waveform, wav),
            "original": pool.submit(_playable_original, src, out),
        }
        if "flac" in formats:
            jobs["flac"] = pool.submit(flac)
        if "mp3" in formats:
            jobs["mp3"] = pool.submit(mp3)
        if p.get("report", True):
            jobs["report"] = pool.submit(html)
        done = {k: f.result() for k, f in jobs.items()}
    for kind, name in (("flac", "master.flac"), ("mp3", "master.mp3"), ("report", "master-report.html")):
        if kind in done:
            files[kind] = name
    lufs_in = report.input_loudness.get("integrated_lufs")
    lufs_out = report.output_loudness.get("integrated_lufs")
    report.notes.extend(notes)
    return {
        "report": report.to_dict() | {"input": src.name, "output": "master.wav"},
        "target": report.target,
        "spectra": report.spectra,
        "series": report.series,
        "waveforms": {"original": done["original_wave"], "master": done["master_wave"]},
        "playback": {"original": done["original"], "master": "master.wav"},
        "match": loudness_match_db(lufs_in, lufs_out),
        "files": files,
    }
