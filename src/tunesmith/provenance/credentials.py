"""C2PA content credentials in WAV, MP3 and FLAC files (through c2pa-python), and reading them back.

The manifest says who made the file (``tunesmith`` and its version), what kind of media it is
(IPTC digital source type on the ``c2pa.created`` action), what was done (actions with plain-words
descriptions), the models used (action parameters), the inputs (metadata-only ingredients whose
instance id is ``sha256:<hash>``) and the whole recipe minus its output hash
(``org.tunesmith.recipe`` assertion). Its hard binding is a SHA-256 of the file outside the
manifest, so changing one audio sample breaks it.

WAV, the biggest files tunesmith writes, are signed *in place*: a C2PA chunk is appended, the
file is hashed once by Python's hashlib (which computes the recipe's hashes in the same pass)
and the signed manifest is written into the reserved space; the RIFF size field is patched last,
so an interruption leaves a valid, unlabelled WAV. This uses the C library's data-hash signing
calls, which c2pa-python 0.38 bundles but does not wrap; the generic ``Builder.sign`` path (a
full copy, about six times the CPU time for a large WAV) is the fallback, and the only path for
MP3 and FLAC.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesmith.errors import InputFileError
from tunesmith.provenance.content import FileHashes, content_ranges, hash_ranges, mime_of
from tunesmith.provenance.signing import SigningIdentity

C2PA_SUFFIXES = {".wav", ".mp3", ".flac", ".m4a"}
RECIPE_ASSERTION = "org.tunesmith.recipe"
_RAW_FORMAT = b"application/c2pa"
# Validation codes that say nothing against the file: our local key is not on any trust list,
# and nothing is fetched from the network to check revocation.
BENIGN_CODES = {"signingCredential.untrusted", "signingCredential.ocsp.skipped", "timeStamp.untrusted"}


class _UseGenericPathError(Exception):
    """The in-place WAV route does not apply to this file; sign with ``Builder.sign`` instead."""


def build_manifest(recipe: Mapping[str, Any], path: Path, source_type_url: str, label_text: str) -> dict[str, Any]:
    """The C2PA manifest definition (JSON-able) for the file ``path`` described by ``recipe``."""
    from tunesmith.provenance.describe import PROCESSING

    agent = {"name": "tunesmith", "version": str(recipe.get("tunesmith_version"))}
    created: dict[str, Any] = {
        "action": "c2pa.created",
        "digitalSourceType": source_type_url,
        "softwareAgent": agent,
        "description": label_text,
        "parameters": {
            "command": recipe.get("command"),
            "seed": recipe.get("seed"),
            "models": [dict(m) for m in recipe.get("models") or []],
        },
    }
    actions = [created]
    if not recipe.get("ai_generated") and recipe.get("command") in PROCESSING:
        actions.append(
            {
                "action": "c2pa.edited",
                "softwareAgent": agent,
                "description": f"{PROCESSING[recipe['command']]} by tunesmith",
            }
        )
    ingredients = [
        {
            "title": Path(str(item.get("path"))).name,
            "format": mime_of(str(item.get("path"))),
            "relationship": "componentOf",
            "instance_id": f"sha256:{item.get('sha256')}",
        }
        for item in recipe.get("inputs") or []
    ]
    summary = {k: recipe.get(k) for k in ("tunesmith_version", "command", "argv", "parameters", "seed", "ai_generated")}
    summary |= {"inputs": recipe.get("inputs") or [], "models": recipe.get("models") or [], "label": label_text}
    return {
        "claim_generator_info": [agent],
        "title": path.name,
        "format": mime_of(path),
        "ingredients": ingredients,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": actions}},
            {"label": RECIPE_ASSERTION, "data": summary},
        ],
    }


def embed(path: Path, manifest: Mapping[str, Any], identity: SigningIdentity) -> FileHashes | None:
    """Sign ``manifest`` into ``path`` (replacing the file atomically or patching it in place).

    Returns
    -------
    FileHashes or None
        The labelled file's hashes when the in-place route computed them on the way, else ``None``.

    Raises
    ------
    InputFileError
        If C2PA refuses the signing certificate.
    c2pa.C2paError
        If the file itself cannot carry a manifest (the caller records it as unlabelled).
    """
    signer = _signer(identity)
    if path.suffix.lower() == ".wav":
        with contextlib.suppress(_UseGenericPathError):
            return _sign_wav_in_place(path, manifest, signer)
    _sign_generic(path, manifest, signer)
    return None


def append_riff_chunk(path: Path, chunk_id: bytes, payload: bytes) -> None:
    """Append one chunk to a RIFF/WAVE file and fix the RIFF size (the size is written last)."""
    with open(path, "r+b") as fh:
        fh.seek(0, os.SEEK_END)
        size = end = fh.tell()
        try:
            if end & 1:  # a file whose last chunk lacks its pad byte: add it so the new chunk is aligned
                fh.write(b"\0")
                end += 1
            pad = b"\0" if len(payload) & 1 else b""
            fh.write(chunk_id + struct.pack("<I", len(payload)) + payload + pad)
            fh.flush()
            total = fh.tell()
            fh.seek(4)
            fh.write(struct.pack("<I", total - 8))
        except BaseException:
            fh.truncate(size)  # e.g. a full disk: leave the file exactly as it was
            raise


def _sign_wav_in_place(path: Path, manifest: Mapping[str, Any], signer: Any) -> FileHashes:
    import c2pa

    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE" or size & 1:
        raise _UseGenericPathError
    if struct.unpack("<I", head[4:8])[0] + 8 != size or _has_chunk(path, b"C2PA"):
        raise _UseGenericPathError  # trailing bytes, or already labelled: let the C2PA library handle it
    lib = getattr(getattr(c2pa, "c2pa", None), "_lib", None)
    if lib is None or not hasattr(lib, "c2pa_builder_data_hashed_placeholder"):
        raise _UseGenericPathError
    ranges, what = content_ranges(path)
    builder = c2pa.Builder(dict(manifest))
    try:
        placeholder = _native_bytes(
            lib,
            "c2pa_builder_data_hashed_placeholder",
            [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p],
            builder._handle,
            signer.reserve_size(),
            _RAW_FORMAT,
        )
        pad = b"\0" if len(placeholder) & 1 else b""
        header = b"C2PA" + struct.pack("<I", len(placeholder))
        new_size = size + len(header) + len(placeholder) + len(pad)
        with open(path, "r+b") as fh:
            fh.seek(size)
            fh.write(header + placeholder + pad)
            try:
                # The hard binding covers the file as it will be: the final RIFF size included,
                # the C2PA chunk (header + manifest) excluded, its pad byte included.
                data = hashlib.sha256(b"RIFF" + struct.pack("<I", new_size - 8) + head[8:12])
                content = hashlib.sha256()
                hash_ranges(fh, 12, size, ranges, data, content)
                whole = data.copy()
                data.update(pad)
                data_hash = {
                    "exclusions": [{"start": size, "length": len(header) + len(placeholder)}],
                    "name": "jumbf manifest",
                    "alg": "sha256",
                    "hash": list(data.digest()),
                    "pad": [],
                }
                signed = _native_bytes(
                    lib,
                    "c2pa_builder_sign_data_hashed_embeddable",
                    [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p],
                    builder._handle,
                    signer._handle,
                    json.dumps(data_hash).encode(),
                    _RAW_FORMAT,
                    None,
                )
                if len(signed) != len(placeholder):
                    raise _UseGenericPathError
                fh.seek(size + len(header))
                fh.write(signed)
                fh.flush()  # a full disk shows here, before the header says the chunk exists
                fh.seek(4)
                fh.write(struct.pack("<I", new_size - 8))  # the label exists from this write on
            except BaseException:
                fh.truncate(size)
                raise
        whole.update(header + signed + pad)
        return FileHashes(new_size, whole.hexdigest(), content.hexdigest(), what)
    except (AttributeError, OSError) as exc:
        raise _UseGenericPathError from exc
    finally:
        builder.close()


def _native_bytes(lib: Any, name: str, argtypes: list[Any], *args: Any) -> bytes:
    """Call a C2PA C function that returns a byte buffer through its last argument."""
    func = getattr(lib, name)
    out_type = ctypes.POINTER(ctypes.c_ubyte)
    func.argtypes = [*argtypes, ctypes.POINTER(out_type)]
    func.restype = ctypes.c_int64
    out = out_type()
    handles = [ctypes.cast(a, ctypes.c_void_p) if isinstance(a, ctypes._Pointer) else a for a in args]
    n = func(*handles, ctypes.byref(out))
    if n < 0 or not out:
        raise _UseGenericPathError(name)
    try:
        return ctypes.string_at(out, n)
    finally:
        lib.c2pa_free(out)


def _sign_generic(path: Path, manifest: Mapping[str, Any], signer: Any) -> None:
    import c2pa

    tmp = path.with_name(f".{path.name}.c2pa-{os.getpid()}{path.suffix}")
    try:
        builder = c2pa.Builder(dict(manifest))
        with open(path, "rb") as src, open(tmp, "w+b") as dst:
            builder.sign(signer, mime_of(path), src, dst)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _has_chunk(path: Path, chunk_id: bytes) -> bool:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            header = fh.read(8)
            if header[:4] == chunk_id:
                return True
            (length,) = struct.unpack("<I", header[4:8])
            pos += 8 + length + (length & 1)
    return False


_signers: dict[tuple[int, str], Any] = {}


def _signer(identity: SigningIdentity) -> Any:
    """A c2pa ``Signer`` for ``identity``, made once per process."""
    import c2pa

    key = (os.getpid(), identity.fingerprint)
    signer = _signers.get(key)
    if signer is not None:
        return signer
    info = c2pa.C2paSignerInfo(identity.alg, identity.chain_pem, identity.key_pem, None)  # no timestamp authority
    try:
        signer = c2pa.Signer.from_info(info)
    except c2pa.C2paError as exc:
        raise InputFileError(
            f"C2PA refuses this signing certificate ({exc}); it must be an end-entity certificate issued by a CA "
            "(not self-signed), with the digitalSignature key usage and an extended key usage such as "
            "emailProtection or documentSigning",
            identity.cert_path,
        ) from None
    _signers.clear()
    _signers[key] = signer
    return signer


def read_credentials(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The C2PA manifest of ``path`` and its validation, or ``None`` when it carries none.

    Returns
    -------
    dict or None
        ``state`` (c2pa's validation state), ``failures`` (codes that count against the file),
        ``altered`` (the hard binding no longer matches), ``signature_valid``, ``signer``
        (issuer, common name, serial, algorithm), ``generator``, ``source_type`` (IPTC URL),
        ``actions`` and ``recipe`` (the ``org.tunesmith.recipe`` assertion, if any).
    """
    import c2pa

    p = Path(path)
    try:
        with open(p, "rb") as fh:
            reader = c2pa.Reader(mime_of(p), fh)
            state = reader.get_validation_state()
            results = reader.get_validation_results() or {}
            active = reader.get_active_manifest() or {}
            reader.close()
    except c2pa.C2paError as exc:
        text = str(exc)
        if "ManifestNotFound" in type(exc).__name__ or "ManifestNotFound" in text or "no JUMBF" in text:
            return None
        return {"state": "Unreadable", "error": text, "failures": [text], "altered": None, "signature_valid": False}
    codes = results.get("activeManifest") or {}
    failures = [f for f in codes.get("failure", []) if f.get("code") not in BENIGN_CODES]
    failure_codes = [str(f.get("code")) for f in failures]
    altered = any(".mismatch" in c and ("Hash" in c or "hash" in c) for c in failure_codes)
    signature_valid = not any(c.startswith(("claimSignature", "signingCredential")) for c in failure_codes)
    assertions = {a.get("label"): a.get("data") for a in active.get("assertions") or []}
    actions = (assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get("actions") or []
    created = next((a for a in actions if a.get("action") == "c2pa.created"), {})
    generator = (active.get("claim_generator_info") or [{}])[0]
    return {
        "state": state,
        "failures": [f"{f.get('code')}: {f.get('explanation', '')}".strip() for f in failures],
        "failure_codes": failure_codes,
        "altered": altered,
        "signature_valid": signature_valid,
        "signer": active.get("signature_info") or {},
        "generator": {"name": generator.get("name"), "version": generator.get("version")},
        "title": active.get("title"),
        "source_type": created.get("digitalSourceType"),
        "description": created.get("description"),
        "actions": [{"action": a.get("action"), "description": a.get("description")} for a in actions],
        "ingredients": [
            {"title": i.get("title"), "instance_id": i.get("instance_id"), "relationship": i.get("relationship")}
            for i in active.get("ingredients") or []
        ],
        "recipe": assertions.get(RECIPE_ASSERTION),
    }
