"""``tunesmith learn``: a style learned from a folder of a musician's pieces, and everything that uses it.

The musician here is made up: six short waltzes (3/4, 150 BPM, G major and E minor), each
with a flute melody, a nylon-guitar chord part playing I–IV–V–I-like progressions on the
downbeat, a fingered bass on the roots and a kit with the kick on one and the hi-hat on two
and three. What the style says must be what these files do.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tunesmith.score.midi import write_midi
from tunesmith.score.theory import Key, parse_roman
from tunesmith.score.types import Note, Score, TempoChange, TimeSignature, Track

PROGRESSIONS = {
    "major": ["I", "IV", "V", "I", "vi", "IV", "V", "I"],
    "minor": ["i", "iv", "V", "i", "VI", "iv", "V", "i"],
}


def waltz(seed: int, key: Key, drums: bool = True) -> Score:
    """A 16-bar waltz in ``key``: melody, guitar chords, bass and drums."""
    rng = np.random.default_rng(seed)
    prog = PROGRESSIONS["minor" if key.mode == "minor" else "major"] * 2
    melody, chords, bass, kit = [], [], [], []
    pitch = 67 + key.tonic % 5
    scale = [p for p in range(60, 84) if key.contains(p)]
    for bar, numeral in enumerate(prog):
        chord = parse_roman(numeral, key)
        t = bar * 3.0
        tones = [p for p in range(48, 67) if p % 12 in chord.pitch_classes][:3]
        chords += [Note(t, 2.9, p, 70) for p in tones]
        bass.append(Note(t, 2.8, 36 + (chord.root - 36) % 12, 90))
        # Dotted quarter, eighth, quarter: the waltz's lilt, with chord tones on the downbeat.
        rhythm = [(0.0, 1.5), (1.5, 0.5), (2.0, 1.0)] if bar % 4 != 3 else [(0.0, 3.0)]
        for k, (on, du) in enumerate(rhythm):
            if k == 0:
                pitch = min((p for p in scale if p % 12 in chord.pitch_classes), key=lambda p: abs(p - pitch))
            else:
                i = scale.index(pitch) if pitch in scale else 5
                pitch = scale[int(np.clip(i + rng.choice([-2, -1, 1, 2]), 0, len(scale) - 1))]
            melody.append(Note(t + on, du * 0.95, pitch, 90))
        kit += [Note(t, 0.25, 36, 100), Note(t + 1, 0.25, 42, 80), Note(t + 2, 0.25, 42, 80)]
    tracks = [
        Track("flute melody", tuple(melody), 73),
        Track("guitar", tuple(chords), 24),
        Track("bass", tuple(bass), 33),
    ]
    if drums:
        tracks.append(Track("drums", tuple(kit), 0, True, "drums"))
    return Score(tuple(tracks), (TempoChange(0.0, 150.0),), (TimeSignature(0.0, 3, 4),), title=f"waltz {seed}")


def drum_only(path: Path) -> None:
    kit = [Note(b * 3.0 + k, 0.25, 36 if k == 0 else 42, 90) for b in range(8) for k in range(3)]
    write_midi(Score((Track("kit", tuple(kit), 0, True, "drums"),), (TempoChange(0.0, 150.0),)), path)


@pytest.fixture(scope="module")
def styles_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("styles")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("musician")
    keys = [Key.parse(k) for k in ("G", "G", "Em", "G", "Em", "G")]
    for i, key in enumerate(keys):
        sub = root / ("old" if i % 2 else "new")
        sub.mkdir(exist_ok=True)
        write_midi(waltz(i, key), sub / f"waltz{i}.mid")
    (root / "readme.txt").write_text("not music")
    (root / "broken.mid").write_bytes(b"MThd garbage")
    drum_only(root / "groove.mid")
    return root


@pytest.fixture(scope="module")
def learned(folder: Path, styles_dir: Path) -> tuple:
    """The waltz style, learned once for the module (about five seconds)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TUNESMITH_STYLES", str(styles_dir))
    from tunesmith.learn.learn import learn_style

    report = learn_style(folder, "waltzes", workers=1)
    yield report, styles_dir / "waltzes"
    mp.undo()


@pytest.fixture
def user_styles(styles_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUNESMITH_STYLES", str(styles_dir))
    return styles_dir


# ---------------------------------------------------------------------------------------------- what is learned
def test_the_style_says_what_the_pieces_do(learned: tuple, user_styles: Path) -> None:
    from tunesmith.compose.style import get_style

    report, _folder = learned
    style = get_style("waltzes")
    assert (style.numerator, style.denominator) == (3, 4)
    assert style.tempo_min <= 150 <= style.tempo_max and abs(style.tempo_default - 150) <= 1
    assert style.keys[0] == "G" and "Em" in style.keys
    parts = {p.role: p for p in style.parts}
    assert parts["melody"].program == 73 and parts["chords"].program == 24 and parts["bass"].program == 33
    assert "drums" in parts
    lo, hi = style.melody_range
    assert 60 <= lo < hi <= 84
    # A chord a bar (two where the tune's end and start both sit on the tonic).
    rhythm = Counter(style.harmonic_rhythm)
    assert set(rhythm) <= {3.0, 6.0} and rhythm[3.0] > rhythm[6.0]
    table = style.transitions["major"]
    assert max(table["I"], key=table["I"].get) in ("IV", "vi") and max(table["IV"], key=table["IV"].get) == "V"
    assert table["V"]["I"] == max(table["V"].values())
    # Kick on one, hat on two and three: the groove as played.
    groove = next(iter(style.grooves.values()))
    assert groove.lines["kick"].startswith("x") and groove.lines["hat"] == "....x...x..."
    assert all(len(r) == 12 for r in style.melody_rhythms)
    assert style.melody_rhythms[0].startswith("x-----x-x---")
    assert style.harmony_source == "transitions" and style.melody_tag in ("pop", "song", "dance")
    assert report.pieces == 7 and report.files_used == 7


def test_card_lists_every_source_with_its_hash_and_the_skipped_files(learned: tuple, folder: Path) -> None:
    _report, style_dir = learned
    card = json.loads((style_dir / "card.json").read_text())
    used = {s["path"]: s["sha256"] for s in card["sources"]}
    assert set(used) == {"groove.mid", *(p.relative_to(folder).as_posix() for p in folder.rglob("waltz*.mid"))}
    for rel, digest in used.items():
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == digest
    skipped = {s["path"]: s["reason"] for s in card["skipped"]}
    assert set(skipped) == {"readme.txt", "broken.mid"}
    assert "not a music file" in skipped["readme.txt"] and "MIDI" in skipped["broken.mid"]
    assert any("drums only" in note for s in card["sources"] for note in s.get("notes", []))
    md = (style_dir / "card.md").read_text()
    assert all(digest in md for digest in used.values())
    for name in ("style.toml", "card.json", "originality.npz", "melody_adapter.safetensors"):
        assert (style_dir / f"{name}.recipe.json").is_file()


def test_fine_tuning_stops_early_and_never_does_worse_on_held_out_pieces(learned: tuple) -> None:
    report, style_dir = learned
    heads = {h["head"]: h for h in report.adapters["heads"]}
    assert set(heads) == {"pitch", "duration", "chord"}
    from tunesmith.learn.adapt import MAX_STEPS, PATIENCE

    for h in heads.values():
        assert h["valid_nll_after"] <= h["valid_nll_before"]
        # Stopped when the held-out NLL had not improved for PATIENCE steps (or at the cap).
        assert h["steps"] == MAX_STEPS or h["steps"] - h["best_step"] == PATIENCE
    # The waltz's rhythm is easy to learn: the duration head gains clearly on the held-out pieces.
    assert heads["duration"]["valid_nll_after"] < heads["duration"]["valid_nll_before"] - 0.05
    assert report.adapters["valid_tunes"] >= 1 and report.adapters["train_tunes"] >= 3
    sizes = sum((style_dir / f).stat().st_size for f in ("melody_adapter.safetensors", "chord_adapter.safetensors"))
    assert sizes < 400_000  # small weights


# ---------------------------------------------------------------------------------------------- adapters
def test_an_adapter_is_added_exactly_and_the_default_model_is_untouched(tmp_path: Path) -> None:
    from tunesmith.learn.adapt import save_adapter
    from tunesmith.models.chord import ChordModel, packaged_model
    from tunesmith.models.chord import model_id as chord_id

    base = packaged_model()
    before = base.out.w_t.copy()
    rng = np.random.default_rng(1)
    delta_w = rng.normal(0, 0.1, (121, 192)).astype(np.float32)
    delta_b = rng.normal(0, 0.1, 121).astype(np.float32)
    path = tmp_path / "a.safetensors"
    save_adapter(path, {"out.weight_delta": delta_w, "out.bias_delta": delta_b}, chord_id()["sha256"], {})
    adapted = base.with_adapter(path)
    h = rng.normal(0, 1, (5, 192)).astype(np.float32)
    np.testing.assert_allclose(adapted.out(h), base.out(h) + h @ delta_w.T + delta_b, rtol=1e-5, atol=1e-5)
    assert np.array_equal(base.out.w_t, before) and base.adapter is None
    save_adapter(path, {"out.weight_delta": delta_w, "out.bias_delta": delta_b}, "0" * 64, {})
    from tunesmith.errors import InputFileError

    with pytest.raises(InputFileError, match="another chord model"):
        ChordModel().with_adapter(path)


# ---------------------------------------------------------------------------------------------- using it
def test_compose_in_the_learned_style_is_guarded_against_the_sources(
    learned: tuple, user_styles: Path, folder: Path
) -> None:
    from tunesmith.compose import ComposeOptions, compose
    from tunesmith.learn.piece import top_line
    from tunesmith.models.originality import OriginalityIndex
    from tunesmith.score.midi import read_midi

    _, style_dir = learned
    comp = compose(ComposeOptions(style="waltzes", seed=4, bars=16))
    assert comp.score.time_signatures[0].numerator == 3
    orig = comp.originality
    assert set(orig["max_overlap_by_index"]) == {"training", "style"}
    assert orig["max_overlap_by_index"]["style"] < 8
    ids = {m["id"] for m in comp.models}
    assert {"style-melody-adapter:waltzes", "style-originality-index:waltzes"} <= ids
    melody = next(t for t in comp.score.tracks if t.role == "melody")
    # Checked independently of the stored index: against the source files' melodies themselves.
    sources = [(p.name, top_line(read_midi(p).tracks[0].notes)) for p in sorted(folder.rglob("waltz*.mid"))]
    assert OriginalityIndex.build(sources).longest_overlap(list(melody.notes)) < 8
    assert OriginalityIndex.load(style_dir / "originality.npz").longest_overlap(list(melody.notes)) < 8
    # Same options, same song.
    assert compose(ComposeOptions(style="waltzes", seed=4, bars=16)).score == comp.score


def test_the_guard_redraws_a_melody_that_copies_the_musician(learned: tuple, user_styles: Path, folder: Path) -> None:
    """The rule-based writer copying a source outright is caught by the style's own index."""
    from tunesmith.compose.style import get_style
    from tunesmith.models.originality import guard_melody, index_for_style
    from tunesmith.score.midi import read_midi

    style = get_style("waltzes")
    copied = list(read_midi(folder / "new" / "waltz0.mid").tracks[0].notes)
    index = index_for_style(style)
    assert index.overlaps(copied)["style"] >= 8
    rng = np.random.default_rng(0)

    def write(sections: list, r: np.random.Generator) -> list[Note]:
        # The first draw is the musician's tune; every redraw is something else.
        if r is rng:
            return copied
        return [Note(n.start, n.duration, n.pitch + int(r.integers(-3, 4)), n.velocity) for n in copied]

    notes, report = guard_melody(write, [("a", 0, 16, 0.7)], rng, 3.0, index=index)
    assert report.copied_phrases >= 1 and index.overlaps(notes)["style"] < 8


def test_harmonize_and_accompany_accept_the_learned_style(
    learned: tuple, user_styles: Path, folder: Path, tmp_path: Path
) -> None:
    from tunesmith.compose.harmonize import harmonize

    tune = folder / "new" / "waltz2.mid"
    result = harmonize(tune, "waltzes", seed=1)
    assert "chord-adapter:waltzes" in {m["id"] for m in result.models}
    assert {t.role for t in result.score.tracks} >= {"melody", "chords", "bass"}
    # Offline accompaniment with the style's band.
    out = tmp_path / "band.mid"
    run = subprocess.run(
        [sys.executable, "-m", "tunesmith.cli", "accompany", str(tune), "-o", str(out), "--style", "waltzes", "--json"],
        capture_output=True,
        text=True,
        env=_env(user_styles),
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["style"] == "waltzes" and out.is_file()


def test_accompany_with_the_learned_chord_model_uses_the_style_adapter(
    learned: tuple, user_styles: Path, folder: Path, tmp_path: Path
) -> None:
    """``accompany --chord-model learned --style NAME``: the network carries the style's chord adapter, and
    the band plays other chords than the untouched network would (same tune, same seed)."""
    from tunesmith.accompany.engine import AccompanySettings
    from tunesmith.accompany.offline import accompany_file

    _report, style_dir = learned
    text = (style_dir / "style.toml").read_text()
    assert 'chord_adapter = "chord_adapter.safetensors"' in text
    base = style_dir / "waltzes-no-adapter.toml"  # the same style without its chord adapter
    base.write_text(text.replace('chord_adapter = "chord_adapter.safetensors"', ""))
    try:
        tune = folder / "old" / "waltz3.mid"
        runs = {}
        for name, style in (("adapted", "waltzes"), ("base", str(base))):
            settings = AccompanySettings(style=style, chord_model="learned", seed=3)
            report, _ = accompany_file(tune, tmp_path / f"{name}.mid", settings)
            runs[name] = report
        again, _ = accompany_file(
            tune, tmp_path / "again.mid", AccompanySettings("waltzes", chord_model="learned", seed=3)
        )
    finally:
        base.unlink()
    chords = {k: [(c["beat"], c["chord"]) for c in r.chords] for k, r in runs.items()}
    assert chords["adapted"] and chords["adapted"] != chords["base"]
    assert [(c["beat"], c["chord"]) for c in again.chords] == chords["adapted"]  # deterministic
    ids = {m["id"] for m in runs["adapted"].models}
    assert "chord-adapter:waltzes" in ids and not any("adapter" in m["id"] for m in runs["base"].models)


def test_produce_renders_a_song_in_the_learned_style(learned: tuple, user_styles: Path, tmp_path: Path) -> None:
    from tunesmith.compose import ComposeOptions
    from tunesmith.pipeline import ProduceOptions, produce

    report = produce(ProduceOptions(ComposeOptions(style="waltzes", bars=2, seed=2)), tmp_path / "song")
    assert report.to_dict()["song"]["style"] == "waltzes"
    assert (tmp_path / "song" / "master.wav").is_file()


def test_audio_recordings_are_transcribed_with_audio_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--audio``: a played tune (a tone with harmonics) goes through tunesmith.voice; without it, it is listed."""
    import soundfile as sf

    from tunesmith.learn.learn import learn_style
    from tunesmith.learn.read import voice_available

    if not voice_available():
        pytest.skip("tunesmith.voice is not installed")
    monkeypatch.setenv("TUNESMITH_STYLES", str(tmp_path / "styles"))
    src = tmp_path / "src"
    src.mkdir()
    sr, tone = 22_050, []
    pitches = [67, 69, 71, 72, 74, 72, 71, 69, 67, 71]
    for pitch in pitches:
        t = np.arange(int(0.35 * sr)) / sr
        f = 440.0 * 2 ** ((pitch - 69) / 12)
        env = np.minimum(1, t / 0.02) * np.minimum(1, (0.35 - t) / 0.05)
        tone += [0.3 * env * (np.sin(2 * np.pi * f * t) + 0.4 * np.sin(4 * np.pi * f * t)), np.zeros(sr // 20)]
    sf.write(src / "played.wav", np.concatenate(tone).astype(np.float32), sr)
    write_midi(waltz(1, Key.parse("G")), src / "w.mid")
    without = learn_style(src, "no-audio", workers=1)
    assert [s["path"] for s in without.skipped] == ["played.wav"] and "--audio" in without.skipped[0]["reason"]
    report = learn_style(src, "with-audio", audio=True, workers=1)
    assert report.pieces == 2 and not report.skipped
    card = json.loads((tmp_path / "styles" / "with-audio" / "card.json").read_text())
    assert "played.wav" in {s["path"] for s in card["sources"]}


# ---------------------------------------------------------------------------------------------- CLI and bad input
def _env(styles: Path) -> dict[str, str]:
    import os

    return {**os.environ, "TUNESMITH_STYLES": str(styles)}


def _cli(styles: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tunesmith.cli", *args], capture_output=True, text=True, env=_env(styles)
    )


def test_cli_learn_json_list_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from tunesmith.cli import app

    styles = tmp_path / "styles"
    monkeypatch.setenv("TUNESMITH_STYLES", str(styles))
    one = tmp_path / "one"
    one.mkdir()
    write_midi(waltz(9, Key.parse("D")), one / "only.mid")
    runner = CliRunner()
    run = runner.invoke(app, ["learn", str(one), "--name", "solo-waltz", "--json"])
    assert run.exit_code == 0, run.output
    doc = json.loads(run.stdout)  # exactly one JSON document
    assert doc["pieces"] == 1 and any("too little" in w for w in doc["warnings"])
    assert doc["adapters"]["skipped"]  # nothing to hold out: not fine-tuned
    assert tomllib.loads((styles / "solo-waltz" / "style.toml").read_text())["metre"] == "3/4"
    listing = json.loads(runner.invoke(app, ["styles", "list", "--json"]).stdout)
    assert any(s["name"] == "solo-waltz" and not s["builtin"] for s in listing["styles"])
    removed = runner.invoke(app, ["styles", "remove", "solo-waltz", "--json"])
    assert removed.exit_code == 0 and json.loads(removed.stdout)["removed"] == "solo-waltz"
    assert not (styles / "solo-waltz").exists()


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    """A taken name, a built-in name, a missing folder: one line on stderr, exit 2 or 1, nothing written."""
    styles = tmp_path / "styles"
    (styles / "mine").mkdir(parents=True)
    (styles / "mine" / "style.toml").write_text(
        (Path(__file__).parents[1] / "src/tunesmith/compose/styles/folk.toml").read_text()
    )
    script = (
        "import sys; from tunesmith.cli import main; "
        "cases = [['learn', sys.argv[1], '--name', 'mine'], ['learn', sys.argv[1], '--name', 'pop'], "
        "['learn', sys.argv[1] + '/missing', '--name', 'x'], ['styles', 'remove', 'pop']]\n"
        "for args in cases:\n"
        "    sys.argv = ['tunesmith', *args]\n"
        "    try:\n        main()\n    except SystemExit as e:\n        print('exit', e.code, file=sys.stderr)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, env=_env(styles)
    )
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 8, run.stderr
    (taken, e1), (builtin, e2), (missing, e3), (remove, e4) = zip(lines[::2], lines[1::2], strict=True)
    assert "--force" in taken and e1 == "exit 2"
    assert "built-in" in builtin and e2 == "exit 2"
    assert missing.startswith("tunesmith: error: ") and "no such folder" in missing and e3 == "exit 1"
    assert "built-in" in remove and e4 == "exit 2"
    assert sorted(p.name for p in styles.iterdir()) == ["mine"]


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({}, "no music files"),
        ({"a.txt": b"hello", "b.pdf": b"%PDF"}, "no music files"),
        ({"bad.mid": b"MThd junk"}, "could be read as music"),
        ({"drums.mid": None}, "only drum parts"),
    ],
)
def test_bad_folders_fail_in_one_line_and_leave_nothing(tmp_path: Path, files: dict, problem: str) -> None:
    from tunesmith.errors import InputFileError
    from tunesmith.learn.learn import learn_style

    src = tmp_path / "src"
    src.mkdir()
    for name, data in files.items():
        if data is None:
            drum_only(src / name)
        else:
            (src / name).write_bytes(data)
    mp = pytest.MonkeyPatch()
    mp.setenv("TUNESMITH_STYLES", str(tmp_path / "styles"))
    try:
        with pytest.raises(InputFileError, match=problem) as err:
            learn_style(src, "nothing", workers=1)
    finally:
        mp.undo()
    assert "\n" not in str(err.value) and str(src) in str(err.value)
    assert not (tmp_path / "styles" / "nothing").exists()
    assert not any((tmp_path / "styles").rglob("style.toml")) if (tmp_path / "styles").exists() else True


# ---------------------------------------------------------------------------------------------- parts
def test_chords_are_recognised_from_block_chords() -> None:
    from tunesmith.learn.chords import recognise_chords
    from tunesmith.learn.piece import chord_of

    key = Key(0)
    notes = []
    for bar, symbol in enumerate(["C", "F", "G7", "Am", "Dm7", "G", "C", "C"]):
        from tunesmith.score.theory import parse_chord

        chord = parse_chord(symbol)
        for pc in chord.pitch_classes:
            notes.append([bar * 4.0, 3.9, 48 + pc])
        notes.append([bar * 4.0 + 1, 0.5, 72 + (chord.pitch_classes[1] if bar % 2 else 2)])  # a passing note
    rows = recognise_chords(np.array(notes), 4.0, 4, 4, key)
    names = [chord_of(r).symbol() for r in rows]
    assert names == ["C", "F", "G7", "Am", "Dm7", "G", "C"]
    assert rows[-1][1] == 32.0


def test_a_played_midi_file_in_one_four_is_put_back_on_its_bars() -> None:
    """Performance MIDI (POP909's kind): a 1/4 metre and every note 0.37 beats late."""
    from tunesmith.learn.piece import bar_grid

    notes, chords = [], []
    for bar in range(16):
        t = 2.0 + bar * 4 + 0.37  # the music starts on beat 2, played late
        notes += [Note(t + k, 0.9, 60 + 2 * k, 80) for k in range(4)]
        chords += [Note(t, 3.9, p + (5 if bar % 2 else 0), 70) for p in (48, 52, 55)]
    score = Score((Track("m", tuple(notes)), Track("c", tuple(chords))), time_signatures=(TimeSignature(0, 1, 4),))
    num, den, phase = bar_grid(score, None, midi=True)
    assert (num, den) == (4, 4) and abs(phase - 2.37) < 0.03


def test_stats_stay_bounded_however_many_pieces(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000-file folders: counters are pruned and only a fixed sample of melodies is kept."""
    from tunesmith.learn import stats as st
    from tunesmith.learn.learn import Reservoir
    from tunesmith.learn.piece import Piece

    monkeypatch.setattr(st, "COUNTER_LIMIT", 256)
    stats, reservoir = st.StyleStats(), Reservoir(size=50, notes=10_000)
    for i in range(3000):
        melody = np.stack([np.arange(16.0), np.full(16, 0.9), rng.integers(60, 80, 16)], axis=1)
        piece = Piece(f"p{i}", 120.0, 4, 4, Key(int(rng.integers(12))), melody, False, 4, np.zeros((0, 4)), "solo")
        piece.melody_cells = Counter({"".join(rng.choice(["x", "-", "."], 16)): 1 for _ in range(4)})
        piece.form = ("".join(rng.choice(list("abcd"), 4)) + str(i), 4)
        stats.add(piece)
        reservoir.add(piece)
    assert len(stats.melody_cells["4/4"]) <= st.COUNTER_LIMIT and len(stats.forms) <= st.COUNTER_LIMIT
    assert len(reservoir.items) == 50 and reservoir.seen == 3000
    # The sample spans the stream, not just its start.
    assert max(int(p.source[1:]) for p in reservoir.items) > 1500
    assert len(stats.keys) <= 12 and sum(stats.keys.values()) == 3000


def test_toml_writer_round_trips() -> None:
    from tunesmith.learn.toml_out import dumps

    doc = {
        "name": "x",
        "tempo": {"min": 80, "max": 120.5, "default": 100},
        "keys": ["C", "F#m"],
        "chromatic": False,
        "harmony": {"rhythm": [4.0, 2.0], "transitions": {"major": {"start": {"I": 2}, "#ivø7": {"V": 1}}}},
        "parts": {"lead": {"role": "melody", "range": [60, 79]}},
    }
    assert tomllib.loads(dumps(doc, {"": "hello", "harmony": "chords"})) == doc
