"""Composition: styles, harmony, melody, arrangement, loops, determinism and bad input."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tunesmith.audio.loops import read_loop_points, tile, wrap_tail, write_loop_points
from tunesmith.compose import ComposeOptions, compose, get_style, list_styles, write_song
from tunesmith.compose.arrange import swing_time, unswing_time, voice_chord
from tunesmith.compose.melody import chord_at
from tunesmith.compose.style import StyleError, load_style
from tunesmith.errors import UsageError
from tunesmith.score import metrics
from tunesmith.score.midi import read_midi
from tunesmith.score.theory import Key, instrument_range, parse_chord, parse_roman, strong_beats

STYLES = list_styles()
REQUIRED = {"pop", "rock", "jazz", "blues", "funk", "lofi", "house", "bossa", "folk", "ambient", "chorale"}


def test_the_required_styles_ship_and_load() -> None:
    assert set(STYLES) >= REQUIRED
    for name in STYLES:
        s = get_style(name)
        assert s.tempo_min <= s.tempo_default <= s.tempo_max
        assert s.parts and s.sections
        roles = {p.role for p in s.parts}
        assert "melody" in roles
        if name != "chorale" and name != "ambient":
            assert "drums" in roles and s.fills, name  # grooves with fills at section ends
        if s.chromatic:
            assert s.chromatic_reason, name


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_style_composes_in_key_range_and_on_the_chords(name: str) -> None:
    comp = compose(ComposeOptions(style=name, bars=24, seed=7))
    score, style = comp.score, comp.style
    assert sum(s.bars for s in score.sections) == 24
    melody = score.track("melody")
    assert len(melody.notes) > 10
    # Strong-beat melody notes are chord tones.
    assert metrics.strong_beat_chord_tone_rate(score, melody) >= 0.9
    for track in score.tracks:
        lo, hi = instrument_range(track.program, track.is_drum)
        assert all(lo <= n.pitch <= hi for n in track.notes), track.name
        if not track.is_drum and track.notes and not style.chromatic:
            assert metrics.scale_consistency(track) >= 0.8, (name, track.name)
    if not style.chromatic:
        assert metrics.scale_consistency(melody) >= 0.9
    # Every part listed as playing in a section sounds in each of its bars.
    for section in score.sections:
        bars = range(section.start_bar, section.start_bar + section.bars)
        for track in score.tracks:
            if track.name in style.section(section.name).parts:
                assert metrics.empty_bars(track, score, bars) == [], (name, track.name, section.name)


def test_same_seed_same_files_and_different_seeds_differ(tmp_path: Path) -> None:
    a = write_song(compose(ComposeOptions(style="pop", seed=11, bars=16)), tmp_path / "a")
    b = write_song(compose(ComposeOptions(style="pop", seed=11, bars=16)), tmp_path / "b")
    assert a["midi"].read_bytes() == b["midi"].read_bytes()
    assert a["leadsheet"].read_bytes() == b["leadsheet"].read_bytes()
    melodies = [
        {(n.start, n.pitch) for n in compose(ComposeOptions(style="pop", seed=s, bars=16)).score.track("melody").notes}
        for s in (1, 2, 3)
    ]
    for x, y in itertools.combinations(melodies, 2):
        assert len(x & y) / len(x | y) < 0.5  # clearly different tunes


def test_user_chords_are_played_and_imply_the_key() -> None:
    comp = compose(ComposeOptions(style="pop", chords="Am F C G", bars=8, seed=1))
    symbols = [c.chord.symbol() for c in comp.score.chords[:8]]
    assert symbols == ["Am", "F", "C", "G", "Am", "F", "C", "G"]
    assert comp.key in (Key(0), Key(9, "minor"))
    bass = comp.score.track("bass")
    for c in comp.score.chords[:8]:  # the bass sounds the root where each chord starts
        onset = [n for n in bass.notes if abs(n.start - c.start) < 1e-6]
        assert onset and onset[0].pitch % 12 == c.chord.root


def test_structure_and_sections_and_cadences() -> None:
    comp = compose(ComposeOptions(style="pop", structure="intro:4 verse:8 chorus:8 outro:4", key="D", seed=3))
    assert [(s.name, s.start_bar, s.bars) for s in comp.score.sections] == [
        ("intro", 0, 4),
        ("verse", 4, 8),
        ("chorus", 12, 8),
        ("outro", 20, 4),
    ]
    key = comp.key
    tonic, dominant = parse_roman("I", key).root, parse_roman("V", key).root
    bar = comp.style.bar_beats
    end_of = {s.name: (s.start_bar + s.bars) * bar for s in comp.score.sections}
    last_verse = chord_at(list(_slots(comp)), end_of["verse"] - 0.01)
    assert last_verse.root == dominant  # a half cadence before the chorus
    assert chord_at(list(_slots(comp)), end_of["chorus"] - 0.01).root == tonic  # the chorus closes
    assert comp.score.chords[-1].chord.root == tonic  # the song ends at home


def _slots(comp):
    from tunesmith.compose.harmony import Slot

    return [Slot(c.start, c.duration, c.chord) for c in comp.score.chords]


def test_chorus_contrasts_with_verse() -> None:
    for seed in range(5):
        comp = compose(ComposeOptions(style="pop", seed=seed))
        assert comp.numerals["verse"][0] != comp.numerals["chorus"][0]


def test_comping_moves_smoothly() -> None:
    c, g, am, f = (parse_chord(x) for x in ("C", "G", "Am", "F"))
    prev = voice_chord(c, None, 52, 76, "close")
    for chord in (g, am, f, c):
        v = voice_chord(chord, prev, 52, 76, "close")
        moves = sum(min(abs(a - b) for b in prev) for a in v)
        assert moves <= 6  # common tones kept, the rest move by step
        prev = v


def test_chorale_voices_do_not_cross_and_avoid_parallels() -> None:
    comp = compose(ComposeOptions(style="chorale", bars=16, seed=2))
    parts = {t.name: t for t in comp.score.tracks}
    voices = [t for t in comp.score.tracks if t.role in ("melody", "chords")]
    assert len(voices) == 4
    sop = parts["soprano"] if "soprano" in parts else comp.score.track("melody")
    lower = [t for t in voices if t is not sop]
    parallels = 0
    prev = None
    for chord in comp.score.chords:
        t0 = chord.start + 1e-6
        sounding = [next((n.pitch for n in t.notes if n.start <= t0 < n.end), None) for t in [sop, *lower]]
        if None in sounding:
            continue
        assert sounding == sorted(sounding, reverse=True)  # S >= A >= T >= B: no crossing
        if prev is not None:
            for i, j in itertools.combinations(range(4), 2):
                up_i, up_j = sounding[i] - prev[i], sounding[j] - prev[j]
                old, new = (prev[i] - prev[j]) % 12, (sounding[i] - sounding[j]) % 12
                if up_i * up_j > 0 and new == old and new in (0, 7):  # same direction, perfect to perfect
                    parallels += 1
        prev = sounding
    assert parallels <= 2


def test_swing_moves_off_beats_only_and_inverts() -> None:
    assert swing_time(1.0, 1.0, 0.5) == 1.0
    assert swing_time(1.5, 1.0, 0.5) == pytest.approx(1.5 + 0.5 / 3)  # the last triplet
    assert swing_time(1.5, 0.5, 0.5) == pytest.approx(1.5 + 0.5 / 6)
    for beat in np.arange(0, 8, 0.25):
        assert unswing_time(swing_time(beat, 0.7, 0.25), 0.7, 0.25) == pytest.approx(beat)
    comp = compose(ComposeOptions(style="blues", bars=12, seed=1))
    offbeats = [n.start % 1.0 for n in comp.score.track("drums").notes if n.start % 1.0 > 1e-6]
    assert offbeats and all(abs(x - 2 / 3) < 1e-6 for x in offbeats)  # shuffle: triplet off-beats


def test_strong_beats_per_metre() -> None:
    assert strong_beats(4, 4) == (0.0, 2.0)
    assert strong_beats(3, 4) == (0.0,)
    assert strong_beats(12, 8) == (0.0, 1.5, 3.0, 4.5)


def test_drums_fill_into_new_sections_and_crash() -> None:
    comp = compose(ComposeOptions(style="pop", structure="verse:4 chorus:4", seed=5))
    drums = comp.score.track("drums")
    bar = comp.style.bar_beats
    style = comp.style
    fill_keys = {k for f in style.fills.values() for k in f.lines}

    def bar_hits(b: int) -> set[tuple[float, int]]:
        return {(round(n.start - b * bar, 3), n.pitch) for n in drums.notes if b * bar <= n.start < (b + 1) * bar}

    assert bar_hits(3) != bar_hits(2)  # the verse's last bar is a fill
    assert any(p in (45, 47, 50) or p == 38 for _, p in bar_hits(3)) or fill_keys
    assert (0.0, 49) in bar_hits(4)  # crash on the chorus downbeat


def test_loop_composition_ends_where_it_starts() -> None:
    for style in ("pop", "house"):
        comp = compose(ComposeOptions(style=style, loop=True, bars=8, seed=4))
        end = 8 * comp.style.bar_beats
        for t in comp.score.tracks:
            assert all(n.end <= end + 1e-6 for n in t.notes), t.name  # nothing past the loop point
        assert comp.score.chords[0].chord.root == comp.key.tonic
        assert comp.score.chords[-1].end == pytest.approx(end)
    pop = compose(ComposeOptions(style="pop", loop=True, bars=8, seed=4))
    assert pop.score.chords[-1].chord.root == parse_roman("V", pop.key).root  # leads back to the top


def test_wrap_tail_is_the_steady_state_of_the_loop(rng) -> None:
    length, tail = 1000, 2500
    x = rng.standard_normal((length + tail, 2)).astype(np.float32)
    played = np.zeros((length * 8 + tail, 2), np.float32)
    for k in range(8):  # the loop retriggered every `length` frames, tails overlapping
        played[k * length : k * length + len(x)] += x
    period = wrap_tail(x, length)
    assert period.shape == (length, 2)
    np.testing.assert_allclose(played[5 * length : 6 * length], period, atol=1e-5)
    np.testing.assert_allclose(tile(period, 2)[length:], period)


def test_loop_points_round_trip(tmp_path: Path) -> None:
    import soundfile as sf

    path = tmp_path / "loop.wav"
    audio = np.zeros((4410, 2), np.float32)
    sf.write(str(path), audio, 44100, subtype="PCM_24")
    write_loop_points(path, 0, 4410, 44100)
    assert read_loop_points(path) == [(0, 4410)]
    data, rate = sf.read(str(path))
    assert data.shape == (4410, 2) and rate == 44100  # still a valid WAV
    write_loop_points(path, 10, 400, 44100)  # replaces, not adds
    assert read_loop_points(path) == [(10, 400)]


def test_user_style_folder_and_bad_style_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUNESMITH_STYLES", str(tmp_path))
    text = get_style("pop").path.read_text().replace('name = "pop"', 'name = "mypop"')
    (tmp_path / "mypop.toml").write_text(text.replace("default = 104", "default = 96"))
    assert "mypop" in list_styles()
    assert compose(ComposeOptions(style="mypop", bars=8, seed=1)).tempo == 96
    bad = tmp_path / "broken.toml"
    bad.write_text(text.replace('role = "bass"', 'role = "tuba"'))
    with pytest.raises(StyleError, match=r"broken\.toml.*role"):
        load_style(bad)
    bad.write_text("name = [")
    with pytest.raises(StyleError, match=r"broken\.toml.*TOML"):
        load_style(bad)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ComposeOptions(style="polka"), "unknown style 'polka'; known styles: ambient, blues"),
        (ComposeOptions(chords="C G Hm F"), "--chords: not a chord symbol: 'Hm'"),
        (ComposeOptions(bars=0), "--bars must be 1..1000"),
        (ComposeOptions(tempo=29), "--tempo must be 30..300"),
        (ComposeOptions(tempo=301), "--tempo must be 30..300"),
        (ComposeOptions(structure="verse:600 chorus:401"), "1001 bars long; the most is 1000"),
        (ComposeOptions(structure="verse:8 chorus"), "is not section:bars"),
        (ComposeOptions(key="H"), "--key"),
    ],
)
def test_bad_options_raise_usage_errors(options: ComposeOptions, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(".", r"\.")):
        compose(options)


def test_cli_compose_and_errors(tmp_path: Path) -> None:
    exe = [sys.executable, "-m", "tunesmith.cli"]
    out = tmp_path / "song"
    run = subprocess.run(
        [*exe, "compose", "--style", "jazz", "--bars", "16", "--seed", "9", "-o", str(out), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(run.stdout)
    assert doc["style"] == "jazz" and doc["seed"] == 9 and doc["bars"] == 16
    assert {p.name for p in out.iterdir()} == {
        "song.mid",
        "song.mid.recipe.json",
        "leadsheet.musicxml",
        "leadsheet.musicxml.recipe.json",
    }
    recipe = json.loads((out / "song.mid.recipe.json").read_text())
    assert recipe["seed"] == 9 and recipe["ai_generated"] is True
    score = read_midi(out / "song.mid")
    assert {t.name for t in score.tracks} >= {"melody", "bass", "drums"}
    for args, text in (
        (["--style", "nope"], "unknown style 'nope'; known styles:"),
        (["--chords", "C Xyz"], "--chords"),
        (["--bars", "0"], "--bars must be"),
        (["--tempo", "400"], "--tempo must be"),
        (["--structure", "verse:1001"], "the most is 1000"),
    ):
        bad = tmp_path / "bad"
        r = subprocess.run([*exe, "compose", "-o", str(bad), *args], capture_output=True, text=True)
        assert r.returncode == 2, args
        assert r.stderr.startswith("tunesmith: error:") and text in r.stderr and r.stderr.count("\n") == 1
        assert "Traceback" not in r.stderr and not bad.exists()
    listing = subprocess.run([*exe, "styles", "list", "--json"], capture_output=True, text=True, check=True)
    assert {s["name"] for s in json.loads(listing.stdout)["styles"]} >= REQUIRED


@pytest.mark.parametrize("name", ["pop", "funk", "rock", "lofi"])
def test_bass_locks_to_the_kick(name: str) -> None:
    comp = compose(ComposeOptions(style=name, bars=16, seed=8))
    bar = comp.style.bar_beats
    playing = [
        (s.start_bar * bar, (s.start_bar + s.bars) * bar)
        for s in comp.score.sections
        if "bass" in comp.style.section(s.name).parts
    ]
    kicks = [
        n.start
        for n in comp.score.track("drums").notes
        if n.pitch in (35, 36) and any(a <= n.start < b for a, b in playing)
    ]
    onsets = np.array([n.start for n in comp.score.track("bass").notes])
    assert kicks
    assert all(np.min(np.abs(onsets - k)) <= 0.125 + 1e-9 for k in kicks)
    notes = sorted(comp.score.track("bass").notes)
    assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(notes))  # still one line, no overlaps


def test_generated_midi_says_it_is_ai_generated(tmp_path: Path) -> None:
    import mido

    paths = write_song(compose(ComposeOptions(style="folk", bars=8, seed=5)), tmp_path)
    metas = [m for m in mido.MidiFile(paths["midi"]).tracks[0] if m.type == "copyright"]
    assert metas and "AI-generated" in metas[0].text and "seed 5" in metas[0].text
    assert read_midi(paths["midi"]).track("melody").notes  # readers still read it


# ------------------------------------------------------------------------------ melody writers + guard
@pytest.mark.parametrize("writer", ["model", "rules"])
def test_both_melody_writers_are_guarded_and_recorded(writer: str, tmp_path: Path) -> None:
    from tunesmith.models.originality import COPY_NOTES, longest_overlap

    comp = compose(ComposeOptions(style="pop", bars=16, seed=4, melody=writer))
    melody = comp.score.track("melody")
    found = comp.originality
    assert found["writer"] == writer
    # The recorded overlap is the melody's own, measured again here, and below a copy.
    assert found["max_overlap"] == longest_overlap(list(melody.notes)) < COPY_NOTES
    assert 0 <= found["phrases_redrawn"] <= found["phrases"]
    ids = {m["id"] for m in comp.models}
    assert "originality-index-pop909-folk" in ids
    assert ("melody-gru-pop909-folk" in ids) == (writer == "model")
    paths = write_song(comp, tmp_path)
    recipe = json.loads(Path(str(paths["midi"]) + ".recipe.json").read_text())
    assert recipe["parameters"]["melody"] == writer
    assert recipe["parameters"]["originality"] == found


def test_model_melody_is_deterministic_and_seed_dependent() -> None:
    a = compose(ComposeOptions(style="folk", bars=8, seed=11)).score.track("melody").notes
    b = compose(ComposeOptions(style="folk", bars=8, seed=11)).score.track("melody").notes
    c = compose(ComposeOptions(style="folk", bars=8, seed=12)).score.track("melody").notes
    assert a == b
    assert a != c


def test_unknown_melody_writer_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--melody"):
        compose(ComposeOptions(style="pop", bars=4, melody="markov"))


def test_cli_melody_option(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tunesmith.cli", *args], capture_output=True, text=True)

    ok = run("compose", "--bars", "4", "--seed", "1", "--melody", "rules", "--json", "-o", str(tmp_path / "a"))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["originality"]["writer"] == "rules"
    bad = run("compose", "--bars", "4", "--melody", "markov", "-o", str(tmp_path / "b"))
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "--melody" in bad.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("writer", ["model", "rules"])
def test_swung_melody_is_judged_as_written(writer: str, tmp_path: Path) -> None:
    """With swing the written melody's rhythm differs from the writer's; the guard judges the written
    one, and the recipe records that no note had to be moved to break a copy."""
    from tunesmith.models.originality import COPY_NOTES, longest_overlap

    comp = compose(ComposeOptions(style="blues", bars=12, seed=1, melody=writer))
    assert comp.style.swing > 0
    melody = list(comp.score.track("melody").notes)
    found = comp.originality
    assert found["max_overlap"] == longest_overlap(melody) < COPY_NOTES
    assert found["notes_altered"] == 0
    recipe = json.loads(Path(str(write_song(comp, tmp_path)["midi"]) + ".recipe.json").read_text())
    assert recipe["parameters"]["originality"]["notes_altered"] == 0
