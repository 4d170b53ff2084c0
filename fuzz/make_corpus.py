"""Write the seed corpus of every fuzz target into ``fuzz/corpus/<target>/`` (deterministic).

Seeds are small valid files (and a few near-misses) so that mutations start
from inputs that get deep into each parser. Files already present are left
alone, so crash reproducers added to a corpus by hand survive a re-run.

Usage::

    .venv/bin/python fuzz/make_corpus.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
ROOT = HERE.parent


def _put(target: str, name: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        path.write_bytes(data)


def _audio_seeds(tmp: Path) -> None:
    import soundfile as sf

    t = np.arange(400) / 8000.0
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    stereo = np.stack([tone, -tone], axis=1)
    cases = {
        "audio_wav": [
            ("pcm16_stereo.wav", stereo, "WAV", "PCM_16"),
            ("pcm24_mono.wav", tone[:, None], "WAV", "PCM_24"),
            ("float_stereo.wav", stereo, "WAV", "FLOAT"),
            ("u8_mono.wav", tone[:, None], "WAV", "PCM_U8"),
            ("extensible_3ch.wav", np.stack([tone, tone, tone], axis=1), "WAVEX", "PCM_16"),
            ("rf64.wav", stereo[:100], "RF64", "PCM_16"),
        ],
        "audio_flac": [
            ("pcm16_stereo.flac", stereo, "FLAC", "PCM_16"),
            ("pcm24_mono.flac", tone[:, None], "FLAC", "PCM_24"),
        ],
        "audio_ogg": [("vorbis_stereo.ogg", stereo, "OGG", "VORBIS")],
        "audio_mp3": [("layer3_mono.mp3", tone[:, None], "MP3", "MPEG_LAYER_III")],
    }
    for target, files in cases.items():
        for name, data, fmt, subtype in files:
            path = tmp / name
            sf.write(str(path), data, 8000 if fmt != "MP3" else 16000, subtype=subtype, format=fmt)
            _put(target, name, path.read_bytes())
    # A WAV whose data chunk is cut short (read up to where the bytes end, with a warning).
    _put("audio_wav", "truncated.wav", (CORPUS / "audio_wav" / "pcm16_stereo.wav").read_bytes()[:300])


def _score_seeds(tmp: Path) -> None:
    from tunesmith.score.midi import write_midi
    from tunesmith.score.notation import write_musicxml
    from tunesmith.score.theory import Key, parse_chord
    from tunesmith.score.types import (
        ChordSymbol,
        KeyChange,
        Note,
        Score,
        Section,
        TempoChange,
        TimeSignature,
        Track,
    )

    melody = Track("melody", tuple(Note(i * 0.5, 0.5, 60 + (i * 5) % 12, 90) for i in range(8)), 0, role="melody")
    bass = Track("bass", (Note(0, 2, 36), Note(2, 2, 43)), 33, role="bass")
    drums = Track("drums", (Note(0, 0.25, 36), Note(1, 0.25, 38)), 0, is_drum=True, role="drums")
    score = Score(
        tracks=(melody, bass, drums),
        tempos=(TempoChange(0, 96), TempoChange(2, 120)),
        time_signatures=(TimeSignature(0, 4, 4),),
        keys=(KeyChange(0, Key.parse("G")),),
        chords=(ChordSymbol(0, 2, parse_chord("G")), ChordSymbol(2, 2, parse_chord("D7/F#"))),
        sections=(Section("verse", 0, 1),),
        title="seed",
    )
    write_midi(score, tmp / "song.mid", label="AI-generated (seed)")
    _put("midi", "song.mid", (tmp / "song.mid").read_bytes())
    _put("midi", "empty_type0.mid", b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\xff\x2f\x00")
    write_musicxml(Score(tracks=(melody,), chords=score.chords, keys=score.keys), tmp / "lead.musicxml")
    _put("musicxml", "leadsheet.musicxml", (tmp / "lead.musicxml").read_bytes())
    _put(
        "musicxml",
        "chord_and_tie.musicxml",
        b"""<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="4.0"><part-list><score-part id="P1"><part-name>Piano</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>2</divisions><key><fifths>-1</fifths><mode>minor</mode></key>
<time><beats>3</beats><beat-type>4</beat-type></time></attributes>
<harmony><root><root-step>D</root-step></root><kind>minor-seventh</kind></harmony>
<note><pitch><step>D</step><octave>4</octave></pitch><duration>4</duration><tie type="start"/></note>
<note><chord/><pitch><step>F</step><octave>4</octave></pitch><duration>4</duration></note>
<note><pitch><step>D</step><octave>4</octave></pitch><duration>2</duration><tie type="stop"/></note>
</measure></part></score-partwise>
""",
    )
    _put(
        "abc",
        "reel.abc",
        b"X:1\nT:Seed Reel\nM:4/4\nL:1/8\nQ:1/4=120\nK:D\n"
        b'|:"D"d2fd "G"B2dB|"A"A2ce "D"d4:|\n"Em"E2GB e2dc|"A7"(3ABA GF "D"D4|]\n',
    )
    _put("abc", "book.abc", b"X:1\nT:One\nK:C\nCDEF|GABc|\n\nX:2\nT:Two\nM:6/8\nK:Am\nA2B c2d|e3 e3|\n")


def _history_seeds() -> None:
    _put(
        "history_csv",
        "lastfm_headed.csv",
        b"uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"
        b"1612096440,31 Jan 2021 12:34,Nina Simone,,Pastel Blues,,Sinnerman,\n"
        b'1612096800,31 Jan 2021 12:40,"Simon, Paul",,Graceland,,"Graceland",\n',
    )
    _put(
        "history_csv",
        "lastfm_headerless.csv",
        b"Nina Simone,Pastel Blues,Sinnerman,31 Jan 2021 12:34\nRadiohead,OK Computer,Airbag,01 Feb 2021 09:00\n",
    )
    _put("history_csv", "generic.tsv", b"userID\tartistID\tweight\n2\t51\t13883\n2\t52\t11690\n3\t51\t0\n")
    _put("history_csv", "generic_unnamed.csv", b"listener,band,count\nann,Low,3\nbob,Low,x\n")
    extended = [
        {
            "ts": "2021-01-31T12:34:56Z",
            "username": "ann",
            "ms_played": 215000,
            "master_metadata_track_name": "Sinnerman",
            "master_metadata_album_artist_name": "Nina Simone",
            "spotify_track_uri": "spotify:track:0",
        },
        {"ts": "2021-01-31T12:40:00Z", "ms_played": 5000, "master_metadata_track_name": None, "episode_name": "Ep 1"},
    ]
    _put("history_json", "extended.json", json.dumps(extended, indent=1).encode())
    old = [{"endTime": "2021-01-31 12:34", "artistName": "Low", "trackName": "Lullaby", "msPlayed": 40000}]
    _put("history_json", "account_data.json", json.dumps(old).encode())


def _settings_seeds(tmp: Path) -> None:
    from tunesmith.mix.settings import BusSettings, Compressor, EqBand, MixSettings, StemSettings

    settings = MixSettings(
        sample_rate=48000,
        frames=96000,
        genre="pop",
        stems=[
            StemSettings(
                "vox.wav",
                "lead_vocal",
                0.9,
                "name",
                hpf_hz=90.0,
                eq=[EqBand(3000.0, -2.0, 2.0)],
                compressor=Compressor(-20.0, 3.0, 5.0, 80.0),
                gain_db=-3.0,
                automation=[(0.0, 0.0), (1.5, -2.0)],
                pan=0.0,
                reverb_send_db=-12.0,
            ),
            StemSettings("bass.wav", "bass", gain_db=-6.0, pan=-0.1, width=0.5),
        ],
        bus=BusSettings(compressor=Compressor(-10.0, 2.0, 30.0, 200.0), eq_db={"1000": 0.5}),
        lead="vox.wav",
    )
    settings.save(tmp / "mix.json")
    _put("mix_settings", "mix.json", (tmp / "mix.json").read_bytes())


def _recipe_seeds(tmp: Path) -> None:
    from tunesmith.provenance.recipe import write_recipe

    out = tmp / "out.wav"
    out.write_bytes(b"RIFF")
    path = write_recipe(out, "master", {"target": "streaming", "width": 1.0}, inputs=[out], seed=7, argv=["x"])
    _put("recipe", "master.recipe.json", path.read_bytes())


def _style_seeds() -> None:
    styles = ROOT / "src" / "tunesmith" / "compose" / "styles"
    for name in ("pop", "jazz", "chorale"):
        _put("style", f"{name}.toml", (styles / f"{name}.toml").read_bytes())


def main() -> None:
    """Write every seed that is not there yet."""
    tmp = Path(tempfile.mkdtemp(prefix="tunesmith-corpus-"))
    try:
        _audio_seeds(tmp)
        _score_seeds(tmp)
        _history_seeds()
        _settings_seeds(tmp)
        _recipe_seeds(tmp)
        _style_seeds()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for folder in sorted(CORPUS.iterdir()):
        files = list(folder.iterdir())
        print(
            f"{folder.name:14s} {len(files):3d} seeds, {sum(f.stat().st_size for f in files):7d} bytes", file=sys.stderr
        )


if __name__ == "__main__":
    main()
