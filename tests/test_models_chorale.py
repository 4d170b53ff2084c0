"""The chorale model: its encoding, the shipped weights, and the rules its decoding keeps.

Needs only the shipped weights and music21's corpus (installed with music21), not
``../shared/data``. The piece used is from the validation slice, not the held-out split.
"""

from __future__ import annotations

import importlib.util
import itertools
import time
from pathlib import Path

import numpy as np
import pytest

from tunesmith.errors import UsageError
from tunesmith.models import chorale
from tunesmith.models.chorale import HOLD, ONSET, RANGES, REST, VOICES, ChoraleFrames
from tunesmith.score.theory import Key
from tunesmith.score.types import Note

ROOT = Path(__file__).resolve().parents[1]


def _line(pitches: list[int], beats: list[float], start: float = 0.0) -> list[Note]:
    notes, t = [], start
    for p, d in zip(pitches, beats, strict=True):
        notes.append(Note(t, d, p, 90))
        t += d
    return notes


@pytest.fixture(scope="module")
def piece() -> ChoraleFrames:
    """A four-part chorale from the validation slice (parsed with music21)."""
    for path in chorale.bach_paths("validation"):
        ch = chorale.load_chorale(path)
        if ch is not None:
            return ch
    raise AssertionError("no four-part chorale in the validation slice")


def _soprano(ch: ChoraleFrames) -> list[Note]:
    """The piece's soprano as notes (a note ends at the next onset, pitch change or rest)."""
    p, on = ch.pitches[0], ch.onsets[0]
    notes, start = [], None
    for t in range(ch.frames + 1):
        if start is not None and (t == ch.frames or p[t] < 0 or on[t] or p[t] != p[start]):
            notes.append(Note(start / 4, (t - start) / 4, int(p[start]), 80))
            start = None
        if t < ch.frames and p[t] >= 0 and start is None:
            start = t
    return notes


def _check_rules(voices: dict[str, list[Note]], soprano: list[Note]) -> None:
    """Soprano untouched; lower voices in range, on the grid, no crossing, parallels or wide leaps."""
    assert voices["soprano"] == sorted(soprano)
    origin = np.floor(min(n.start for n in soprano))
    end = max(n.end for v in VOICES for n in voices[v])
    frames = round((end - origin) * 4)
    for v in VOICES[1:]:
        lo, hi = RANGES[v]
        assert voices[v], v
        assert all(lo <= n.pitch <= hi for n in voices[v]), v
        assert all(abs(n.start * 4 - round(n.start * 4)) < 1e-9 and n.duration > 0 for n in voices[v])
        pitches = [n.pitch for n in voices[v]]
        assert max((abs(a - b) for a, b in itertools.pairwise(pitches)), default=0) <= 12, v
    grid = chorale.frames_from_voices(voices, origin, frames)
    assert chorale.crossings(grid) == 0
    assert chorale.parallel_perfects(grid) == 0


# ------------------------------------------------------------------------- encoding


def test_split_is_the_projects() -> None:
    from music21 import corpus

    paths = sorted(Path(p) for p in corpus.getComposer("bach"))
    test, val, train = (set(chorale.bach_paths(s)) for s in ("test", "validation", "train"))
    assert test == {p for i, p in enumerate(paths) if i % 5 == 4}
    assert not (test & val) and not (test & train) and not (val & train)
    assert test | val | train == set(paths)
    with pytest.raises(ValueError):
        chorale.bach_paths("dev")


def test_tokens_tell_repeated_notes_from_ties() -> None:
    pitches = np.array([60, 60, 60, 60, -1, 62, 62, 62])
    onsets = np.array([1, 0, 1, 0, 0, 1, 0, 0], bool)
    tokens = chorale.voice_tokens(pitches, onsets, "alto")
    lo = RANGES["alto"][0]
    assert tokens.tolist() == [ONSET + 60 - lo, HOLD, ONSET + 60 - lo, HOLD, REST, ONSET + 62 - lo, HOLD, HOLD]
    notes = chorale.notes_from_tokens(tokens, "alto", origin=2.0)
    assert [(n.start, n.duration, n.pitch) for n in notes] == [(2.0, 0.5, 60), (2.5, 0.5, 60), (3.25, 0.75, 62)]


def test_soprano_grid_keeps_one_line() -> None:
    # A held note cut by a later one, two notes starting together (the higher is the
    # soprano), a rest, a note shorter than a sixteenth (it still gets one).
    notes = [Note(0, 4, 60), Note(1, 1, 67), Note(1, 0.5, 64), Note(3, 0.1, 65)]
    pitch, onset = chorale.soprano_frames(notes)
    assert pitch.tolist() == [60] * 4 + [67] * 4 + [-1] * 4 + [65]
    assert np.flatnonzero(onset).tolist() == [0, 4, 12]


def test_encoding_of_a_corpus_chorale(piece: ChoraleFrames) -> None:
    assert piece.pitches.shape == (4, piece.frames) and piece.key.mode in ("major", "minor")
    sounding = piece.pitches >= 0
    # Onsets only where a voice sounds; every note starts with one.
    assert not (piece.onsets & ~sounding).any()
    starts = sounding & ~np.concatenate([np.zeros((4, 1), bool), sounding[:, :-1]], axis=1)
    assert (piece.onsets | ~starts).all()
    assert 0 in chorale.transpositions(piece)
    for shift in chorale.transpositions(piece):
        moved = piece.transpose(shift)
        for v in VOICES[1:]:
            p = moved.pitches[VOICES.index(v)]
            lo, hi = RANGES[v]
            assert ((p < 0) | ((p >= lo) & (p <= hi))).all()


def test_parallel_perfects_and_crossings_count() -> None:
    octaves = np.array([[72, 74], [60, 62]])  # both up a step, an octave apart
    fifths = np.array([[67, 69], [60, 62]])
    contrary = np.array([[72, 74], [60, 55]])  # opposite directions
    held = np.array([[72, 74], [60, 60]])
    resting = np.array([[72, 74], [60, -1]])
    assert chorale.parallel_perfects(octaves) == 1
    assert chorale.parallel_perfects(fifths) == 1
    assert chorale.parallel_perfects(np.array([[67, 81], [60, 62]])) == 1  # fifth to twelfth
    assert chorale.parallel_perfects(contrary) == 0
    assert chorale.parallel_perfects(held) == 0
    assert chorale.parallel_perfects(resting) == 0
    assert chorale.crossings(np.array([[72, 72, 72], [60, 74, 60], [50, 50, 62]])) == 2


# -------------------------------------------------------------------------- weights


def test_shipped_weights_load_fast_and_are_small() -> None:
    path = chorale.weights_path()
    assert path.stat().st_size <= 6_000_000
    t0 = time.perf_counter()
    model = chorale.load_model.__wrapped__()
    assert time.perf_counter() - t0 < 1.0
    assert model.meta["seed"] == 0 and model.meta["encoding_version"] == chorale.ENCODING_VERSION
    assert (path.with_name("chorale.card.md")).is_file()


def test_numpy_model_matches_torch(piece: ChoraleFrames) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    spec = importlib.util.spec_from_file_location("train_chorale", ROOT / "scripts" / "train_chorale.py")
    assert spec and spec.loader
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    model = chorale.load_model()
    net = train.ChoraleNet(**model.meta["config"])
    net.load_state_dict({k: v.float() for k, v in load_file(str(chorale.weights_path())).items()})
    net.eval()
    # A shorter excerpt keeps torch's part quick; both sides see the same input.
    piece = ChoraleFrames(piece.name, piece.pitches[:, :160], piece.onsets[:, :160], piece.key, piece.beats_per_bar)
    x, toks, pidx = train.arrays(piece)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny recurrent steps: more threads only wait on each other
    with torch.no_grad():
        logits = net(
            torch.from_numpy(x)[None],
            torch.tensor([len(x)]),
            torch.from_numpy(toks)[None],
            torch.from_numpy(pidx)[None],
        )
    torch.set_num_threads(threads)
    frames = torch.arange(len(x))
    want = sum(torch.log_softmax(lg[0], -1)[frames, torch.from_numpy(toks[i])] for i, lg in enumerate(logits))
    got = model.log_likelihood(piece)
    assert np.allclose(got, want.numpy(), atol=1e-3)


def test_decoding_tables_equal_the_heads(rng: np.random.Generator) -> None:
    model = chorale.load_model()
    h = rng.standard_normal((5, model.decoder.hidden)).astype(np.float32)
    bass = rng.integers(0, chorale.vocab_size("bass"), 5)
    bass_pitch = rng.integers(RANGES["bass"][0], RANGES["bass"][1] + 1, 5)
    width = model._head_width
    first = h @ model._head_h + model._head_b
    pre = first[:, width : 2 * width] + model._lookup("alto", "bass", bass, bass_pitch)
    fast = chorale.nn.log_softmax(model.heads["alto"].out(np.maximum(pre, 0)))
    plain = model.heads["alto"](np.concatenate([h, model.state("bass", bass, bass_pitch)], axis=-1))
    assert np.allclose(fast, plain, atol=1e-4)


# ------------------------------------------------------------------------- decoding


def test_harmonizes_a_bach_soprano_by_the_rules(piece: ChoraleFrames) -> None:
    soprano = _soprano(piece)
    t0 = time.process_time()
    voices = chorale.harmonize_soprano(soprano, piece.key, piece.beats_per_bar)
    assert time.process_time() - t0 < 4.0  # 2 s on an idle core; slack for a busy CI machine
    _check_rules(voices, soprano)
    grid = chorale.frames_from_voices(voices, 0.0, piece.frames)
    active = (piece.pitches >= 0).any(axis=0)
    # Far better than chance (about 1 in 24 per voice): Bach's own notes, and Bach's voices
    # far more likely than a uniform guess (ln(24 * 24 * 31) = 9.8 nats per sixteenth).
    for v in (1, 2, 3):
        assert np.mean(grid[v][active] == piece.pitches[v][active]) > 0.15, VOICES[v]
    assert -chorale.load_model().log_likelihood(piece)[active].mean() < 2.0


def test_harmonizes_a_tune_in_three_four_with_repeats_and_leaps() -> None:
    # A minor tune starting on the last beat of a bar, with repeated notes, a leap of a
    # sixth, a rest and a long final note.
    tune = _line(
        [69, 69, 72, 71, 69, 68, 69, 76, 74, 72, 71, 69],
        [1, 1, 1, 0.5, 0.5, 1, 1, 1, 1, 1, 1, 3],
        start=2.0,
    )
    tune = [*tune[:8], *(Note(n.start + 1, n.duration, n.pitch, n.velocity) for n in tune[8:])]
    voices = chorale.harmonize_soprano(tune, Key(9, "minor"), 3)
    _check_rules(voices, tune)
    assert min(n.start for v in VOICES[1:] for n in voices[v]) >= 2.0  # nothing before the tune


def test_same_seed_same_notes_other_seed_still_lawful() -> None:
    tune = _line([67, 67, 69, 71, 72, 71, 69, 67], [1, 1, 1, 1, 1, 1, 1, 1])
    key = Key(7, "major")
    first = chorale.harmonize_soprano(tune, key, 4, seed=0)
    assert chorale.harmonize_soprano(tune, key, 4, seed=0) == first
    other = chorale.harmonize_soprano(tune, key, 4, seed=3)
    assert chorale.harmonize_soprano(tune, key, 4, seed=3) == other
    _check_rules(other, tune)
    # Modes other than major/minor are read by their third.
    _check_rules(chorale.harmonize_soprano(tune, Key(7, "mixolydian"), 4), tune)


def test_bad_sopranos_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="no notes"):
        chorale.harmonize_soprano([], Key(0), 4)
    with pytest.raises(UsageError, match="between MIDI"):
        chorale.harmonize_soprano(_line([40, 43], [1, 1]), Key(0), 4)
    with pytest.raises(UsageError, match="beats per bar"):
        chorale.harmonize_soprano(_line([72], [1]), Key(0), 0)
