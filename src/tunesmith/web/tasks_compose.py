"""The Compose page's jobs: compose a song (with any regenerations replayed), and produce it.

``compose`` writes ``song.mid`` and the MusicXML lead sheet and returns the piano roll. ``produce``
takes the same song (options plus edits, replayed exactly) through the steps of
``tunesmith produce`` — render each track through FluidSynth, mix with the roles the score
names, master to the target as 24-bit WAV and MP3 — and adds a zip of the stems. It is built
here from those same public steps, rather than by calling ``produce()``, because an edited song is
no longer what its options alone compose.
"""

from __future__ import annotations

import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tunesmith.web.worker import JobContext

ARGV = ["tunesmith", "serve"]


def _options(params: dict[str, Any]) -> Any:
    from tunesmith.compose import ComposeOptions

    o = params["options"]
    return ComposeOptions(
        style=o.get("style", "pop"),
        key=o.get("key") or None,
        tempo=o.get("tempo"),
        bars=o.get("bars"),
        structure=o.get("structure") or None,
        chords=o.get("chords") or None,
        seed=int(o.get("seed", 0)),
        loop=False,
        melody=o.get("melody", "model"),
    )


def _song_params(comp: Any, edits: list[dict[str, Any]]) -> dict[str, Any]:
    return asdict(comp.options) | {
        "key": comp.key.short(),
        "tempo": comp.tempo,
        "style_file": comp.style.path.name,
        "edits": edits,
        "originality": comp.originality,
    }


def _write_song(comp: Any, edits: list[dict[str, Any]], out: Path) -> dict[str, str]:
    """``song.mid`` and ``leadsheet.musicxml`` with their recipes (edits included)."""
    from tunesmith.compose.song import ai_label
    from tunesmith.provenance import write_recipe
    from tunesmith.score.midi import write_midi
    from tunesmith.score.notation import write_musicxml

    params = _song_params(comp, edits)
    write_midi(comp.score, out / "song.mid", label=ai_label(comp))
    write_musicxml(comp.score, out / "leadsheet.musicxml")
    for name in ("song.mid", "leadsheet.musicxml"):
        write_recipe(out / name, "compose", params, seed=comp.seed, models=comp.models, argv=ARGV, ai_generated=True)
    return {"midi": "song.mid", "musicxml": "leadsheet.musicxml"}


def _summary(comp: Any, edits: list[dict[str, Any]]) -> dict[str, Any]:
    from tunesmith.web.pianoroll import score_view

    song = comp.to_dict()
    song["edits"] = edits
    if edits:  # the per-section numerals describe the song as first composed; the roll shows the chords
        song["progressions"] = {}
    return {"song": song, "view": score_view(comp.score)}


def run_compose(ctx: JobContext) -> dict[str, Any]:
    """Compose (options + edits) into ``out/song.mid`` and ``out/leadsheet.musicxml``; return the piano roll."""
    from tunesmith.web.regenerate import rebuild

    edits = list(ctx.params.get("edits") or [])
    ctx.progress("composing", 0.05, force=True)
    comp = rebuild(_options(ctx.params), edits)
    ctx.progress("writing", 0.8, force=True)
    files = _write_song(comp, edits, ctx.out_dir)
    return {**_summary(comp, edits), "options": ctx.params["options"], "files": files}


def run_produce(ctx: JobContext) -> dict[str, Any]:
    """Compose (options + edits), render, mix and master into ``out/``.

    Writes ``song.mid``, ``leadsheet.musicxml``, ``stems/<nn>-<track>.wav``, ``stems.zip``,
    ``mix.wav``, ``master.wav``, ``master.mp3``, each with a recipe.
    """
    from tunesmith.audio.io import encode_mp3
    from tunesmith.master import MasterSettings, master
    from tunesmith.master.targets import parse_target
    from tunesmith.mix import MixOptions, automix
    from tunesmith.pipeline.produce import MIX_GENRE, MP3_HEADROOM_DB, mix_role
    from tunesmith.provenance import write_recipe
    from tunesmith.render import render
    from tunesmith.web.regenerate import rebuild
    from tunesmith.web.waveform import waveform

    p = ctx.params
    edits = list(p.get("edits") or [])
    target_name = p.get("target") or "streaming"
    target = parse_target(target_name)
    rate = int(p.get("sample_rate", 44_100))
    out = ctx.out_dir
    ctx.progress("composing", 0.02, force=True)
    comp = rebuild(_options(p), edits)
    files = _write_song(comp, edits, out)

    ctx.progress("rendering", 0.08, force=True)
    stems_dir = out / "stems"
    rendered = render(comp.score, stems_dir, None, rate)
    tracks = [t for t in comp.score.tracks if t.notes]
    roles = {name: mix_role(t) for name, t in zip(rendered.stems, tracks, strict=True)}
    stem_paths = [stems_dir / s for s in rendered.stems]

    ctx.progress("mixing", 0.4, force=True)
    mix_opts = MixOptions(roles=roles, genre=MIX_GENRE.get(comp.style.name, "pop"), encoding="wav24")
    mix_report, _ = automix(stem_paths, out / "mix.wav", mix_opts, ctx.sub(0.4, 0.75))

    ctx.progress("mastering", 0.75, force=True)
    # As produce does: one master, its ceiling kept under the target's by the MP3's usual overshoot.
    settings = MasterSettings(target=target_name, ceiling_dbtp=target.ceiling_dbtp - MP3_HEADROOM_DB, encoding="wav24")
    master_report, _ = master(out / "mix.wav", out / "master.wav", settings, progress=ctx.sub(0.75, 0.92))
    ctx.progress("encoding", 0.93, force=True)
    if encode_mp3(out / "master.wav", out / "master.mp3") > target.ceiling_dbtp:
        master(out / "mix.wav", out / "master.mp3", MasterSettings(target=target_name, encoding="mp3"))
    params = _song_params(comp, edits) | {"target": target_name, "sample_rate_hz": rate}
    song = out / "song.mid"

    def recipe(path: Path) -> None:
        write_recipe(
            path, "produce", params, inputs=[song], seed=comp.seed, models=comp.models, argv=ARGV, ai_generated=True
        )

    for path in [*stem_paths, out / "mix.wav", out / "master.wav", out / "master.mp3"]:
        recipe(path)  # labels the file too: the zip below is made from the labelled stems
    with zipfile.ZipFile(out / ".stems.zip.part", "w", zipfile.ZIP_STORED) as zf:
        for path in stem_paths:
            zf.write(path, f"stems/{path.name}")
    (out / ".stems.zip.part").replace(out / "stems.zip")

    recipe(out / "stems.zip")
    files |= {
        "stems": [f"stems/{s}" for s in rendered.stems],
        "stems_zip": "stems.zip",
        "mix": "mix.wav",
        "master_wav": "master.wav",
        "master_mp3": "master.mp3",
    }
    return {
        **_summary(comp, edits),
        "options": p["options"],
        "target": {"name": target.name, "integrated_lufs": target.lufs, "ceiling_dbtp": target.ceiling_dbtp},
        "mix": {"lufs": mix_report.output_loudness_lufs, "true_peak_dbtp": mix_report.output_true_peak_dbtp},
        "master": master_report.output_loudness,
        "stem_tracks": [
            {"stem": f"stems/{s}", "track": t.name, "role": roles[s]}
            for s, t in zip(rendered.stems, tracks, strict=True)
        ],
        "waveform": waveform(out / "master.wav"),
        "files": files,
    }
