"""``tunesmith verify FILE``: was this file made (or processed) by tunesmith, how, from what, and is it intact?

Three witnesses are read and cross-checked:

1. the C2PA manifest inside WAV/MP3/FLAC (its signature, and its hard binding: a SHA-256 of
   the file outside the manifest — one changed sample breaks it);
2. the plain-words label inside the file (MIDI, MusicXML, Vorbis comments, RIFF INFO, …);
3. the signed ``.recipe.json`` beside the file (its signature, and the file's whole and
   content SHA-256 it recorded).

The verdict (``status``) is ``verified`` only when the file claims tunesmith, every signature
present is valid, and every hash that can be compared matches; otherwise ``altered``,
``invalid-signature``, ``label-removed`` (the content is intact but its label was taken out),
``unverifiable`` (a label but nothing to check it against) or ``not-tunesmith``. The CLI exits
0 for ``verified`` and 1 for everything else.
"""

from __future__ import annotations

import base64
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.errors import InputFileError
from tunesmith.provenance.content import file_hashes
from tunesmith.provenance.credentials import C2PA_SUFFIXES, read_credentials
from tunesmith.provenance.describe import IPTC
from tunesmith.provenance.recipe import RECIPE_SUFFIX, canonical_bytes, read_recipe, recipe_path


@dataclass
class VerifyReport:
    """The findings of :func:`verify_file` (``to_dict`` is what ``--json`` prints)."""

    file: str
    status: str
    made_by_tunesmith: bool
    altered: bool | None
    source_type: str | None
    label: dict[str, Any]
    signatures: list[dict[str, Any]]
    recipe: dict[str, Any] | None
    inputs: list[dict[str, Any]]
    models: list[dict[str, Any]]
    checks: list[dict[str, Any]] = field(default_factory=list)
    summary: str = ""

    @property
    def exit_code(self) -> int:
        """0 when verified, 1 otherwise."""
        return 0 if self.status == "verified" else 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


def verify_file(path: str | os.PathLike[str]) -> VerifyReport:
    """Check ``path`` (or, given a ``.recipe.json``, the file it describes).

    Raises
    ------
    InputFileError
        If the file does not exist or is a folder.
    """
    p = Path(path)
    if p.name.endswith(RECIPE_SUFFIX):
        recipe_doc = read_recipe(p)
        p = p.with_name(str((recipe_doc.get("output") or {}).get("path") or p.name[: -len(RECIPE_SUFFIX)]))
    if not p.exists():
        raise InputFileError("no such file", p)
    if not p.is_file():
        raise InputFileError("not a file", p)
    checks: list[dict[str, Any]] = []
    signatures: list[dict[str, Any]] = []

    def check(name: str, ok: bool | None, detail: str) -> None:
        checks.append({"check": name, "ok": ok, "detail": detail})

    hashes = file_hashes(p)
    # 1. C2PA content credentials
    creds = read_credentials(p) if p.suffix.lower() in C2PA_SUFFIXES else None
    c2pa_ours = bool(creds and (creds.get("generator") or {}).get("name") == "tunesmith")
    if creds is not None:
        if "error" in creds:
            check("c2pa", False, f"content credentials present but unreadable: {creds['error']}")
        else:
            who = _c2pa_signer(creds.get("signer") or {})
            signatures.append({"where": "c2pa", "valid": creds["signature_valid"], **who})
            check("c2pa-signature", creds["signature_valid"], f"C2PA signature by {who['signer']}")
            check(
                "c2pa-hash",
                not creds["altered"],
                "the C2PA hash of the file matches"
                if not creds["altered"]
                else "the file no longer matches its C2PA hash: " + "; ".join(creds["failures"]),
            )
    elif p.suffix.lower() in C2PA_SUFFIXES:
        check("c2pa", None, "no C2PA content credentials in the file")
    # 2. plain-words label
    tags = _read_tags(p)
    if tags:
        check("label", True, f"plain-words label in the file ({tags.get('where')})")
    # 3. the recipe beside it
    recipe = None
    sidecar = recipe_path(p)
    if sidecar.is_file():
        try:
            recipe = read_recipe(sidecar)
        except InputFileError as exc:
            check("recipe", False, str(exc))
    if recipe is not None:
        sig = recipe.get("signature")
        if sig:
            valid = _recipe_signature_ok(recipe)
            who = _recipe_signer(sig)
            signatures.append({"where": "recipe", "valid": valid, **who})
            check("recipe-signature", valid, f"recipe signature by {who['signer']}")
        else:
            check("recipe-signature", None, "the recipe is not signed (made with labelling switched off)")
        out = recipe.get("output") or {}
        if out.get("sha256") == hashes.sha256:
            check("recipe-hash", True, "the file's SHA-256 matches its recipe")
        elif out.get("content_sha256") and out.get("content_sha256") == hashes.content_sha256:
            check("recipe-hash", True, f"the content matches its recipe ({hashes.content}); only the label differs")
        else:
            check("recipe-hash", False, "the file's hashes differ from those its recipe recorded")
    # Verdict
    made = bool(c2pa_ours or tags or recipe is not None)
    content_ok = None
    if recipe is not None:
        out = recipe.get("output") or {}
        recorded = out.get("content_sha256") or out.get("sha256")
        actual = hashes.content_sha256 if out.get("content_sha256") else hashes.sha256
        content_ok = recorded == actual
    altered: bool | None = None
    if creds is not None and "error" not in creds:
        altered = bool(creds["altered"])
    if content_ok is not None:
        altered = bool(altered) or not content_ok
    bad_signature = any(s["valid"] is False for s in signatures)
    expected_label = bool(recipe and (recipe.get("label") or {}).get("kind") in ("c2pa", "tags"))
    label_missing = expected_label and not (c2pa_ours or tags) and not altered
    if not made:
        status = "not-tunesmith"
    elif altered:
        status = "altered"
    elif bad_signature:
        status = "invalid-signature"
    elif label_missing:
        status = "label-removed"
    elif altered is False and any(s["valid"] for s in signatures):
        status = "verified"
    else:
        status = "unverifiable"
    source = _source_type(creds, tags, recipe)
    assertion = (creds or {}).get("recipe") or {}
    about = recipe or assertion
    label_text = (tags or {}).get("label") or (creds or {}).get("description")
    if not label_text and recipe is not None:
        label_text = (recipe.get("label") or {}).get("text")
    label_text = label_text or assertion.get("label")
    report = VerifyReport(
        file=str(p),
        status=status,
        made_by_tunesmith=made,
        altered=altered,
        source_type=source,
        label={
            "kind": "c2pa" if c2pa_ours else ("tags" if tags else None),
            "text": label_text,
            "in_file": tags or None,
        },
        signatures=signatures,
        recipe=None
        if recipe is None
        else {
            "path": str(sidecar),
            "command": recipe.get("command"),
            "tunesmith_version": recipe.get("tunesmith_version"),
            "created_utc": recipe.get("created_utc"),
            "argv": recipe.get("argv"),
            "parameters": recipe.get("parameters"),
            "seed": recipe.get("seed"),
        },
        inputs=list(about.get("inputs") or []),
        models=list(about.get("models") or []),
        checks=checks,
    )
    if creds and not c2pa_ours and (creds.get("generator") or {}).get("name"):
        gen = creds["generator"]
        about = {**about, "_other_generator": f"{gen['name']} {gen.get('version') or ''}".strip()}
    report.summary = _summary(report, about, hashes.content)
    return report


def _read_tags(p: Path) -> dict[str, str] | None:
    """The plain-words label inside ``p``, with ``where`` naming the container."""
    from tunesmith.provenance import tags as t
    from tunesmith.provenance import vorbis

    suffix = p.suffix.lower()
    try:
        if suffix in (".mid", ".midi"):
            found, where = t.read_midi_label(p), "MIDI meta events"
            if found and "label" not in found:
                found = None  # a copyright notice alone is not tunesmith's label
        elif suffix in (".musicxml", ".xml", ".mxl"):
            found, where = t.read_musicxml_label(p), "MusicXML identification"
        elif suffix == ".wav":
            found, where = t.read_riff_info(p), "RIFF INFO chunk"
        elif suffix in (".aif", ".aiff"):
            found, where = t.read_aiff_label(p), "AIFF ANNO chunk"
        elif suffix in (".flac", ".ogg"):
            raw = vorbis.read_flac_tags(p) if suffix == ".flac" else vorbis.read_ogg_tags(p)
            found = (
                {"label": raw["COMMENT"], "source_type": raw.get("DIGITAL_SOURCE_TYPE", "")}
                if ("tunesmith" in raw.get("ENCODED_BY", ""))
                else None
            )
            where = "Vorbis comments"
        elif suffix == ".png":
            found, where = t.read_png_label(p), "PNG text chunks"
        elif suffix in (".html", ".htm"):
            found, where = t.read_html_label(p), "HTML meta tags"
        else:
            return None
    except (OSError, ValueError, KeyError, IndexError, UnicodeDecodeError):
        return None
    return {**found, "where": where} if found else None


def _recipe_signature_ok(recipe: dict[str, Any]) -> bool:
    from tunesmith.provenance.signing import verify_bytes

    sig = recipe.get("signature") or {}
    try:
        value = base64.b64decode(str(sig.get("value", "")), validate=True)
    except ValueError:
        return False
    return verify_bytes(str(sig.get("certificate_chain", "")), str(sig.get("alg", "")), canonical_bytes(recipe), value)


def _who(kind: str | None, subject: str, issuer: str) -> dict[str, str]:
    if kind == "local":
        return {"signer": "this computer's local tunesmith key", "trust": "untrusted, local"}
    if kind == "user":
        return {"signer": f"your certificate ({subject})", "trust": "your certificate"}
    if "tunesmith local" in subject:
        return {"signer": "another computer's local tunesmith key", "trust": "untrusted"}
    return {"signer": f"{subject or 'an unnamed signer'} (issued by {issuer or 'unknown'})", "trust": "unknown"}


def _recipe_signer(sig: dict[str, Any]) -> dict[str, str]:
    from tunesmith.provenance.signing import cert_fingerprint, describe_chain, known_signer

    chain = str(sig.get("certificate_chain", ""))
    known = known_signer(cert_fingerprint(chain))
    try:
        info = describe_chain(chain)
    except ValueError:
        info = {"subject": "", "issuer": ""}
    return _who(known[0] if known else None, info["subject"], info["issuer"])


def _c2pa_signer(info: dict[str, Any]) -> dict[str, str]:
    from tunesmith.provenance.config import load_config
    from tunesmith.provenance.signing import describe_chain, local_paths

    serial = str(info.get("cert_serial_number", ""))
    kind = None
    candidates = [("local", local_paths()[1]), ("user", Path(str(load_config().get("signing.cert") or "")))]
    for name, chain in candidates:
        if serial and chain.is_file():
            try:
                if describe_chain(chain.read_bytes())["serial"] == serial:
                    kind = name
                    break
            except ValueError:
                continue
    return _who(kind, str(info.get("common_name") or ""), str(info.get("issuer") or ""))


def _source_type(
    creds: dict[str, Any] | None, tags: dict[str, str] | None, recipe: dict[str, Any] | None
) -> str | None:
    url = (creds or {}).get("source_type") or (tags or {}).get("digital-source-type") or (tags or {}).get("source_type")
    if url:
        return str(url).removeprefix(IPTC)
    if recipe and recipe.get("label"):
        return str(recipe["label"].get("source_type"))
    return None


_STATUS_SENTENCE = {
    "verified": "It has not been altered since: {how}.",
    "altered": "It HAS BEEN ALTERED since it was made: {how}.",
    "invalid-signature": "Its signature does NOT verify, so its label cannot be trusted.",
    "label-removed": "Its content is unchanged, but the label tunesmith put inside the file has been removed.",
    "unverifiable": "Nothing is left to check its bytes against (no signed recipe and no content credentials).",
}


def _summary(report: VerifyReport, about: dict[str, Any], content_what: str) -> str:
    name = Path(report.file).name
    if not report.made_by_tunesmith:
        other = about.get("_other_generator")
        return (
            f"{name} carries no tunesmith label, no tunesmith content credentials and no recipe: "
            "nothing says tunesmith made or processed it."
            + (f" It does carry C2PA content credentials from {other}." if other else "")
        )
    sentences = []
    where = (["C2PA content credentials"] if report.label["kind"] == "c2pa" else []) + (
        [report.label["in_file"]["where"]] if report.label.get("in_file") else []
    )
    version = about.get("tunesmith_version") or "?"
    command = about.get("command") or "?"
    kind = {
        "trainedAlgorithmicMedia": "AI-generated music",
        "compositeWithTrainedAlgorithmicMedia": "human-made material combined with or processed by tunesmith",
        "digitalCreation": "a human-written score rendered by tunesmith",
    }.get(report.source_type or "", "a tunesmith file")
    sentences.append(
        f"{name} was {'made' if report.source_type == 'trainedAlgorithmicMedia' else 'made or processed'} by "
        f"tunesmith {version} (tunesmith {command}) and is labelled as {kind}"
        f"{f' (IPTC {report.source_type})' if report.source_type else ''}"
        f"{' in ' + ' and in the '.join(where) if where else ''}."
    )
    inputs = [f"{Path(str(i.get('path'))).name} (sha256 {str(i.get('sha256'))[:12]}…)" for i in report.inputs]
    models = [str(m.get("id")) for m in report.models if m.get("id")]
    made_from = []
    if inputs:
        made_from.append("from " + ", ".join(inputs))
    if models:
        made_from.append("with the models " + ", ".join(models))
    if about.get("seed") is not None:
        made_from.append(f"seed {about['seed']}")
    if made_from:
        sentences.append("It was made " + ", ".join(made_from) + ".")
    for s in report.signatures:
        state = "valid" if s["valid"] else "INVALID"
        where_sig = "C2PA" if s["where"] == "c2pa" else "recipe"
        sentences.append(f"The {where_sig} signature is {state}: signed with {s['signer']} ({s['trust']}).")
    failed = [c["detail"] for c in report.checks if c["ok"] is False]
    passed = [c["detail"] for c in report.checks if c["ok"] is True and c["check"].endswith("hash")]
    how = "; ".join(failed if report.status == "altered" else passed) or f"compared on {content_what}"
    sentences.append(_STATUS_SENTENCE[report.status].format(how=how))
    return " ".join(sentences)
