"""What ``tunesmith learn`` learns about metre and note repetition, and how compose uses it.

The musician here plays jigs and reels: four jigs in 6/8 (running eighths in threes) and two
reels in 4/4 (running eighths in fours), each a fiddle line over a guitar's block chords. A
style learned from them must write songs in both metres, in about that proportion, each with
the rhythm cells of its own metre; and its tunes must repeat notes about as often as the
fiddler does (the repeat penalty calibrated at learning time).
"""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tunesmith.score.midi import write_midi
from tunesmith.score.theory import Key, parse_roman
from tunesmith.score.types import Note, Score, TempoChange, TimeSignature, Track

KEY = Key.parse("D")
NUMERALS = ["I", "IV", "I", "V", "I", "IV", "V", "I"]


def tune(seed: int, numerator: int, denominator: int) -> Score:
    """Eight bars of running eighths (a jig in 6/8, a reel in 4/4) over one chord a bar."""
    rng = np.random.default_rng(seed)
    bar = numerator * 4.0 / denominator
    per_bar = round(bar / 0.5)
    scale = [p for p in range(62, 86) if KEY.contains(p)]
    i = scale.index(74)
    melody, chords = [], []
    for b, numeral in enumerate(NUMERALS):
        chord = parse_roman(numeral, KEY)
        t0 = b * bar
        chords += [Note(t0, bar * 0.95, p, 70) for p in range(50, 66) if p % 12 in chord.pitch_classes][:3]
        for k in range(per_bar):
            if k == 0:  # a chord tone on the downbeat, near where the line is
                i = min((j for j, p in enumerate(scale) if p % 12 in chord.pitch_classes), key=lambda j: abs(j - i))
            else:
                i = int(np.clip(i + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(scale) - 1))
            melody.append(Note(t0 + 0.5 * k, 0.45, scale[i], 90))
    return Score(
        (Track("fiddle", tuple(melody), 40), Track("guitar", tuple(chords), 24)),
        (TempoChange(0.0, 110.0),),
        (TimeSignature(0.0, numerator, denominator),),
        title=f"tune {seed}",
    )


@pytest.fixture(scope="module")
def styles_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("styles")


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory, styles_dir: Path) -> tuple:
    """Jigs and reels learned once for the module."""
    folder = tmp_path_factory.mktemp("fiddler")
    for i in range(4):
        write_midi(tune(i, 6, 8), folder / f"jig{i}.mid")
    for i in range(2):
        write_midi(tune(10 + i, 4, 4), folder / f"reel{i}.mid")
    mp = pytest.MonkeyPatch()
    mp.setenv("TUNESMITH_STYLES", str(styles_dir))
    from tunesmith.learn.learn import learn_style

    report = learn_style(folder, "jigs-and-reels", workers=1)
    yield report, styles_dir / "jigs-and-reels"
    mp.undo()


@pytest.fixture
def user_styles(styles_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUNESMITH_STYLES", str(styles_dir))
    return styles_dir


def test_a_folder_of_two_metres_gives_a_style_that_writes_both_in_proportion(learned: tuple, user_styles: Path) -> None:
    from tunesmith.compose import ComposeOptions, compose
    from tunesmith.compose.style import get_style

    _report, folder = learned
    doc = tomllib.loads((folder / "style.toml").read_text())
    assert doc["metre"] == "6/8"  # most bars
    assert doc["metres"]["6/8"]["weight"] == pytest.approx(4 / 6, abs=1e-3)
    assert doc["metres"]["4/4"]["weight"] == pytest.approx(2 / 6, abs=1e-3)
    style = get_style("jigs-and-reels")
    reel = dict((f"{s.numerator}/{s.denominator}", s) for _, s in style.metre_variants)["4/4"]
    # Each metre has the rhythm cells of its own bars: twelve sixteenths in 6/8, sixteen in 4/4.
    assert {len(r) for r in style.melody_rhythms} == {12} and {len(r) for r in reel.melody_rhythms} == {16}
    # Chords last a quarter, half, one or two of the metre's own bars.
    assert set(style.harmonic_rhythm) <= {0.75, 1.5, 3.0, 6.0} and set(reel.harmonic_rhythm) <= {1.0, 2.0, 4.0, 8.0}
    songs = 36
    metres = Counter()
    for seed in range(songs):
        song = compose(ComposeOptions(style="jigs-and-reels", seed=seed, bars=2))
        ts = song.score.time_signatures[0]
        metre = f"{ts.numerator}/{ts.denominator}"
        metres[metre] += 1
        assert song.to_dict()["metre"] == metre
        # The band plays in the song's metre: every chord starts on one of its beats, inside its bars.
        bar = ts.numerator * 4.0 / ts.denominator
        assert song.score.chords[-1].start == pytest.approx(2 * bar)
    assert set(metres) == {"6/8", "4/4"}
    # 36 draws at 2/3: 24 expected, three standard deviations either side.
    assert abs(metres["6/8"] - songs * 4 / 6) <= 3 * np.sqrt(songs * (4 / 6) * (2 / 6))


def test_a_style_of_one_metre_draws_nothing_and_composes_as_before(learned: tuple, user_styles: Path) -> None:
    """Built-in styles have no [metres]: choose_metre leaves them and the random stream untouched."""
    from tunesmith.compose.style import choose_metre, get_style

    pop = get_style("pop")
    rng = np.random.default_rng(5)
    assert choose_metre(pop, rng) is pop and rng.random() == np.random.default_rng(5).random()


MINIMAL = """
name = "two-metres"
tempo = { min = 100, max = 120 }
metre = "6/8"
[harmony]
source = "learned"
[melody]
rhythms = ["x-x-x-x-x-x-"]
[parts.melody]
role = "melody"
[sections.a]
parts = ["melody"]
"""


@pytest.mark.parametrize(
    ("metres", "problem"),
    [
        ('[metres."4/4"]\nweight = 1.0\n', "own metre"),
        ('[metres."6/8"]\nweight = 1.0\n[metres."4/4"]\nweight = 0\n', "weight must be positive"),
        ('[metres."6/8"]\nweight = 1.0\n[metres."4/4"]\nweight = 1.0\nswing = 0.5\n', "unknown entry swing"),
        ('[metres."6/8"]\nweight = 1.0\n[metres."7/3"]\nweight = 1.0\n', "metre must look like"),
        (
            '[metres."6/8"]\nweight = 1.0\n[metres."4/4"]\nweight = 1.0\n[metres."4/4".sections.a]\nparts = ["x"]\n',
            "unknown part",
        ),
        ("[melody.interval_bias]\n13 = 1.0\n", "interval_bias"),
        ("[melody.duration_bias]\n0 = 1.0\n", "duration_bias"),
    ],
)
def test_bad_metres_tables_are_refused_naming_the_entry(tmp_path: Path, metres: str, problem: str) -> None:
    from tunesmith.compose.style import StyleError, load_style

    good = tmp_path / "good.toml"
    good.write_text(MINIMAL + '[metres."6/8"]\nweight = 3\n[metres."2/4"]\nweight = 1\n')
    style = load_style(good)
    assert style.metre_weight == 3 and [(w, s.numerator, s.denominator) for w, s in style.metre_variants] == [(1, 2, 4)]
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL + metres)
    with pytest.raises(StyleError, match=problem):
        load_style(bad)


def test_the_repeat_penalty_makes_the_tunes_repeat_notes_as_the_pieces_do(learned: tuple, user_styles: Path) -> None:
    from tunesmith.compose.style import get_style
    from tunesmith.learn.calibrate import TOLERANCE, composed_repeat_share

    report, folder = learned
    cal = report.adapters["repeat_calibration"]
    assert 0.0 < cal["target"] < 0.5
    # The chosen penalty brings the composed songs at least as close to the fiddler's repeats as none.
    assert abs(cal["after"] - cal["target"]) <= abs(cal["before"] - cal["target"])
    style = get_style("jigs-and-reels")
    assert style.repeat_penalty == pytest.approx(cal["penalty"])
    if abs(cal["before"] - cal["target"]) > TOLERANCE:
        assert cal["penalty"] != 0.0 and cal["tries"] > 1
    # The installed style gives the calibrated share again (same seeds, same songs).
    doc = tomllib.loads((folder / "style.toml").read_text())
    assert composed_repeat_share(doc, folder, cal["penalty"]) == pytest.approx(cal["after"], abs=1e-4)


def test_a_larger_repeat_penalty_gives_fewer_repeated_notes(learned: tuple) -> None:
    """What the calibration's bisection relies on: the share of repeats falls as the penalty rises."""
    from tunesmith.learn.calibrate import composed_repeat_share

    _report, folder = learned
    doc = tomllib.loads((folder / "style.toml").read_text())
    shares = [composed_repeat_share(doc, folder, penalty, songs=6) for penalty in (-2.0, 0.0, 3.0)]
    assert shares[0] > shares[1] > shares[2]
    assert not list(folder.glob("calibrate-*"))  # the trial styles are removed


def test_each_metre_moves_in_the_note_values_of_its_pieces(learned: tuple) -> None:
    """The duration bias fitted per metre: songs in either metre run in the fiddler's eighths (6 ticks)."""
    from tunesmith.learn.calibrate import composed_iois, in_metre

    report, folder = learned
    cal = report.adapters["duration_calibration"]
    assert set(cal) == {"6/8", "4/4"}
    for row in cal.values():
        assert row["distance_after"] < row["distance_before"] and row["distance_after"] < 0.1
    doc = tomllib.loads((folder / "style.toml").read_text())
    assert doc["melody"]["duration_bias"] and doc["metres"]["4/4"]["melody"]["duration_bias"]
    for metre in ("6/8", "4/4"):
        iois = composed_iois(in_metre(doc, metre), folder, songs=4)
        assert iois[6] / sum(iois.values()) > 0.8


def test_the_interval_bias_brings_the_songs_steps_to_the_pieces(learned: tuple) -> None:
    """The fitted interval bias: songs step (and repeat) more like the fiddler than the untouched model does."""
    report, folder = learned
    cal = report.adapters["interval_calibration"]
    assert cal["distance_after"] < cal["distance_before"]
    doc = tomllib.loads((folder / "style.toml").read_text())
    bias = {int(k): v for k, v in doc["melody"]["interval_bias"].items()}
    assert bias and all(-12 <= k <= 12 for k in bias)
