"""Label one output file: C2PA content credentials where C2PA reaches, plain words everywhere else.

:func:`label_file` is called by :func:`tunesmith.provenance.recipe.write_recipe` for every file
tunesmith writes, after the file is complete and before its hash goes into the recipe.

| format | label |
|---|---|
| WAV | ``LIST``/``INFO`` comment + C2PA manifest (signed) |
| MP3 | C2PA manifest (signed, in the ID3 tag) |
| FLAC | Vorbis comments + C2PA manifest (signed) |
| Ogg Vorbis | Vorbis comments |
| AIFF | ``ANNO`` chunk |
| MIDI | text + copyright meta events |
| MusicXML / MXL | ``<identification>`` miscellaneous fields |
| PNG, HTML | ``tEXt`` chunks, ``<meta>`` tags |
| anything else | none in the file; the signed recipe beside it |

Files with a plain-words label only are still covered by a signature: the recipe beside them is
signed with the same key and records their SHA-256.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError
from tunesmith.provenance.content import FileHashes
from tunesmith.provenance.describe import IPTC, plain_label, source_type

TAG_SUFFIXES = {".ogg", ".aif", ".aiff", ".mid", ".midi", ".musicxml", ".xml", ".mxl", ".png", ".html", ".htm"}


@dataclass
class Label:
    """What was put into a file.

    Attributes
    ----------
    kind : str
        ``c2pa`` (signed manifest, plus plain words where the format has a place), ``tags``
        (plain words only; the signed recipe covers the bytes) or ``none``.
    where : list of str
        The containers written, e.g. ``["riff-info", "c2pa"]``.
    source_type : str
        IPTC digital source type (short name).
    text : str
        The plain-words label.
    note : str or None
        Why a file got no label.
    """

    kind: str
    where: list[str]
    source_type: str
    text: str
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (goes into the recipe)."""
        return asdict(self)


def labelling_enabled() -> bool:
    """False when ``TUNESMITH_NO_LABEL`` is set (only the overhead benchmark sets it)."""
    return os.environ.get("TUNESMITH_NO_LABEL", "").strip().lower() not in ("1", "true", "yes", "on")


def label_file(path: str | os.PathLike[str], recipe: Mapping[str, Any]) -> tuple[Label, FileHashes | None]:
    """Label ``path`` in place according to ``recipe`` (its output fields may still be empty).

    Returns
    -------
    (Label, FileHashes or None)
        What was written, and the labelled file's hashes when they were computed on the way.

    Raises
    ------
    TunesmithError
        Only for problems with the signing setup (an unusable configured certificate); a file
        that cannot hold a label is left as it is and reported as ``kind="none"``.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    kind = source_type(recipe)
    text = plain_label(recipe, p.name)
    version = str(recipe.get("tunesmith_version"))
    url = IPTC + kind
    where: list[str] = []
    try:
        if suffix in (".mid", ".midi"):
            from tunesmith.provenance.tags import label_midi

            label_midi(p, text)
            where.append("midi-meta")
        elif suffix in (".musicxml", ".xml", ".mxl"):
            from tunesmith.provenance.tags import label_musicxml

            label_musicxml(p, text, url, p.name + ".recipe.json", version)
            where.append("musicxml-identification")
        elif suffix in (".aif", ".aiff"):
            from tunesmith.provenance.tags import label_aiff

            label_aiff(p, text)
            where.append("aiff-anno")
        elif suffix == ".ogg":
            from tunesmith.provenance.vorbis import label_fields, label_ogg

            label_ogg(p, label_fields(text, version, url, p.name + ".recipe.json"))
            where.append("vorbis-comment")
        elif suffix == ".png":
            from tunesmith.provenance.tags import label_png

            label_png(p, text, version)
            where.append("png-text")
        elif suffix in (".html", ".htm"):
            from tunesmith.provenance.tags import label_html

            label_html(p, text, version)
            where.append("html-meta")
        elif suffix in (".wav", ".mp3", ".flac", ".m4a"):
            return _label_c2pa(p, recipe, kind, text, version, url)
        else:
            return Label("none", [], kind, text, f"no label format for {suffix or 'files without a suffix'}"), None
    except (ValueError, OSError, UnicodeDecodeError, KeyError, IndexError) as exc:
        # Recorded in the recipe (label.note); verify reports the file as unlabelled.
        return Label("none", [], kind, text, f"could not label: {exc}"), None
    return Label("tags", where, kind, text), None


def _label_c2pa(
    p: Path, recipe: Mapping[str, Any], kind: str, text: str, version: str, url: str
) -> tuple[Label, FileHashes | None]:
    import c2pa

    from tunesmith.provenance.credentials import append_riff_chunk, build_manifest, embed
    from tunesmith.provenance.signing import signing_identity
    from tunesmith.provenance.tags import read_riff_info, riff_info_payload

    where: list[str] = []
    suffix = p.suffix.lower()
    with open(p, "rb") as fh:
        head = fh.read(12)
    if suffix == ".wav":
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return Label("none", [], kind, text, "not a RIFF/WAVE file"), None
        if read_riff_info(p) is None:
            append_riff_chunk(p, b"LIST", riff_info_payload(text, version))
        where.append("riff-info")
    elif suffix == ".flac":
        from tunesmith.provenance.vorbis import label_fields, label_flac

        try:
            label_flac(p, label_fields(text, version, url, p.name + ".recipe.json"))
            where.append("vorbis-comment")
        except ValueError as exc:
            return Label("none", [], kind, text, f"not a FLAC file ({exc})"), None
    identity = signing_identity()
    manifest = build_manifest(recipe, p, url, text)
    try:
        hashes = embed(p, manifest, identity)
    except c2pa.C2paError as exc:
        if isinstance(exc, TunesmithError):  # pragma: no cover - c2pa errors are never ours
            raise
        return Label("tags" if where else "none", where, kind, text, f"C2PA could not label it: {exc}"), None
    where.append("c2pa")
    return Label("c2pa", where, kind, text), hashes
