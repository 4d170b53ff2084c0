"""Labels, signatures and content hashes on each format tunesmith writes (no CLI runs; fast)."""

from __future__ import annotations

import json
import shutil
import stat
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tunesmith.provenance import read_recipe, write_recipe
from tunesmith.provenance.content import content_ranges, file_hashes
from tunesmith.provenance.credentials import read_credentials
from tunesmith.provenance.verify import verify_file


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private config folder: the local signing key is made there, never in the user's home."""
    folder = tmp_path / "config"
    monkeypatch.setenv("TUNESMITH_CONFIG_DIR", str(folder))
    monkeypatch.delenv("TUNESMITH_NO_LABEL", raising=False)
    return folder


def noise(seconds: float = 1.0, rate: int = 44_100, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.2 * rng.standard_normal((int(seconds * rate), 2))).astype(np.float32)


def write_audio(path: Path, subtype: str | None = None, seconds: float = 1.0) -> np.ndarray:
    x = noise(seconds)
    sf.write(str(path), x, 44_100, subtype=subtype)
    return sf.read(str(path), dtype="float32", always_2d=True)[0]


def flip_first_data_byte(path: Path, at: int = 3000) -> None:
    """Change one bit of one sample inside the WAV data chunk."""
    data = bytearray(path.read_bytes())
    pos = 12
    while pos + 8 <= len(data):
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if data[pos : pos + 4] == b"data":
            data[pos + 8 + at] ^= 0x01
            path.write_bytes(bytes(data))
            return
        pos += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


# ---------------------------------------------------------------- signing


def test_local_key_is_private_from_creation(config_dir: Path) -> None:
    from tunesmith.provenance.signing import local_paths, signing_identity

    first = signing_identity()
    key, chain = local_paths()
    assert first.kind == "local" and first.trust == "untrusted, local" and first.alg == "es256"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600  # never readable by group or others
    assert stat.S_IMODE(key.parent.stat().st_mode) & 0o077 == 0
    assert signing_identity().fingerprint == first.fingerprint  # made once, reused
    from cryptography import x509

    certs = x509.load_pem_x509_certificates(chain.read_bytes())
    signer, root = certs
    assert signer.issuer == root.subject and signer.subject != root.subject  # not self-signed: C2PA needs that
    assert not signer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    from cryptography.hazmat.primitives import serialization

    from tunesmith.provenance.signing import _load_key

    fast = _load_key(key.read_bytes(), key)  # the P-256 shortcut (no `serialization` import)
    assert fast.private_numbers() == serialization.load_pem_private_key(key.read_bytes(), None).private_numbers()


def test_user_certificate_signs_and_bad_pairs_are_refused(tmp_path: Path, config_dir: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tunesmith.cli_provenance import _check_signing_pair
    from tunesmith.errors import TunesmithError
    from tunesmith.provenance.config import set_setting
    from tunesmith.provenance.signing import _local_chain, signing_identity

    key = ec.generate_private_key(ec.SECP256R1())
    key_file, cert_file = tmp_path / "me.key", tmp_path / "me.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_file.write_bytes(_local_chain(key))
    set_setting("signing.cert", str(cert_file))
    set_setting("signing.key", str(key_file))
    _check_signing_pair()
    assert signing_identity().kind == "user"
    wav = tmp_path / "m.wav"
    write_audio(wav, "PCM_16")
    write_recipe(wav, "master", {"target": "streaming"}, inputs=[], seed=0)
    report = verify_file(wav)
    assert report.status == "verified"
    assert all(s["trust"] == "your certificate" for s in report.signatures)
    other = tmp_path / "other.key"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    set_setting("signing.key", str(other))
    with pytest.raises(TunesmithError, match="does not belong"):
        _check_signing_pair()


# ---------------------------------------------------------------- WAV / MP3 / FLAC: C2PA


def test_wav_gets_valid_c2pa_in_place_and_one_flipped_sample_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tunesmith.provenance.credentials as cred

    src, out = tmp_path / "mix.wav", tmp_path / "master.wav"
    write_audio(src, "PCM_24")
    before = write_audio(out, "PCM_24")
    content_before = file_hashes(out).content_sha256
    monkeypatch.setattr(cred, "_sign_generic", lambda *a: pytest.fail("the in-place WAV route was not taken"))
    write_recipe(out, "master", {"target": "streaming"}, inputs=[src], seed=0)
    recipe = read_recipe(out)
    creds = read_credentials(out)
    assert creds is not None and creds["state"] in ("Valid", "Trusted") and not creds["failures"]
    assert creds["source_type"].endswith("compositeWithTrainedAlgorithmicMedia")  # a human mix, mastered
    assert creds["recipe"]["inputs"][0]["sha256"] == recipe["inputs"][0]["sha256"]
    assert creds["ingredients"][0]["instance_id"] == f"sha256:{recipe['inputs'][0]['sha256']}"
    hashes = file_hashes(out)
    assert recipe["output"]["sha256"] == hashes.sha256  # the recipe hashes the labelled file
    assert recipe["output"]["content_sha256"] == hashes.content_sha256 == content_before  # the label is not content
    np.testing.assert_array_equal(sf.read(str(out), dtype="float32", always_2d=True)[0], before)
    assert verify_file(out).status == "verified"
    flip_first_data_byte(out)
    report = verify_file(out)
    assert report.status == "altered" and report.altered is True and report.exit_code == 1
    assert any("dataHash.mismatch" in c["detail"] for c in report.checks)
    assert "ALTERED" in report.summary


def test_wav_generic_route_and_mp3_flac_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tunesmith.provenance.credentials as cred

    def no_in_place(*args: object) -> None:
        raise cred._UseGenericPathError

    monkeypatch.setattr(cred, "_sign_wav_in_place", no_in_place)
    for name, subtype in (("a.wav", "FLOAT"), ("a.mp3", None), ("a.flac", "PCM_16")):
        path = tmp_path / name
        before = write_audio(path, subtype)
        write_recipe(path, "compose", {"style": "pop"}, seed=3, ai_generated=True)
        report = verify_file(path)
        assert report.status == "verified", report.summary
        assert report.source_type == "trainedAlgorithmicMedia"
        assert report.label["kind"] == "c2pa"
        after = sf.read(str(path), dtype="float32", always_2d=True)[0]
        assert after.shape == before.shape
        if name != "a.mp3":
            np.testing.assert_array_equal(after, before)
    from tunesmith.provenance.vorbis import read_flac_tags

    tags = read_flac_tags(tmp_path / "a.flac")
    assert tags["ENCODED_BY"].startswith("tunesmith") and "AI-generated" in tags["COMMENT"]


def test_content_hash_ignores_label_and_peak_but_not_audio(tmp_path: Path) -> None:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    write_audio(a, "FLOAT")
    shutil.copy(a, b)
    data = bytearray(b.read_bytes())
    at = data.find(b"PEAK")
    assert at > 0  # libsndfile stamps float WAVs with a PEAK chunk holding the write time
    data[at + 12] ^= 0xFF  # its time stamp
    b.write_bytes(bytes(data))
    assert file_hashes(a).content_sha256 == file_hashes(b).content_sha256
    assert file_hashes(a).sha256 != file_hashes(b).sha256
    flip_first_data_byte(b)
    assert file_hashes(a).content_sha256 != file_hashes(b).content_sha256
    ranges, what = content_ranges(a)
    assert "PEAK" in what and ranges[0][0] == 12


def test_label_removed_is_reported(tmp_path: Path) -> None:
    out = tmp_path / "song.wav"
    write_audio(out, "PCM_16")
    write_recipe(out, "produce", {"style": "pop"}, seed=1, ai_generated=True)
    data = out.read_bytes()
    keep = bytearray(data[:12])
    pos = 12
    while pos + 8 <= len(data):  # rebuild the WAV without its C2PA and INFO chunks
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if data[pos : pos + 4] not in (b"C2PA", b"LIST"):
            keep += data[pos : pos + 8 + size + (size & 1)]
        pos += 8 + size + (size & 1)
    keep[4:8] = struct.pack("<I", len(keep) - 8)
    out.write_bytes(bytes(keep))
    report = verify_file(out)
    assert report.status == "label-removed" and report.altered is False


def test_edited_recipe_fails_its_signature(tmp_path: Path) -> None:
    out = tmp_path / "song.mid"
    from tunesmith.score.midi import write_midi
    from tunesmith.score.types import Note, Score, Track

    write_midi(Score(tracks=(Track("melody", (Note(0, 1, 60, 90),), 0, False, "melody"),)), out)
    path = write_recipe(out, "compose", {"style": "pop"}, seed=1, ai_generated=True)
    assert verify_file(out).status == "verified"
    doc = json.loads(path.read_text())
    doc["ai_generated"] = False  # someone tries to pass generated music off as human
    path.write_text(json.dumps(doc))
    report = verify_file(out)
    assert report.status == "invalid-signature" and report.exit_code == 1


def test_reproduce_needs_a_tunesmith_command_line(tmp_path: Path) -> None:
    from tunesmith.errors import InputFileError, UsageError
    from tunesmith.provenance.reproduce import reproduce

    out = tmp_path / "song.mid"
    out.write_bytes(b"MThd")
    write_recipe(out, "compose", {"style": "pop"}, seed=1, argv=["python", "my_script.py"], ai_generated=True)
    with pytest.raises(InputFileError, match="not a `tunesmith compose` run"):
        reproduce(out, tmp_path / "again")
    write_recipe(out, "accompany-live", {}, argv=["tunesmith", "accompany", "-i", "virtual"], ai_generated=True)
    with pytest.raises(UsageError, match="live accompaniment session cannot be re-run"):
        reproduce(out, tmp_path / "again")


def test_a_file_tunesmith_did_not_make(tmp_path: Path) -> None:
    out = tmp_path / "field-recording.wav"
    write_audio(out, "PCM_16")
    report = verify_file(out)
    assert report.status == "not-tunesmith" and not report.made_by_tunesmith and report.exit_code == 1
    assert "nothing says tunesmith made" in report.summary


def test_labelling_switch_gives_the_old_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "x.wav"
    write_audio(out, "PCM_16")
    raw = out.read_bytes()
    monkeypatch.setenv("TUNESMITH_NO_LABEL", "1")
    write_recipe(out, "master", {}, seed=0)
    doc = read_recipe(out)
    assert out.read_bytes() == raw and "signature" not in doc and "label" not in doc
    assert read_credentials(out) is None


# ---------------------------------------------------------------- plain-words formats


def test_midi_label_keeps_the_music_and_is_idempotent(tmp_path: Path) -> None:
    from tunesmith.provenance.tags import read_midi_label
    from tunesmith.score import read_score
    from tunesmith.score.midi import write_midi
    from tunesmith.score.theory import parse_chord
    from tunesmith.score.types import ChordSymbol, Note, Score, Track

    notes = tuple(Note(i, 1, 60 + i, 90) for i in range(8))
    chords = (ChordSymbol(0, 4, parse_chord("C")), ChordSymbol(4, 4, parse_chord("Am")))
    score = Score(tracks=(Track("melody", notes, 0, False, "melody"),), chords=chords)
    out = tmp_path / "tune.mid"
    write_midi(score, out)  # no copyright notice of its own
    before = read_score(out)
    write_recipe(out, "harmonize", {"style": "pop"}, ai_generated=True)
    write_recipe(out, "harmonize", {"style": "pop"}, ai_generated=True)  # labelled twice: replaced, not stacked
    after = read_score(out)
    assert after.tracks[0].notes == before.tracks[0].notes and after.chords == before.chords
    found = read_midi_label(out)
    assert found is not None and found["label"].startswith("AI-generated music") and "copyright" in found
    assert out.read_bytes().count(b"tunesmith provenance: ") == 1
    assert verify_file(out).status == "verified"


def test_musicxml_and_mxl_labels(tmp_path: Path) -> None:
    from tunesmith.provenance.tags import read_musicxml_label
    from tunesmith.score import read_score
    from tunesmith.score.notation import write_musicxml
    from tunesmith.score.types import Note, Score, Track

    score = Score(tracks=(Track("melody", tuple(Note(i, 1, 62 + i, 90) for i in range(8)), 0, False, "melody"),))
    for name in ("lead.musicxml", "lead.mxl"):
        out = tmp_path / name
        write_musicxml(score, out)
        write_recipe(out, "compose", {"style": "pop"}, seed=2, ai_generated=True)
        found = read_musicxml_label(out)
        assert found is not None and found["digital-source-type"].endswith("trainedAlgorithmicMedia")
        assert [n.pitch for n in read_score(out).tracks[0].notes] == list(range(62, 70))
        assert verify_file(out).status == "verified"
    with zipfile.ZipFile(tmp_path / "lead.mxl") as z:
        assert all(i.date_time == (2020, 1, 1, 0, 0, 0) for i in z.infolist())  # still deterministic


def _reference_ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def _page_crcs_ok(path: Path) -> int:
    from tunesmith.provenance.vorbis import _read_page, ogg_crc

    pages = 0
    with open(path, "rb") as fh:
        while (page := _read_page(fh)) is not None:
            header, lacing, body = page
            raw = header[:22] + b"\0\0\0\0" + header[26:] + lacing + body
            assert struct.unpack("<I", header[22:26])[0] == ogg_crc(raw)
            pages += 1
    return pages


def test_ogg_vorbis_comment_rewrite(tmp_path: Path) -> None:
    from tunesmith.provenance.vorbis import label_ogg, ogg_crc, read_ogg_tags

    sample = bytes(range(256)) * 3
    assert ogg_crc(sample) == _reference_ogg_crc(sample)
    out = tmp_path / "a.ogg"
    write_audio(out, seconds=2.0)
    before = sf.read(str(out), dtype="float32")[0]
    _page_crcs_ok(out)  # libvorbis's own checksums agree with ours
    write_recipe(out, "master", {}, seed=0)
    assert read_ogg_tags(out)["ENCODED_BY"].startswith("tunesmith")
    np.testing.assert_array_equal(sf.read(str(out), dtype="float32")[0], before)
    assert verify_file(out).status == "verified"
    # A comment too big for the header pages: every later page is renumbered and re-checksummed.
    pages_before = _page_crcs_ok(out)
    label_ogg(out, [("COMMENT", "x" * 70_000)])
    assert _page_crcs_ok(out) == pages_before + 1
    assert read_ogg_tags(out)["COMMENT"] == "x" * 70_000
    np.testing.assert_array_equal(sf.read(str(out), dtype="float32")[0], before)


def test_aiff_png_html_labels(tmp_path: Path) -> None:
    aiff = tmp_path / "a.aiff"
    before = write_audio(aiff, "PCM_16")
    write_recipe(aiff, "master", {}, seed=0)
    np.testing.assert_array_equal(sf.read(str(aiff), dtype="float32", always_2d=True)[0], before)
    assert verify_file(aiff).status == "verified"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = tmp_path / "plot.png"
    plt.figure(figsize=(1, 1))
    plt.savefig(png)
    plt.close("all")
    write_recipe(png, "analyze", {"plot": True})
    assert plt.imread(png).shape[0] > 0 and verify_file(png).status == "verified"
    page = tmp_path / "report.html"
    page.write_text("<!doctype html><html><head><title>r</title></head><body>ok</body></html>")
    write_recipe(page, "master-report", {})
    assert '<meta name="generator" content="tunesmith' in page.read_text()
    assert verify_file(page).status == "verified"


def test_credits_name_data_licences_soundfont_and_libraries() -> None:
    from tunesmith.provenance.credits import credits

    doc = credits()
    arts = {m["artifact"]: m for m in doc["models"]}
    assert {"chord", "melody", "chorale", "originality", "progressions"} <= set(arts)
    assert "POP909" in arts["chord"]["datasets"] and "Essen Folksong Collection" in arts["melody"]["datasets"]
    pop = next(d for d in doc["datasets"] if d["name"] == "POP909")
    assert pop["licence"] == "MIT" and "ISMIR 2020" in pop["citation"]
    libs = {lib["name"].lower(): lib for lib in doc["libraries"]}
    assert "numpy" in libs and "c2pa-python" in libs and libs["c2pa-python"]["licence"]
    sf2 = doc["soundfonts"][0]
    if sf2.get("file") == "FluidR3_GM.sf2":
        assert sf2["licence"] == "MIT"
