"""The Mix page's job: ``tunesmith mix`` on uploaded stems (or a zip of them), or ``mix --apply``.

A first mix decides everything (roles from names and sound, user overrides win); the page then
shows the console and sends edits back as a new job that re-renders those exact settings, as
``tunesmith mix --apply`` does. Mute and solo are part of such an edit: a muted stem plays at
−120 dB in that render, while the settings saved beside it keep its real fader.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tunesmith.web.worker import JobContext

MUTED_DB = -120.0  # the lowest fader the settings format accepts: silence for any real stem
MAX_UNZIPPED_BYTES = 4 * 1024**3


def _by_name(settings: Any) -> Any:
    """The settings with every stem named by its file name only (what the page shows and sends back)."""
    stems = [replace(s, file=Path(s.file).name) for s in settings.stems]
    lead = Path(settings.lead).name if settings.lead else None
    return replace(settings, stems=stems, lead=lead)


def run_mix(ctx: JobContext) -> dict[str, Any]:
    """Mix ``in/stems/*`` (plus the audio inside ``in/zips/*.zip``) into ``out/mix.wav``.

    Parameters (``ctx.params``)
    ---------------------------
    genre : str
        Tonal target of the bus.
    reverb : bool
        Shared reverb for the roles that want it.
    roles : dict
        Stem file name → role id (overrides the detected role).
    apply : bool
        Re-render ``in/settings.json`` exactly instead of deciding.
    muted : list of str
        Stem file names to silence in this render (with ``apply``).
    """
    from tunesmith.mix import MixOptions, automix, load_settings
    from tunesmith.mix.automix import AUDIO_SUFFIXES, find_stems
    from tunesmith.mix.roles import ROLES
    from tunesmith.provenance import write_recipe
    from tunesmith.web.uploads import extract_zip
    from tunesmith.web.waveform import waveform

    p = ctx.params
    stems_dir = ctx.in_dir / "stems"
    stems_dir.mkdir(exist_ok=True)
    zips = sorted((ctx.in_dir / "zips").glob("*")) if (ctx.in_dir / "zips").is_dir() else []
    for archive in zips:
        ctx.progress("unpacking", 0.01, force=True)
        extract_zip(archive, stems_dir, AUDIO_SUFFIXES, MAX_UNZIPPED_BYTES)
    files = find_stems([stems_dir])
    applied = None
    muted = set(p.get("muted") or [])
    saved = None
    if p.get("apply"):
        saved = load_settings(ctx.in_dir / "settings.json")
        applied = replace(
            saved,
            stems=[replace(s, gain_db=MUTED_DB) if Path(s.file).name in muted else s for s in saved.stems],
        )
    options = MixOptions(
        roles=dict(p.get("roles") or {}),
        genre=p.get("genre", "pop"),
        reverb=bool(p.get("reverb", True)),
        encoding="wav24",
        apply=applied,
    )
    out = ctx.out_dir
    report, settings = automix(files, out / "mix.wav", options, ctx.sub(0.03, 0.9))
    if saved is not None:  # keep the real faders of muted stems in what the page edits next
        settings = replace(settings, stems=[replace(s, file=Path(s.file).name) for s in saved.stems])
    settings = _by_name(settings)
    settings.save(out / "settings.json")
    parameters = {
        "genre": options.genre,
        "reverb": options.reverb,
        "roles": options.roles,
        "apply": bool(applied),
        "muted": sorted(muted),
    }
    write_recipe(out / "mix.wav", "mix", parameters, inputs=files, argv=["tunesmith", "serve"])
    write_recipe(out / "settings.json", "mix-settings", parameters, inputs=files, argv=["tunesmith", "serve"])
    ctx.progress("drawing", 0.95, force=True)
    doc = report.to_dict()
    doc["output"] = "mix.wav"
    doc["lead"] = Path(doc["lead"]).name if doc["lead"] else None
    for stem in doc["stems"]:
        stem["file"] = Path(stem["file"]).name
        stem["muted"] = stem["file"] in muted
    return {
        "report": doc,
        "settings": settings.to_dict(),
        "roles": ROLES,
        "stems": [f.name for f in files],
        "waveform": waveform(out / "mix.wav"),
        "files": {"wav": "mix.wav", "settings": "settings.json"},
    }
