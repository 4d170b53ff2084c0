"""The melody model, its event encoding and the originality guard (shipped weights and index only)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from tunesmith.compose import ComposeOptions, compose
from tunesmith.compose.harmony import Slot
from tunesmith.compose.style import get_style
from tunesmith.models import melody as mm
from tunesmith.models import originality
from tunesmith.models.originality import COPY_NOTES, OriginalityIndex, guard_melody
from tunesmith.score.theory import Chord, Key, parse_roman, strong_beats
from tunesmith.score.types import Note

KEY = Key.parse("G")


def _song(bars: int = 16) -> tuple[list[tuple[str, int, int, float]], list[Slot]]:
    """Two 8-bar sections over I–V–vi–IV in G, plus the closing home bar."""
    chords = [parse_roman(r, KEY) for r in ("I", "V", "vi", "IV")]
    slots = [Slot(4.0 * b, 4.0, chords[b % 4]) for b in range(bars)]
    slots.append(Slot(4.0 * bars, 4.0, chords[0]))
    return [("verse", 0, bars // 2, 0.6), ("chorus", bars // 2, bars // 2, 0.85)], slots


def _chord_at(slots: list[Slot], beat: float) -> Chord:
    return next(s.chord for s in reversed(slots) if s.start <= beat + 1e-9)


def test_weights_and_index_load_within_a_second() -> None:
    t0 = time.perf_counter()
    model = mm.MelodyModel()
    index = OriginalityIndex.load()
    assert time.perf_counter() - t0 < 1.0
    assert model.meta["n_features"] == mm.N_FEATURES
    assert index.meta["tunes"] > 10_000 and index.notes > 900_000


def test_same_seed_same_melody_and_other_seeds_differ() -> None:
    style = get_style("pop")
    spans, slots = _song()
    a = mm.write_melody_model(style, KEY, spans, slots, np.random.default_rng(3), (55, 84))
    b = mm.write_melody_model(style, KEY, spans, slots, np.random.default_rng(3), (55, 84))
    c = mm.write_melody_model(style, KEY, spans, slots, np.random.default_rng(4), (55, 84))
    assert a == b
    assert a != c


@pytest.mark.parametrize("style_name", ["pop", "folk"])
def test_melody_in_range_in_key_and_on_chord_tones(style_name: str) -> None:
    style = get_style(style_name)
    spans, slots = _song()
    lo, hi = max(style.melody_range[0], 55), min(style.melody_range[1], 84)
    report = mm.MelodyReport()
    notes = mm.write_melody_model(style, KEY, spans, slots, np.random.default_rng(7), (55, 84), report=report)
    assert len(notes) >= 3 * 16  # no empty stretches: about three notes a bar or more
    assert all(lo <= n.pitch <= hi for n in notes)
    assert np.mean([KEY.contains(n.pitch) for n in notes]) >= 0.9
    strong = strong_beats(style.numerator, style.denominator)
    on_strong = [n for n in notes if any(abs(n.start % 4.0 - s) < 1e-6 for s in strong)]
    tones = [n.pitch % 12 in _chord_at(slots, n.start).pitch_classes for n in on_strong]
    assert len(on_strong) >= 16 and np.mean(tones) >= 0.75
    # Singable: leaps of an octave at most; nothing overlaps; every phrase ends on a chord tone.
    assert max(abs(a.pitch - b.pitch) for a, b in itertools.pairwise(notes)) <= 12
    assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(notes))
    for end in (16.0, 32.0, 48.0, 64.0):
        last = max((n for n in notes if n.start < end), key=lambda n: n.start)
        assert last.pitch % 12 in _chord_at(slots, last.start).pitch_classes
    assert report.max_overlap < COPY_NOTES and report.phrases == 4


def test_streaming_nll_equals_batch_nll() -> None:
    model = mm.packaged_model()
    rng = np.random.default_rng(0)
    style = get_style("pop")
    spans, slots = _song(8)
    tl = mm.song_timeline(style, KEY, spans, slots, "pop")
    events, _ = mm.write_phrases(
        model,
        tl,
        [(0, 16 * mm.TICKS, "chord", 67.0), (16 * mm.TICKS, 32 * mm.TICKS, "tonic", 67.0)],
        rng,
        55,
        84,
        guard=False,
    )
    onsets = np.array([e[0] for e in events])
    run = mm.Events(np.array([e[1] for e in events]), np.array([e[2] for e in events]), onsets, tl.features(onsets))
    pitch_nll, dur_nll = model.score(run)
    state, prev_p, prev_d = model.start(), mm.BOS_PITCH, mm.BOS_DUR
    stream = []
    for i in range(len(run)):
        logp, state = model.step(state, np.array([prev_p]), np.array([prev_d]), run.features[i : i + 1])
        logd = model.duration_logp(state, np.array([run.pitch[i]]))
        stream.append(-(logp[0, run.pitch[i]] + logd[0, run.dur[i]]))
        prev_p, prev_d = run.pitch[i], run.dur[i]
    assert np.allclose(pitch_nll + dur_nll, stream, atol=1e-4)
    assert np.all(np.isfinite(stream))


def test_events_round_trip_notes_with_rests_and_pickup() -> None:
    style = get_style("folk")
    spans, slots = _song(4)
    tl = mm.song_timeline(style, KEY, spans, slots, "song")
    notes = np.array([[0.0, 1.0, 67], [1.0, 0.5, 69], [1.5, 0.5, 71], [3.0, 1.0, 74], [4.0, 2.0, 71]], dtype=float)
    (run,) = mm.events_from_notes(notes, tl)
    assert run.pitch.tolist() == [mm.pitch_token(p - 7) for p in (67, 69, 71)] + [mm.REST] + [
        mm.pitch_token(p - 7) for p in (74, 71)
    ]
    assert ((run.dur + 1) / mm.TICKS).tolist() == [1.0, 0.5, 0.5, 1.0, 1.0, 2.0]
    back = mm.events_to_notes(tl, list(zip(run.onsets, run.pitch, run.dur, strict=True)))
    assert [(n.start, n.pitch) for n in back] == [(float(a), int(p)) for a, _, p in notes]


def test_index_finds_a_planted_training_tune_at_any_key_and_tempo() -> None:
    from music21 import corpus

    from tunesmith.score.notation import read_score

    index = originality.packaged_index()
    names = set(index.sources)
    # A tune of Ryan's Mammoth (one tune per file) that the model was trained on.
    path = next(
        str(p) for p in sorted(corpus.getComposer("ryansMammoth"), key=str) if f"ryansMammoth/{p.stem}#1" in names
    )
    line = sorted({n.start: n for n in read_score(path).tracks[0].notes}.values(), key=lambda n: n.start)
    assert len(line) > 24
    copied = line[8:20]  # twelve notes from the middle of the tune
    rng = np.random.default_rng(1)
    # Transposed up a fourth, played twice as slow, between two stretches of random notes.
    head = [Note(0.5 * i, 0.5, int(60 + rng.integers(-5, 6))) for i in range(6)]
    middle = [Note(3.0 + 2 * (n.start - copied[0].start), 2 * n.duration, n.pitch + 5) for n in copied]
    tail = [
        Note(middle[-1].start + 2 * (line[20].start - copied[-1].start) + 0.75 * i, 0.5, int(60 + rng.integers(-5, 6)))
        for i in range(6)
    ]
    melody = head + middle + tail
    copies = originality.find_copies(melody)
    assert any(s <= 6 and s + n >= 6 + 12 for s, n in copies), copies
    assert originality.longest_overlap(melody) >= 12
    start, length = next((s, n) for s, n in copies if s <= 6 and s + n >= 18)
    assert any(src.startswith("ryansMammoth/") for src in index.sources_of(melody, start, length))


def test_rule_based_compose_melodies_are_not_copies() -> None:
    for style in ("pop", "folk", "jazz"):
        for seed in (0, 1):
            notes = compose(ComposeOptions(style=style, seed=seed, bars=24)).score.track("melody").notes
            assert originality.longest_overlap(list(notes)) < COPY_NOTES


def test_index_runs_are_exact_against_brute_force() -> None:
    rng = np.random.default_rng(5)

    def tune(n: int) -> np.ndarray:
        on = np.cumsum(rng.choice([0.25, 0.5, 0.75, 1.0, 1.5], size=n))
        return np.stack([on, np.full(n, 0.25), 60 + np.cumsum(rng.integers(-7, 8, size=n))], axis=1)

    base = [tune(int(rng.integers(5, 30))) for _ in range(120)]
    # Repeats across tunes make long runs, longer than one packed key.
    tunes = [(f"t{i}", t) for i, t in enumerate(base)] + [
        (f"r{i}", np.concatenate([base[i][:18], base[i + 1][:8] + np.array([99.0, 0.0, 0.0])])) for i in range(30)
    ]
    index = OriginalityIndex.build(tunes)
    assert index.depth < 10

    def brute(codes: np.ndarray) -> np.ndarray:
        best = np.zeros(len(codes), dtype=int)
        for i in range(len(codes)):
            for p in range(len(index.codes)):
                k = 0
                while (
                    i + k < len(codes)
                    and p + k < len(index.codes)
                    and codes[i + k] > 0
                    and index.codes[p + k] == codes[i + k]
                ):
                    k += 1
                best[i] = max(best[i], k)
        return best

    for trial in range(6):
        src = tunes[int(rng.integers(len(tunes)))][1]
        q = np.concatenate([tune(4), src[:20] + np.array([50.0, 0.0, float(trial)])])
        codes = index.query_codes(q)
        assert np.array_equal(index.runs(codes), brute(codes))


def test_guard_redraws_a_copied_phrase_and_leaves_clean_ones_alone(tmp_path) -> None:
    # A tiny index holding one tune; a writer that plays it in its second phrase on the first draw.
    tune = np.array([[0.5 * i, 0.5, 60 + (0, 2, 4, 5, 7, 9, 7, 5, 4, 2, 0, 4)[i]] for i in range(12)], dtype=float)
    index = OriginalityIndex.build([("planted", tune)])
    path = tmp_path / "index.npz"
    index.save(path)
    index = OriginalityIndex.load(path)
    calls = []

    def write(spans: list[tuple[str, int, int, float]], rng: np.random.Generator) -> list[Note]:
        calls.append(spans)
        out = []
        for _, start, bars, _ in spans:
            for b in range(start, start + bars):
                if b == 5 and len(calls) == 1:  # the copy, on the first draw only
                    out += [Note(4.0 * b + a, d, int(p)) for a, d, p in tune[:8]]
                else:
                    out += [Note(4.0 * b + k, 1.0, int(60 + rng.integers(0, 12))) for k in range(4)]
        return out

    _, report = guard_melody(write, [("verse", 0, 4, 0.5)], np.random.default_rng(0), 4.0, index=index)
    assert report.redraws == 0 and report.max_overlap < COPY_NOTES and len(calls) == 1
    calls.clear()
    rng = np.random.default_rng(0)
    notes, report = guard_melody(write, [("verse", 0, 8, 0.5)], rng, 4.0, index=index)
    assert report.copied_phrases == 1 and report.redraws >= 1 and report.copies_left == 0
    assert report.max_overlap < COPY_NOTES
    assert calls[1] == [("verse", 4, 4, 0.5)]  # only the phrase holding the copy was written again
    assert [n for n in notes if n.start < 16.0] == [n for n in write([("verse", 0, 4, 0.5)], np.random.default_rng(0))]


def test_numpy_model_matches_the_torch_network(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    import importlib.util
    import json
    from pathlib import Path

    from safetensors.torch import save_file

    spec = importlib.util.spec_from_file_location(
        "train_melody", Path(__file__).parents[1] / "scripts" / "train_melody.py"
    )
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    torch.manual_seed(0)
    net = train.build(hidden=24, layers=2, embed_pitch=6, embed_dur=5, embed_choice=4, dur_hidden=7).eval()
    path = tmp_path / "m.safetensors"
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()},
        str(path),
        metadata={"config": json.dumps({"layers": 2})},
    )
    model = mm.MelodyModel(path)
    rng = np.random.default_rng(0)
    n = 30
    run = mm.Events(
        rng.integers(0, mm.N_PITCH, n),
        rng.integers(0, mm.N_DUR, n),
        np.arange(n),
        rng.random((n, mm.N_FEATURES)).astype(np.float32),
    )
    pitch_nll, dur_nll = model.score(run)
    prev_p = torch.tensor(np.concatenate([[mm.BOS_PITCH], run.pitch[:-1]])[None])
    prev_d = torch.tensor(np.concatenate([[mm.BOS_DUR], run.dur[:-1]])[None])
    with torch.no_grad():
        lp, ld = net(prev_p, prev_d, torch.tensor(run.features[None]), torch.tensor(run.pitch[None]))
    want_p = -torch.log_softmax(lp[0], -1)[torch.arange(n), torch.tensor(run.pitch)].numpy()
    want_d = -torch.log_softmax(ld[0], -1)[torch.arange(n), torch.tensor(run.dur)].numpy()
    assert np.allclose(pitch_nll, want_p, atol=1e-4) and np.allclose(dur_nll, want_d, atol=1e-4)
    # The sampler's precomputed path takes the same steps.
    pitch_proj, dur_proj, feat_proj = model.projections(run.features)
    state = model.start()
    for i in range(3):
        p, d = (mm.BOS_PITCH, mm.BOS_DUR) if i == 0 else (run.pitch[i - 1], run.dur[i - 1])
        a, _ = model.step(state, np.array([p]), np.array([d]), run.features[i : i + 1])
        b, state = model.step_projected(state, (pitch_proj[p] + dur_proj[d] + feat_proj[i])[None])
        assert np.allclose(a, b, atol=1e-5)
