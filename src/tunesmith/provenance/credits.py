"""``tunesmith credits``: what every shipped model learned from, the SoundFont, and the libraries.

The data sections are read from the model cards shipped beside the weights
(``models/weights/*.card.md``, ``compose/data/*.card.md``), so the credits say exactly what the
cards say. The data sets named there are listed once each with their licence and citation.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import shutil
from pathlib import Path
from typing import Any

import tunesmith

CARD_FOLDERS = ("models/weights", "compose/data")

# The data sets the cards name: how to recognise them in a card, their licence and how to cite them.
DATASETS: dict[str, dict[str, str]] = {
    "POP909": {
        "match": "POP909",
        "licence": "MIT",
        "citation": (
            "Ziyu Wang, Ke Chen, Junyan Jiang, Yiyi Zhang, Maoran Xu, Shuqi Dai, Guxian Bin, Gus Xia. "
            '"POP909: A Pop-song Dataset for Music Arrangement Generation." ISMIR 2020.'
        ),
    },
    "music21 corpus": {
        "match": "music21",
        "licence": "BSD-3-Clause (music21); corpus files under their encoders' terms (music21/corpus/license.txt)",
        "citation": (
            'Michael Scott Cuthbert and Christopher Ariza. "music21: A Toolkit for Computer-Aided Musicology '
            'and Symbolic Music Data." ISMIR 2010.'
        ),
    },
    "Bach chorales (music21 corpus)": {
        "match": "chorale",
        "licence": "public domain (J. S. Bach, c. 1723-1750); encodings from the music21 corpus",
        "citation": "J. S. Bach, four-part chorale harmonisations, as encoded in the music21 corpus.",
    },
    "Essen Folksong Collection": {
        "match": "Essen",
        "licence": "research use (Helmut Schaffrath's collection, distributed with music21)",
        "citation": "Helmut Schaffrath (ed.), The Essen Folksong Collection, ed. David Huron, CCARH 1995.",
    },
    "O'Neill's Music of Ireland": {
        "match": "O'Neill",
        "licence": "public domain (1903); ABC transcriptions distributed with music21",
        "citation": "Francis O'Neill, O'Neill's Music of Ireland, Chicago 1903.",
    },
    "Ryan's Mammoth Collection": {
        "match": "Ryan",
        "licence": "public domain (1883); ABC transcriptions distributed with music21",
        "citation": "William Bradbury Ryan, Ryan's Mammoth Collection, Boston 1883.",
    },
}

SOUNDFONTS: dict[str, dict[str, str]] = {
    "FluidR3_GM.sf2": {
        "package": "fluid-soundfont-gm (Debian)",
        "licence": "MIT",
        "credit": "Fluid R3 General MIDI SoundFont, Frank Wen (2000-2002, 2008), Toby Smithe (2008)",
    },
    "TimGM6mb.sf2": {
        "package": "timgm6mb-soundfont (Debian)",
        "licence": "GPL-2",
        "credit": "TimGM6mb, Tim Brechbill",
    },
    "MuseScore_General.sf2": {
        "package": "musescore-general-soundfont (Debian)",
        "licence": "MIT",
        "credit": "MuseScore General, S. Christian Collins",
    },
}
TOOLS = {
    "fluidsynth": ("FluidSynth (renders the stems)", "LGPL-2.1-or-later"),
    "ffmpeg": ("FFmpeg (MP3 encoding and decoding)", "LGPL-2.1-or-later / GPL-2.0-or-later (Debian build)"),
}
# Runtime libraries beyond the installed package's own requirements list (added for provenance).
EXTRA_LIBRARIES = ("c2pa-python", "cryptography", "platformdirs")


def _section(text: str, name: str) -> str:
    """A card's section: ``## Name`` up to the next heading, or a ``**Name.**`` paragraph up to the next one."""
    m = re.search(rf"^##\s+{name}\b.*?$(.*?)(?=^##\s|\Z)", text, flags=re.M | re.S)
    if m:
        return m.group(1).strip()
    m = re.search(rf"^\*\*{name}\b[^*]*\*\*(.*?)(?=^\*\*[A-Z][^*]*\*\*|^##\s|\Z)", text, flags=re.M | re.S)
    return m.group(1).strip() if m else ""


def model_cards() -> list[dict[str, Any]]:
    """Every shipped card: file, title, what the model learned from, its licence text, data sets named."""
    root = Path(tunesmith.__file__).resolve().parent
    cards = []
    for folder in CARD_FOLDERS:
        for card in sorted((root / folder).glob("*.card.md")):
            text = card.read_text(encoding="utf-8")
            title = text.splitlines()[0].lstrip("# ").strip() if text else card.stem
            data = _section(text, "Data")
            licence = _section(text, "Licence") or _section(text, "License")
            named = [name for name, d in DATASETS.items() if d["match"] in data or d["match"] in licence]
            cards.append(
                {
                    "card": f"{folder}/{card.name}",
                    "artifact": card.name.removesuffix(".card.md"),
                    "title": title,
                    "data": " ".join(data.split()),
                    "licence": " ".join(licence.split()) or None,
                    "datasets": named,
                }
            )
    return cards


def soundfonts() -> list[dict[str, Any]]:
    """The General MIDI SoundFont ``render`` would use now, with its licence."""
    try:
        from tunesmith.render import find_soundfont

        found: Path | None = find_soundfont(None)
    except Exception:  # no SoundFont installed is a finding, not an error
        found = None
    if found is None:
        return [{"path": None, "note": "no General MIDI SoundFont installed (apt install fluid-soundfont-gm)"}]
    real = found.resolve()
    known = SOUNDFONTS.get(real.name) or SOUNDFONTS.get(found.name) or {}
    return [
        {
            "path": str(found),
            "file": real.name,
            "package": known.get("package"),
            "licence": known.get("licence", "unknown: see the SoundFont's own documentation"),
            "credit": known.get("credit"),
        }
    ]


def _licence(meta: md.PackageMetadata) -> str:
    expression = meta.get("License-Expression")
    if expression:
        return str(expression)
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 80:
        return text
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return ", ".join(classifiers) or "see the package"


def libraries() -> list[dict[str, str]]:
    """Name, version and licence of each runtime library (from the installed packages' metadata)."""
    names: list[str] = []
    try:
        for req in md.requires("tunesmith") or []:
            if "extra ==" not in req:
                names.append(re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0])
    except md.PackageNotFoundError:
        pass
    names += [n for n in EXTRA_LIBRARIES if n not in names]
    out = []
    for name in names:
        try:
            meta = md.metadata(name)
        except md.PackageNotFoundError:
            continue
        out.append(
            {"name": str(meta.get("Name") or name), "version": str(meta.get("Version")), "licence": _licence(meta)}
        )
    return sorted(out, key=lambda d: d["name"].lower())


def tools() -> list[dict[str, str | None]]:
    """External programs tunesmith runs, when installed."""
    return [
        {"program": exe, "what": what, "licence": licence, "path": shutil.which(exe)}
        for exe, (what, licence) in TOOLS.items()
    ]


def credits() -> dict[str, Any]:
    """Everything ``tunesmith credits --json`` prints."""
    cards = model_cards()
    used = {name for card in cards for name in card["datasets"]}
    return {
        "tunesmith_version": tunesmith.__version__,
        "models": cards,
        "datasets": [
            {"name": name, **{k: v for k, v in d.items() if k != "match"}}
            for name, d in DATASETS.items()
            if name in used
        ],
        "soundfonts": soundfonts(),
        "libraries": libraries(),
        "tools": tools(),
    }
