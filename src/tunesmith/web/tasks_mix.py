"""The Mix page's job: ``tunesmith mix`` on uploaded stems (or a zip of them), or ``mix --apply``.

A first mix decides everything (roles from names and sound, user overrides win); the page then
shows the console and sends edits back as a new job that re-renders those exact settings, as
``tunesmith mix --apply`` does. Mute and solo are part of such an edit, rendered here on the
server: muted stems (and, with a solo, every stem not soloed) are left out of that render
entirely, while the settings saved beside it keep every stem with its real fader.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tunesmith.web.worker import JobContext

MAX_UNZIPPED_BYTES = 4 * 1024**3


def _by_name(settings: Any) -> Any:
    """The settings with every stem named by its file name only (what the page shows and sends back)."""
    stems = [replace(s, file=Path(s.file).name) for s in settings.stems]
    lead = Path(settings.lead).name if settings.lead else None
    return replace(settings, stems=stems, lead=lead)


def _left_out(stem: Any, muted: bool) -> dict[str, Any]:
    """The report entry of a stem left out of a render (muted, or not soloed): its settings, no levels."""
    from dataclasses import asdict

    from tunesmith.mix.roles import ROLES

    return {
        "file": Path(stem.file).name,
        "role": stem.role,
        "role_name": ROLES.get(stem.role, stem.role),
        "role_confidence": stem.role_confidence,
        "role_source": stem.role_source,
        "input_lufs": None,
        "mix_lufs": None,  # not in this mix at all
        "gain_db": stem.gain_db,
        "pan": stem.pan,
        "eq": [asdict(b) for b in stem.eq],
        "muted": muted,
        "soloed": False,
        "silenced": True,
    }


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
        Stem file names left out of this render (with ``apply``).
    solo : list of str
        Stem file names to render alone (with ``apply``; empty: every stem not muted).
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
    solo = set(p.get("solo") or [])
    silenced = muted | ({f.name for f in files} - solo if solo else set())
    saved = None
    if p.get("apply"):
        saved = load_settings(ctx.in_dir / "settings.json")
        files = [f for f in files if f.name not in silenced]
        lead = saved.lead if saved.lead and Path(saved.lead).name not in silenced else None
        applied = replace(saved, stems=[s for s in saved.stems if Path(s.file).name not in silenced], lead=lead)
    options = MixOptions(
        roles=dict(p.get("roles") or {}),
        genre=p.get("genre", "pop"),
        reverb=bool(p.get("reverb", True)),
        encoding="wav24",
        apply=applied,
    )
    out = ctx.out_dir
    report, settings = automix(files, out / "mix.wav", options, ctx.sub(0.03, 0.9))
    if saved is not None:  # every stem, with its real fader, and the lead, in what the page edits next
        settings = replace(settings, stems=[replace(s, file=Path(s.file).name) for s in saved.stems], lead=saved.lead)
    settings = _by_name(settings)
    settings.save(out / "settings.json")
    parameters = {
        "genre": options.genre,
        "reverb": options.reverb,
        "roles": options.roles,
        "apply": bool(applied),
        "muted": sorted(muted),
        "solo": sorted(solo),
    }
    write_recipe(out / "mix.wav", "mix", parameters, inputs=files, argv=["tunesmith", "serve"])
    write_recipe(out / "settings.json", "mix-settings", parameters, inputs=files, argv=["tunesmith", "serve"])
    ctx.progress("drawing", 0.95, force=True)
    doc = report.to_dict()
    doc["output"] = "mix.wav"
    doc["lead"] = Path(doc["lead"]).name if doc["lead"] else None
    for stem in doc["stems"]:
        stem["file"] = Path(stem["file"]).name
        stem.update(muted=False, soloed=stem["file"] in solo, silenced=False)
    if saved is not None:  # the stems left out, in the settings' order, so the page shows every stem
        rendered = {s["file"] for s in doc["stems"]}
        doc["stems"] += [
            _left_out(s, muted=Path(s.file).name in muted) for s in saved.stems if Path(s.file).name not in rendered
        ]
    return {
        "report": doc,
        "settings": settings.to_dict(),
        "roles": ROLES,
        "stems": [f.name for f in files],
        "waveform": waveform(out / "mix.wav"),
        "files": {"wav": "mix.wav", "settings": "settings.json"},
    }
